"""A genuine callback is handled, or kept: never acknowledged and lost.

Every webhook (and Telegram's long polling) hands its raw body to `receive`. What cannot be
handled now (the database refused, any unexpected error) is stored as a PendingUpdate and
handled again by `pending_retry_due` (beat, every TACT_SWEEP_SECONDS) through the same
handler; the handlers' keys (inbound.first_time) make a second pass change only what the
first did not. A body that is not the platform's format can never be handled: it is logged
and dropped. Only when even keeping it fails does the platform get an error, and retries.

A callback to a sender account of its own (/webhooks/<platform>/<slug>/) is handled for that
account, and kept with it: PendingUpdate.platform is then "<platform>:<account id>".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DataError, transaction
from django.utils import timezone

from campaigns.logs import reason
from campaigns.rules import AddressError
from campaigns.services import ServiceError

from . import inbound
from .models import PendingUpdate

if TYPE_CHECKING:
    from campaigns.models import SenderAccount

log = logging.getLogger(__name__)

# A handler reads one parsed body sent to a sender account (None: the platform's default
# account), changes what it says, and returns the JSON to answer the platform with (None:
# an empty 200): handler(data, account=account). It raises Malformed for what can never be
# handled.
Handler = Callable[..., dict | None]
# Refusals that no retry can change: the callback's data is not allowed (an address that is
# no phone number, a value longer than its column or out of its range: DataError, ...).
# Logged like a malformed item, never kept to be retried.
REFUSED = (inbound.Malformed, ServiceError, AddressError, DataError, OverflowError)


class NotKept(Exception):
    """The callback could be neither handled nor kept: the platform must send it again."""


class NotAllHandled(Exception):
    """Some items of a batch failed for a reason that may pass; the others were handled."""


def handler_for(platform: str) -> Handler:
    """The function that handles the platform's callbacks (also when they were kept)."""
    if platform == "telegram":
        from .telegram_bot import handle

        return handle
    from . import webhooks

    return {"whatsapp": webhooks.whatsapp_handle, "viber": webhooks.viber_handle}[platform]


def each_item(platform: str, items: list[tuple[str, Callable[[], None]]]) -> None:
    """Handle the items of one batch each on its own (each handler commits or rolls back
    its own transaction), so that one bad item never drops the opt-outs after it."""
    failures: list[str] = []
    for what, handle in items:
        try:
            handle()
        except REFUSED as exc:
            log.warning("%s %s skipped, it can never be handled: %s", platform, what, reason(exc))
        except Exception as exc:
            log.exception("%s %s not handled now", platform, what)
            failures.append(f"{what}: {exc!r}")
    if failures:
        raise NotAllHandled("; ".join(failures))


def kept_as(platform: str, account: SenderAccount | None) -> str:
    """PendingUpdate.platform for a callback to `account`: "telegram", or "telegram:<id>"."""
    return platform if account is None else f"{platform}:{account.pk}"


def kept_for(kept: str) -> tuple[str, int | None]:
    """(platform, account id or None) of a PendingUpdate.platform."""
    platform, _, account_id = kept.partition(":")
    return platform, int(account_id) if account_id else None


def receive(platform: str, body: bytes, account: SenderAccount | None = None) -> dict | None:
    """Handle a genuine callback to `account` (None: the platform's default account) now, or
    keep it to handle later; the JSON to answer with. Raises NotKept when it could be
    neither (answer 503)."""
    try:
        return handler_for(platform)(inbound.parse(body), account=account)
    except REFUSED as exc:
        log.warning("%s callback dropped, it can never be handled: %s (%s bytes)", platform, reason(exc), len(body))
        return None
    except Exception as exc:
        log.exception("%s callback not handled now; keeping it", platform)
        try:
            keep(platform, body, error=repr(exc), account=account)
        except Exception as keep_exc:
            log.exception("%s callback could not be kept either", platform)
            raise NotKept(repr(keep_exc)) from exc
        return None


def retry_delay(attempts: int) -> timedelta:
    """How long a kept callback waits after `attempts` failed retries: doubling, capped."""
    base = settings.TACT_PENDING_RETRY_SECONDS
    return timedelta(seconds=min(base * 2 ** min(attempts, 20), settings.TACT_PENDING_RETRY_MAX_SECONDS))


def keep(platform: str, body: bytes, *, error: str, account: SenderAccount | None = None) -> PendingUpdate:
    return PendingUpdate.objects.create(platform=kept_as(platform, account), body=body,
                                        error=inbound.clean(error[:2000]),
                                        next_try_at=timezone.now() + retry_delay(0))


def pending_retry_due(*, now: datetime, limit: int = 200) -> int:
    """Handle the kept callbacks due by `now`, oldest first: delete each one handled (or
    found malformed), push the others back. Returns how many were deleted."""
    done = 0
    for _ in range(limit):
        with transaction.atomic():
            # SKIP LOCKED: two sweeps at once never handle the same callback together.
            row = (PendingUpdate.objects.select_for_update(skip_locked=True)
                   .filter(next_try_at__lte=now).order_by("next_try_at", "id").first())
            if row is None:
                break
            platform, account_id = kept_for(row.platform)
            try:
                account = None
                if account_id is not None:
                    from campaigns.models import SenderAccount

                    account = SenderAccount.objects.filter(pk=account_id).first()
                    if account is None:  # deleted: it has no subscription left to change
                        raise inbound.Malformed(f"sender account {account_id} no longer exists")
                # Each handler commits its items in savepoints of its own: the items of a
                # batch that were handled stay handled when another one fails.
                handler_for(platform)(inbound.parse(bytes(row.body)), account=account)
            except REFUSED as exc:
                log.warning("kept %s callback %s dropped, it can never be handled: %s", row.platform, row.pk,
                            reason(exc))
            except Exception as exc:
                log.exception("kept %s callback %s not handled (attempt %s)", row.platform, row.pk, row.attempts + 1)
                row.attempts += 1
                row.error = inbound.clean(repr(exc)[:2000])
                row.next_try_at = timezone.now() + retry_delay(row.attempts)
                row.save(update_fields=["attempts", "error", "next_try_at"])
                continue
            row.delete()
            done += 1
    return done
