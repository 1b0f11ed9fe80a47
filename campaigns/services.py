"""Writes with side effects. Every consent change and campaign transition goes through here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels.limits import PLATFORMS, platform_limits

from . import rules, selectors
from .models import Campaign, ConsentEvent, Delivery, Segment, SendList, Subscriber, Subscription, Tag


class ServiceError(Exception):
    """A request the data does not allow; the messages say why, for a person to read.

    `by_field` maps each message to the input field it is about ("" when none is).
    """

    def __init__(self, messages: str | list[str] | dict[str, list[str]]):
        if isinstance(messages, str):
            messages = [messages]
        self.by_field = dict(messages) if isinstance(messages, dict) else {"": list(messages)}
        self.messages = [m for ms in self.by_field.values() for m in ms]
        super().__init__("; ".join(self.messages))


# --- consent ------------------------------------------------------------------------


@dataclass(frozen=True)
class Consent:
    source: str
    text: str = ""
    at: datetime | None = None  # when the person consented; now when not given
    evidence: dict = field(default_factory=dict)


def _record(subscription: Subscription, kind: str, status: str, consent: Consent) -> ConsentEvent:
    return ConsentEvent.objects.create(
        subscription=subscription,
        kind=kind,
        status=status,
        source=consent.source,
        text=consent.text,
        evidence=consent.evidence,
        at=consent.at or timezone.now(),
    )


def last_consent_event(subscription: Subscription) -> ConsentEvent | None:
    return subscription.consent_events.order_by("-id").first()


@transaction.atomic
def subscription_opt_in(*, subscription: Subscription, consent: Consent) -> ConsentEvent | None:
    """Opt the subscription in with a consent record; None when it already was.

    Refuses a consent older than the person's last opt-out: an old CRM record never
    overrides a later "stop".
    """
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status == Subscription.Status.OPTED_IN:
        return None
    last = last_consent_event(subscription)
    if last is not None and consent.at is not None and consent.at < last.at:
        raise ServiceError(
            f"{subscription} was {last.get_status_display()} at {last.at:%Y-%m-%d %H:%M} UTC, "
            f"after this consent ({consent.at:%Y-%m-%d %H:%M} UTC); not opted in again"
        )
    subscription.status = Subscription.Status.OPTED_IN
    subscription.save(update_fields=["status", "updated_at"])
    return _record(subscription, ConsentEvent.Kind.OPT_IN, subscription.status, consent)


@transaction.atomic
def subscription_opt_out(
    *,
    subscription: Subscription,
    consent: Consent,
    status: str = Subscription.Status.OPTED_OUT,
) -> ConsentEvent | None:
    """Stop all messages to this subscription at once; None when it was not opted in.

    Rows of the ledger still waiting to be sent are skipped in the same transaction,
    so a queued message never goes out after the opt-out commits.
    """
    if status == Subscription.Status.OPTED_IN:
        raise ValueError("an opt-out cannot leave the subscription opted in")
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status != Subscription.Status.OPTED_IN:
        return None
    subscription.status = status
    subscription.save(update_fields=["status", "updated_at"])
    Delivery.objects.filter(
        subscription=subscription, status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]
    ).update(status=Delivery.Status.SKIPPED, reason=f"{subscription.get_status_display()} via {consent.source}",
             updated_at=timezone.now())
    return _record(subscription, ConsentEvent.Kind.OPT_OUT, status, consent)


def opt_out_address(
    *, platform: str, address: str, consent: Consent, status: str = Subscription.Status.OPTED_OUT
) -> tuple[Subscription | None, bool]:
    """Opt out whoever has this stored `address` on `platform`: (their subscription or None
    when nobody has it, whether it changed)."""
    subscription = Subscription.objects.filter(platform=platform, address=address).select_related("subscriber").first()
    if subscription is None:
        return None, False
    event = subscription_opt_out(subscription=subscription, consent=consent, status=status)
    subscription.refresh_from_db()
    return subscription, event is not None


# --- audience -----------------------------------------------------------------------


def tags_set(*, subscriber: Subscriber, names: Iterable[str]) -> None:
    wanted = sorted({n.strip() for n in names if n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=n) for n in wanted if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    subscriber.tags.set([existing[n] for n in wanted])


@transaction.atomic
def subscription_add(
    *,
    subscriber: Subscriber,
    platform: str,
    address: str,
    consent: Consent,
    saved_our_number: bool = False,
) -> Subscription:
    """A new opted-in subscription, with the consent that allows it, or ServiceError."""
    normalized = rules.normalize_address(platform, address, settings.TACT_DEFAULT_PHONE_REGION)
    taken = Subscription.objects.filter(platform=platform, address=normalized).select_related("subscriber").first()
    if taken is not None:
        raise ServiceError(f"{platform} address {normalized} already belongs to {taken.subscriber}")
    if subscriber.subscriptions.filter(platform=platform).exists():
        raise ServiceError(f"{subscriber} already has a {platform} subscription")
    subscription = Subscription.objects.create(
        subscriber=subscriber,
        platform=platform,
        address=normalized,
        status=Subscription.Status.OPTED_IN,
        saved_our_number=saved_our_number,
    )
    _record(subscription, ConsentEvent.Kind.OPT_IN, subscription.status, consent)
    return subscription


# --- content ------------------------------------------------------------------------


def content_checks(body: str, platforms: Iterable[str] = PLATFORMS) -> dict[str, dict]:
    """Per platform: what the push notification shows and whether preview and body fit."""
    out: dict[str, dict] = {}
    for platform in platforms:
        limits = platform_limits(platform)
        preview = rules.push_preview(body, limits.preview_length)
        body_check = rules.check_body(body, limits)
        out[platform] = {
            "push": preview.push,
            "shown": preview.shown,
            "length": preview.length,
            "limit": preview.limit,
            "fits": preview.fits,
            "body_length": body_check.length,
            "body_limit": body_check.limit,
            "body_fits": body_check.fits,
        }
    return out


def content_problems(body: str, platforms: Iterable[str]) -> list[str]:
    """Why this body cannot go out on these platforms, one message per problem."""
    problems = []
    if not body.strip():
        problems.append("the message body is empty")
        return problems
    for platform, check in content_checks(body, platforms).items():
        if not check["fits"]:
            problems.append(
                f"{platform}: the push preview (first line) is {check['length']} characters, "
                f"over the limit of {check['limit']}"
            )
        if not check["body_fits"]:
            problems.append(
                f"{platform}: the message is {check['body_length']} characters, "
                f"over the limit of {check['body_limit']}"
            )
    return problems


# --- campaigns ----------------------------------------------------------------------


def campaign_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """Everything that keeps `campaign` from being scheduled now, by field."""
    problems: dict[str, list[str]] = {}
    unknown = [p for p in campaign.platforms if p not in PLATFORMS]
    if not campaign.platforms or unknown:
        problems.setdefault("platforms", []).append(f"choose platforms among {', '.join(PLATFORMS)}")
    if campaign.send_at <= now:
        problems.setdefault("send_at", []).append(
            f"send_at {campaign.send_at:%Y-%m-%d %H:%M} UTC is in the past (now {now:%Y-%m-%d %H:%M} UTC)"
        )
    if campaign.expires_at is not None and campaign.expires_at <= campaign.send_at:
        problems.setdefault("expires_at", []).append("expires_at must be after send_at")
    content = content_problems(campaign.draft.body, [p for p in campaign.platforms if p in PLATFORMS])
    if content:
        problems["draft"] = content
    segment: Segment = campaign.segment
    if segment.max_size is not None:
        size = selectors.segment_size(segment)
        if size > segment.max_size:
            problems["segment"] = [
                f"segment '{segment}' has {size} people, over its max_size of {segment.max_size}"
            ]
    return problems


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """draft -> scheduled, freezing the draft's content; ServiceError says what is wrong."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().select_related("draft", "segment").get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ServiceError(f"only a draft campaign can be scheduled; this one is {campaign.status}")
    problems = campaign_problems(campaign, now=now)
    if problems:
        raise ServiceError(problems)
    draft = campaign.draft
    campaign.content_title = draft.title
    campaign.content_body = draft.body
    campaign.content_buttons = draft.buttons
    campaign.content_whatsapp_template = draft.whatsapp_template
    campaign.status = Campaign.Status.SCHEDULED
    campaign.scheduled_at = now
    campaign.save()
    return campaign


CANCELLABLE = (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING, Campaign.Status.PAUSED)


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Stop a campaign for good: nothing still waiting in its ledger will be sent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in CANCELLABLE:
        raise ServiceError(f"a {campaign.status} campaign cannot be cancelled")
    now = timezone.now()
    campaign.status = Campaign.Status.CANCELLED
    campaign.cancelled_at = now
    campaign.save(update_fields=["status", "cancelled_at", "updated_at"])
    campaign.deliveries.filter(status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]).update(
        status=Delivery.Status.SKIPPED, reason="campaign cancelled", updated_at=now
    )
    campaign.send_lists.exclude(state=SendList.State.DONE).update(state=SendList.State.DONE)
    return campaign


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stop sending within one chunk (a fraction of a second); nothing is lost or resent."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING):
        raise ServiceError(f"a {campaign.status} campaign cannot be paused")
    campaign.status = Campaign.Status.PAUSED
    campaign.paused_at = timezone.now()
    campaign.save(update_fields=["status", "paused_at", "updated_at"])
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    """Continue where it stopped: rows already sent are never sent again."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.PAUSED:
        raise ServiceError(f"only a paused campaign can be resumed; this one is {campaign.status}")
    campaign.status = Campaign.Status.RUNNING if campaign.started_at else Campaign.Status.SCHEDULED
    campaign.paused_at = None
    campaign.save(update_fields=["status", "paused_at", "updated_at"])
    return campaign
