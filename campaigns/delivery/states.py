"""The ledger's states and the only transitions allowed between them, in one place.

    planned  -> sending (claimed), held (cap, quiet hours), skipped (opted out, expired,
                cancelled, segment left), sent (a manual campaign's list marked sent by hand)
    held     -> sending, held, skipped, sent
    sending  -> sent, failed, uncertain (no answer), planned (not taken: rate limit, our
                account refused, a connect error), held (the person is limited for now),
                skipped (opted out or paused just before the call)
    sent     -> delivered, read, failed (reported later), held (WhatsApp 131049, later)
    uncertain-> sent/delivered/read (a receipt proves it went), failed, held, planned (resent
                only when the marketer asks and confirms: services/follow_ups.py)
    failed   -> planned (a temporary failure resent when the marketer asks)
    delivered-> read
"""

from __future__ import annotations

from ..models import Delivery

S = Delivery.Status

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLANNED: frozenset({S.SENDING, S.HELD, S.SKIPPED, S.SENT}),
    S.HELD: frozenset({S.SENDING, S.HELD, S.SKIPPED, S.SENT}),
    S.SENDING: frozenset({S.SENT, S.FAILED, S.UNCERTAIN, S.PLANNED, S.HELD, S.SKIPPED}),
    S.SENT: frozenset({S.DELIVERED, S.READ, S.FAILED, S.HELD}),
    S.UNCERTAIN: frozenset({S.SENT, S.DELIVERED, S.READ, S.FAILED, S.HELD, S.PLANNED}),
    S.DELIVERED: frozenset({S.READ}),
    S.READ: frozenset(),
    S.FAILED: frozenset({S.PLANNED}),
    S.SKIPPED: frozenset(),
}

# Waiting for their time: the rows a sender may claim.
PENDING = (S.PLANNED, S.HELD)
# Rows that count against a person's frequency cap: sent, or possibly sent.
COUNTED = (S.SENDING, S.SENT, S.DELIVERED, S.READ, S.UNCERTAIN)


def sources_of(target: str) -> list[str]:
    """The states from which a row may move to `target`."""
    return [source for source, targets in TRANSITIONS.items() if target in targets]


def allowed(source: str, target: str) -> bool:
    return target in TRANSITIONS[source]
