"""Consent has one home: every opt-in, opt-out and suppression of a subscription goes
through here, with an append-only ConsentEvent in the same transaction.

The person decides: after their own withdrawal (a stop command, blocking the bot, a
platform's "stop promotions"), only their own opt-in brings them back; an import, the API
or the admin cannot. A delivery bounce is a suppression, not a withdrawal of consent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from auditlog.context import disable_auditlog
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .. import fatigue, logs, rules
from ..account_filters import of_account, of_any_account
from ..audit import audit_record
from ..models import ConsentEvent, Delivery, SenderAccount, Subscriber, Subscription
from .errors import ServiceError

log = logging.getLogger(__name__)


class _EveryAccount:
    def __repr__(self) -> str:
        return "EVERY_ACCOUNT"


# opt_out_address(account=EVERY_ACCOUNT), its default: the address on every sender account
# of the platform (the brand's "stop" by address, from the API or an operator). A person's own
# stop names the account they wrote to: consent is per account (a STOP to one bot is not a
# STOP to another brand's bot).
EVERY_ACCOUNT = _EveryAccount()

# Statuses that mean the person withdrew consent (as opposed to `unreachable`, a bounce).
WITHDRAWN = (Subscription.Status.OPTED_OUT, Subscription.Status.BLOCKED)


@dataclass(frozen=True)
class Consent:
    source: str
    text: str = ""
    at: datetime | None = None  # when the person consented; now when not given
    evidence: dict = field(default_factory=dict)
    # The person acted themselves (a command, a button, a platform setting), not the brand
    # on their behalf (import, API, admin).
    by_person: bool = False


def _record(subscription: Subscription, kind: str, status: str, consent: Consent) -> ConsentEvent:
    at = consent.at or timezone.now()
    if problem := rules.consent_time_problem(at, timezone.now()):
        raise ServiceError({"consent_at": [problem]})
    return ConsentEvent.objects.create(
        subscription=subscription,
        kind=kind,
        status=status,
        source=consent.source,
        text=consent.text,
        evidence=consent.evidence,
        by_person=consent.by_person,
        at=at,
    )


def last_consent_event(subscription: Subscription) -> ConsentEvent | None:
    return subscription.consent_events.order_by("-id").first()


@transaction.atomic
def subscription_opt_in(*, subscription: Subscription, consent: Consent) -> ConsentEvent | None:
    """Opt the subscription in with a consent record; None when it already was.

    Refuses, with the date of the opt-out: anyone but the person after the person's
    withdrawal, and a consent older than the last opt-out (platforms deliver callbacks
    out of order, and an old CRM record never overrides a later "stop").
    """
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.status == Subscription.Status.OPTED_IN:
        return None
    last = last_consent_event(subscription)
    if last is not None and subscription.status in WITHDRAWN and not consent.by_person:
        if last.by_person:
            who = _("blocked us") if last.status == Subscription.Status.BLOCKED else _("opted out themselves")
        else:
            who = _("was %(status)s") % {"status": last.get_status_display()}
        raise ServiceError(
            _("%(subscription)s %(who)s on %(at)s UTC (via %(source)s); "
              "only their own opt-in (/start, START, Viber subscribe) brings them back")
            % {"subscription": subscription, "who": who, "at": f"{last.at:%Y-%m-%d %H:%M}", "source": last.source}
        )
    if last is not None and consent.at is not None and consent.at < last.at:
        raise ServiceError(
            _("%(subscription)s was %(status)s at %(at)s UTC, after this consent (%(consent_at)s UTC); "
              "not opted in again")
            % {"subscription": subscription, "status": last.get_status_display(),
               "at": f"{last.at:%Y-%m-%d %H:%M}", "consent_at": f"{consent.at:%Y-%m-%d %H:%M}"}
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
    actor: AbstractBaseUser | None = None,
) -> ConsentEvent | None:
    """Stop all messages to this subscription at once; None when nothing changed.

    `unreachable` (a bounce) is recorded as a suppression; `opted_out` and `blocked` as a
    withdrawal, which also replaces an earlier suppression. Rows of the ledger still
    waiting to be sent are skipped in the same transaction, so a queued message never goes
    out after this commits. The audit log names `actor` (staff), or nobody (the person, a
    platform).
    """
    if status == Subscription.Status.OPTED_IN:
        raise ValueError("an opt-out cannot leave the subscription opted in")
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    withdrawal = status in WITHDRAWN
    if not (subscription.status == Subscription.Status.OPTED_IN
            or (withdrawal and subscription.status == Subscription.Status.UNREACHABLE)):
        return None
    before = {"status": subscription.status}
    subscription.status = status
    with disable_auditlog():  # one entry below, with its verb, not also a plain "changed"
        subscription.save(update_fields=["status", "updated_at"])
    audit_record(subscription, verb="opted out" if withdrawal else "suppressed", actor=actor, before=before,
                 after={"status": status}, extra={"source": consent.source, "by_person": consent.by_person})
    with translation.override(None):  # the ledger's reasons are stored in English, as the engine's are
        reason = f"{subscription.get_status_display()} via {consent.source}"
    Delivery.objects.filter(
        subscription=subscription, status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]
    ).update(status=Delivery.Status.SKIPPED, reason=reason, updated_at=timezone.now())
    kind = ConsentEvent.Kind.OPT_OUT if withdrawal else ConsentEvent.Kind.SUPPRESSION
    return _record(subscription, kind, status, consent)


@transaction.atomic
def opt_out_address(
    *, platform: str, address: str, consent: Consent, status: str = Subscription.Status.OPTED_OUT,
    actor: AbstractBaseUser | None = None, account: SenderAccount | None | _EveryAccount = EVERY_ACCOUNT,
) -> tuple[Subscription | None, bool]:
    """Opt out whoever has this stored `address` on `platform`: (their subscription or None
    when nobody has it, whether it changed). `account`: only that sender account's
    subscription (None: the default account's); by default every account's subscription
    with this address, all in one transaction (the subscription returned is the default
    account's, else the oldest; `changed` is true when any of them changed)."""
    which = of_any_account(platform) if account is EVERY_ACCOUNT else of_account(account)
    found = Subscription.objects.filter(which, platform=platform, address=address)
    subscriptions = list(found.select_related("subscriber").order_by(F("account_id").asc(nulls_first=True), "id"))
    if not subscriptions:
        return None, False
    changed = False
    for subscription in subscriptions:
        event = subscription_opt_out(subscription=subscription, consent=consent, status=status, actor=actor)
        changed = changed or event is not None
    subscription = subscriptions[0]
    subscription.refresh_from_db()
    return subscription, changed


# --- what people tell us through the platforms ----------------------------------------


@dataclass(frozen=True)
class Change:
    """What a person's own command did: their subscription (None: unknown address),
    whether it changed, and their language for the reply."""

    subscription: Subscription | None
    changed: bool
    language: str = "en"

    @property
    def opted_in(self) -> bool:
        return self.subscription is not None and self.subscription.status == Subscription.Status.OPTED_IN


def _same_person(platform: str, address: str, account: SenderAccount | None) -> Subscriber | None:
    """Who already has this address on another account of the platform (the same Telegram
    user, phone or Viber user), when they have no subscription of `account` yet."""
    for other in (Subscription.objects.filter(of_any_account(platform), platform=platform, address=address,
                                              subscriber__erased_at__isnull=True)
                  .select_related("subscriber").order_by("id")):
        if not other.subscriber.subscriptions.filter(of_account(account), platform=platform).exists():
            return other.subscriber
    return None


def person_opt_in(platform: str, address: str, *, consent: Consent, name: str = "",
                  language: str | None = None, account: SenderAccount | None = None) -> Change:
    """The person asked to subscribe (/start, START, Viber subscribed) to `account` (None:
    the platform's default account): opt in their subscription of that account, creating it
    (and them, unless another account already knows the address) if it is new. A stale
    callback older than their later stop changes nothing."""
    from .audience import subscription_add

    consent = Consent(source=consent.source, text=consent.text, at=consent.at or timezone.now(),
                      evidence=consent.evidence, by_person=True)
    subscription = (Subscription.objects.filter(of_account(account), platform=platform, address=address)
                    .select_related("subscriber").first())
    if subscription is None:
        subscriber = _same_person(platform, address, account)
        if subscriber is None:
            try:
                lang = rules.normalize_language(language or "en")
            except ValueError:
                lang = "en"
            subscriber = Subscriber.objects.create(name=name[:200], language=lang, timezone=settings.TIME_ZONE)
        subscription = subscription_add(subscriber=subscriber, platform=platform, address=address, consent=consent,
                                        account=account)
        return Change(subscription, True, subscriber.language)
    try:
        event = subscription_opt_in(subscription=subscription, consent=consent)
    except ServiceError as exc:
        log.info("%s opt-in of subscription %s not applied: %s", platform, subscription.pk, logs.reason(exc))
        event = None
    subscription.refresh_from_db()
    return Change(subscription, event is not None, subscription.subscriber.language)


def person_opt_out(platform: str, address: str, *, consent: Consent,
                   status: str = Subscription.Status.OPTED_OUT, account: SenderAccount | None = None) -> Change:
    """The person (or, for `unreachable`, the platform) said stop to `account` (None: the
    platform's default account): at once, queued messages included. Their subscriptions of
    other accounts are another consent and stay as they are."""
    by_person = status in WITHDRAWN
    consent = Consent(source=consent.source, text=consent.text, at=consent.at or timezone.now(),
                      evidence=consent.evidence, by_person=by_person)
    subscription, changed = opt_out_address(platform=platform, address=address, status=status, consent=consent,
                                            account=account)
    if subscription is None:
        log.info("%s opt-out from unknown address %s ignored", platform, logs.masked(address))
        return Change(None, False)
    return Change(subscription, changed, subscription.subscriber.language)


def note_inbound(platform: str, address: str, at: datetime, *, account: SenderAccount | None = None) -> None:
    """The person wrote to `account` (None: the default one): WhatsApp's 24-hour window of
    that number opens, and a reply resets the fatigue guard (the person's, on any account)."""
    Subscription.objects.filter(of_account(account), platform=platform, address=address).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)
    ).update(last_inbound_at=at)
    fatigue.address_answered(platform, address)
