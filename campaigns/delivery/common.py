"""What every stage of the engine shares: the ledger's state groups, zones, the policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from channels.limits import platform_limits

from .. import rules
from ..models import FrequencyPolicy
from .states import COUNTED, PENDING, S  # noqa: F401  (re-exported for the stages)

# A local-time campaign reaches its earliest zone (UTC+14) up to 26 h before send_at.
LOCAL_TIME_LEAD = timedelta(hours=26)
PAGE = 5000
# WhatsApp: free text only within 24 hours of the person's last message; a template otherwise.
WHATSAPP_WINDOW = timedelta(hours=24)


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return rules.parse_timezone(name)
    except ValueError:
        return ZoneInfo("UTC")


def current_policy() -> tuple[rules.FrequencyPolicy, rules.QuietHours | None]:
    policy = FrequencyPolicy.current()
    return policy.as_rule(), policy.quiet_hours()



def packing_size(platform: str) -> int:
    """The platform's list size; where it has none (Telegram), a send batch, so that many
    workers can share one audience."""
    return platform_limits(platform).list_size or settings.TACT_SEND_BATCH



def db_now() -> datetime:
    """The database's clock: every worker judges caps and due times by the same one."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0]
    return timezone.now()
