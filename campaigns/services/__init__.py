"""Writes with side effects, by concern. Every consent change and campaign transition goes
through here (shared/STYLE.md: `<entity>_<action>`, keyword-only)."""

from .audience import subscription_add, tags_set
from .campaigns import (
    CANCELLABLE,
    campaign_approve,
    campaign_cancel,
    campaign_duplicate,
    campaign_pause,
    campaign_problems,
    campaign_reject,
    campaign_resume,
    campaign_schedule,
    campaigns_withdraw_approval,
)
from .consent import (
    EVERY_ACCOUNT,
    WITHDRAWN,
    Change,
    Consent,
    last_consent_event,
    note_inbound,
    opt_out_address,
    person_opt_in,
    person_opt_out,
    subscription_opt_in,
    subscription_opt_out,
)
from .content import content_checks, content_problems
from .errors import ServiceError

__all__ = [
    "CANCELLABLE", "EVERY_ACCOUNT", "WITHDRAWN", "Change", "Consent", "ServiceError", "campaign_approve", "campaign_cancel",
    "campaign_duplicate", "campaign_pause", "campaign_problems", "campaign_reject", "campaign_resume",
    "campaign_schedule",
    "campaigns_withdraw_approval", "content_checks", "content_problems",
    "last_consent_event", "note_inbound", "opt_out_address", "person_opt_in", "person_opt_out",
    "subscription_add", "subscription_opt_in", "subscription_opt_out", "tags_set",
]
