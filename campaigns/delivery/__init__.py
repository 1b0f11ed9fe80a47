"""The delivery engine, one stage a module (shared/DESIGN.md, "How a broadcast flows").

Every state lives in the database (the ledger and its lists); Celery only carries ids,
and Redis may be lost at any time.

    series:    a recurring campaign's due occurrence -> a run (a scheduled campaign), once
               (row lock, SKIP LOCKED, unique per occurrence); the series never sends
    planning:  scheduled -> running (row lock, SKIP LOCKED); the audience -> Delivery rows
               (bulk, unique per person) packed into SendLists by send time; due lists
               enqueued
    sending:   per list, chunk by chunk: claim rows (caps checked under a per-person lock)
               and commit them `sending`; call the platform with the people's
               subscriptions share-locked (an opt-out commits only after the call); record
    receipts:  delivered / read / failed reported later by the platforms
    sweeping:  `sending` rows of a dead worker -> `uncertain`; silent lists re-enqueued
    forecast:  what a campaign would do, before it is scheduled
    states:    the ledger's states and the transitions allowed between them
"""

from .forecast import campaign_forecast
from .planning import campaign_plan, campaigns_start_due, lists_dispatch
from .receipts import apply_early_receipts, delivery_receipt
from .sending import campaign_complete_if_done, list_send, list_settle
from .sweeping import sweep

__all__ = [
    "apply_early_receipts",
    "campaign_complete_if_done",
    "campaign_forecast",
    "campaign_plan",
    "campaigns_start_due",
    "delivery_receipt",
    "list_send",
    "list_settle",
    "lists_dispatch",
    "sweep",
]
