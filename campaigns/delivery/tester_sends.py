"""Test sends: a draft's or a campaign's message, sent at once to the testers' opted-in
subscriptions through the same adapters and the same message builder as a campaign.

Outside every ledger: no Delivery row is written, so no campaign's stats and nobody's
frequency cap count it, and quiet hours are not consulted. It still takes its slots from
the shared rate limiter, so a test never pushes a platform account over its ceiling while
a campaign is sending. Each message is recorded as a TestSend with its outcome.
"""

from __future__ import annotations

import logging
import time as systime
from collections.abc import Sequence
from dataclasses import replace

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.base import (
    ChannelError,
    OutboundMessage,
    Outcome,
    RateLimited,
    RecipientGone,
    Uncertain,
    WindowClosed,
)
from channels.ratelimit import limiter_from_settings
from channels.registry import channel_for

from .. import services
from ..models import (
    Campaign,
    CampaignVariant,
    Draft,
    PlatformChoices,
    Subscriber,
    Subscription,
    TestSend,
)
from .common import WHATSAPP_WINDOW
from .outbound import Content, campaign_content, draft_content, outbound_message, variant_content

log = logging.getLogger(__name__)

PLATFORMS = tuple(PlatformChoices.values)
# A test is sent while the person waits for the answer: a platform that asks us to wait
# longer than this (after a 429) fails the test with the reason instead.
MAX_WAIT = 10.0


def tester_subscriptions(*, platforms: Sequence[str]) -> QuerySet[Subscription]:
    """The opted-in subscriptions of testers on `platforms`, in a stable order."""
    return (
        Subscription.objects.filter(
            subscriber__tester=True, subscriber__erased_at__isnull=True,
            status=Subscription.Status.OPTED_IN, platform__in=list(platforms),
        )
        .select_related("subscriber")
        .order_by("subscriber_id", "platform")
    )


def _platform_names(platforms: Sequence[str]) -> str:
    labels = dict(PlatformChoices.choices)
    return ", ".join(str(labels[p]) for p in platforms)


def _targets(*, platforms: Sequence[str], subscriber_ids: Sequence[int] | None) -> list[Subscription]:
    """Whom the test goes to; refuses (by field) people who are not testers, and an empty set."""
    found = tester_subscriptions(platforms=platforms)
    if subscriber_ids is not None:
        wanted = sorted(set(subscriber_ids))
        testers = set(Subscriber.objects.filter(pk__in=wanted, tester=True, erased_at__isnull=True)
                      .values_list("pk", flat=True))
        strangers = [pk for pk in wanted if pk not in testers]
        if strangers:
            raise services.ServiceError({"subscribers": [
                _("not a tester: subscriber %(ids)s; mark them as testers first")
                % {"ids": ", ".join(f"#{pk}" for pk in strangers)}]})
        found = found.filter(subscriber_id__in=wanted)
    targets = list(found)
    if not targets:
        field = "subscribers" if subscriber_ids is not None else "non_field_errors"
        raise services.ServiceError({field: [
            _("no tester has an opted-in subscription on %(platforms)s; mark a subscriber as a tester "
              "(tester: true) who has one") % {"platforms": _platform_names(platforms)}]})
    return targets


def _content(*, draft: Draft | None, campaign: Campaign | None, variant: CampaignVariant | None = None) -> Content:
    if campaign is None:
        return draft_content(draft)
    if variant is not None:
        return variant_test_content(campaign, variant)
    if campaign.status == Campaign.Status.DRAFT:
        return draft_content(campaign.draft, campaign=campaign)  # not frozen yet: what scheduling would freeze
    return campaign_content(campaign)


def campaign_variant(campaign: Campaign, variant_id: int | None) -> CampaignVariant | None:
    """The variant of `campaign` a test is of (None: the campaign's own message); ServiceError
    naming `variant` for one of another campaign."""
    if variant_id is None:
        return None
    found = CampaignVariant.objects.select_related("segment", "draft").filter(pk=variant_id, campaign=campaign).first()
    if found is None:
        raise services.ServiceError({"variant": [_("no variant #%(id)s in this campaign") % {"id": variant_id}]})
    found.campaign = campaign
    return found


def variant_test_content(campaign: Campaign, variant: CampaignVariant) -> Content:
    """What the variant's people receive: its frozen content once scheduled, else its draft's
    now (with its VIP group's name and size), under the campaign's name."""
    if campaign.status != Campaign.Status.DRAFT:
        return variant_content(variant)
    group = variant_content(variant)  # the group's name and size, as the campaign fills them in
    return replace(draft_content(variant.draft, campaign=campaign), group_name=group.group_name,
                   group_size=group.group_size)


def testers_send(*, draft: Draft | None = None, campaign: Campaign | None = None,
                 platforms: Sequence[str] | None = None, subscriber_ids: Sequence[int] | None = None,
                 actor: AbstractBaseUser | None = None, variant_id: int | None = None) -> list[TestSend]:
    """Send the draft's (or the campaign's, or one of its variants') message now to the
    testers' opted-in subscriptions on `platforms` (default: the campaign's platforms, or all
    for a draft), or only to the testers `subscriber_ids`; returns one recorded TestSend per message."""
    if (draft is None) == (campaign is None):
        raise ValueError("a test send is of a draft or of a campaign")
    if variant_id is not None and campaign is None:
        raise services.ServiceError({"variant": [_("a draft has no variants; test the campaign instead")]})
    variant = campaign_variant(campaign, variant_id) if campaign is not None else None
    if platforms is None:
        platforms = [p for p in PLATFORMS if p in campaign.platforms] if campaign is not None else list(PLATFORMS)
    platforms = [p for p in PLATFORMS if p in platforms]
    targets = _targets(platforms=platforms, subscriber_ids=subscriber_ids)
    content = _content(draft=draft, campaign=campaign, variant=variant)
    now = timezone.now()
    made: list[TestSend] = []
    for platform in platforms:
        mine = [s for s in targets if s.platform == platform]
        if not mine:
            continue
        messages = [
            outbound_message(
                content, delivery_id=None, subscription=s, subscriber=s.subscriber,
                window_open=s.last_inbound_at is not None and s.last_inbound_at >= now - WHATSAPP_WINDOW,
            )
            for s in mine
        ]
        outcomes = _send(platform, mine, messages)
        for subscription, message, outcome in zip(mine, messages, outcomes, strict=True):
            made.append(_record(subscription, message, outcome, draft=draft, campaign=campaign, actor=actor))
    return made


def _send(platform: str, subscriptions: list[Subscription], messages: list[OutboundMessage]) -> list[Outcome]:
    """One message a call (a test reaches a handful of people), each after its rate-limiter slot."""
    channel = channel_for(platform, max_in_flight=1)
    rate = None if channel.sandbox else settings.TACT_RATE.get(platform)
    limiter = limiter_from_settings() if rate else None
    key = f"tact:rate:{platform}"
    try:
        session = channel.open()
    except Exception as exc:  # noqa: BLE001  the platform is down or refuses our credentials
        reason = exc.reason if isinstance(exc, ChannelError) else repr(exc)
        error = ChannelError(_("cannot connect to %(platform)s: %(reason)s") % {"platform": platform, "reason": reason})
        return [Outcome(None, error=error) for _m in messages]
    outcomes: list[Outcome] = []
    try:
        for subscription, message in zip(subscriptions, messages, strict=True):
            if limiter is not None:
                wait = limiter.reserve(key, 1, rate)
                if wait > MAX_WAIT:
                    outcomes.append(Outcome(None, error=ChannelError(
                        _("%(platform)s asked us to slow down; try again in %(seconds)s s")
                        % {"platform": platform, "seconds": round(wait)})))
                    continue
                systime.sleep(wait)
            outcome = _send_locked(session, subscription, message)
            if isinstance(outcome.error, RateLimited) and not outcome.error.per_recipient and limiter is not None:
                limiter.block(key, outcome.error.retry_after)
            outcomes.append(outcome)
    finally:
        session.close()
    return outcomes


def _send_locked(session, subscription: Subscription, message: OutboundMessage) -> Outcome:
    """Call the platform with the subscription share-locked: an opt-out commits either before
    we look (nothing is sent) or after the call returned, as in the engine."""
    locking = connection.vendor == "postgresql"
    with transaction.atomic():
        if locking:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM campaigns_subscription WHERE id = %s AND status = 'opted_in' FOR SHARE",
                               [subscription.pk])
                still_in = cursor.fetchone() is not None
        else:
            still_in = Subscription.objects.filter(pk=subscription.pk, status=Subscription.Status.OPTED_IN).exists()
        if not still_in:
            return Outcome(None, error=ChannelError(_("opted out just before sending")))
        try:
            [outcome] = session.send([message])
        except Exception as exc:  # noqa: BLE001  we cannot know what the platform took
            log.exception("a test send to subscription %s failed without an outcome", subscription.pk)
            return Outcome(None, error=Uncertain(_("the send failed without an answer: %(error)r") % {"error": exc}))
    return outcome


def _record(subscription: Subscription, message: OutboundMessage, outcome: Outcome, *, draft: Draft | None,
            campaign: Campaign | None, actor: AbstractBaseUser | None) -> TestSend:
    error = outcome.error
    if error is None:
        status, reason = TestSend.Status.SENT, ""
    elif isinstance(error, Uncertain):
        status, reason = TestSend.Status.UNCERTAIN, error.reason
    else:
        status, reason = TestSend.Status.FAILED, error.reason
        if isinstance(error, WindowClosed):
            reason = _("%(reason)s; outside the 24-hour window WhatsApp needs the draft's approved template") % {
                "reason": reason}
    row = TestSend.objects.create(
        draft=draft, campaign=campaign, subscription=subscription,
        platform=subscription.platform, status=status, reason=reason[:2000],
        platform_message_id=outcome.platform_message_id if error is None else "", text=message.text,
        requested_by=actor if actor is not None and actor.is_authenticated else None,
    )
    if isinstance(error, WindowClosed):  # WhatsApp's word wins over our record of the window
        Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=timezone.now() - WHATSAPP_WINDOW)
    if isinstance(error, RecipientGone):  # the platform says this person is gone: as after a campaign's send
        services.subscription_opt_out(
            subscription=subscription, status=error.status,
            consent=services.Consent(source=f"{subscription.platform}:test_send", text=error.reason,
                                     evidence={"error": error.reason}, by_person=error.status in services.WITHDRAWN),
        )
    return row
