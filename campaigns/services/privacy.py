"""The person's rights and the data's lifetime: erasure (GDPR art. 17, 152-FZ art. 21),
access and portability (art. 15 and 20), and the retention purge.

Erasure removes everything that identifies the person and keeps a pseudonymous trail: the
subscriber row (no name, ids, attributes or tags), each subscription with a keyed hash of
its address instead of the address, the consent events' kinds, sources and dates (their
wording and evidence emptied, which the database guard allows only inside a transaction
that said `SET LOCAL tact.erasure = 'on'`), and the ledger's statuses, so that campaign
counts stay right.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.models import EarlyReceipt, InboundEvent, OutboxMessage, PendingUpdate

from .. import rules, selectors
from ..audit import audit_record
from ..models import (
    Campaign,
    ConsentEvent,
    Delivery,
    ImportJob,
    Segment,
    Subscriber,
    Subscription,
    TestSend,
)
from .consent import Consent, _record
from .errors import ServiceError

log = logging.getLogger(__name__)

ERASED = "(erased)"
SKIPPED_REASON = "the person was erased"
BATCH = 5000


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure changed: ids and counts only."""

    subscriber: int
    erased_at: datetime
    subscriptions: int
    consent_events_scrubbed: int
    deliveries_scrubbed: int
    deliveries_skipped: int
    tags_removed: int
    static_segments_left: int
    outbox_messages_deleted: int
    early_receipts_deleted: int
    inbound_events_deleted: int
    pending_updates_deleted: int
    pending_updates_pruned: int
    import_errors_scrubbed: int
    audit_entries_scrubbed: int
    admin_log_entries_scrubbed: int
    test_sends_deleted: int = 0

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k not in ("subscriber", "erased_at")}

    def as_dict(self) -> dict:
        return {"subscriber": self.subscriber, "erased_at": self.erased_at.isoformat(), "counts": self.counts()}


def _erasure_scope_on() -> None:
    """Let the database guards take this transaction's scrub of consent events and audit
    entries (migration 0008); SQLite has no guards."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL tact.erasure = 'on'")


def _erasure_scope_off() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL tact.erasure = 'off'")


def subscriber_erase(*, subscriber: Subscriber, actor: AbstractBaseUser | None = None,
                     now: datetime | None = None) -> ErasureReport:
    """Erase the person: nothing that identifies them remains; a pseudonymous consent trail does."""
    now = now or timezone.now()
    with transaction.atomic():
        _erasure_scope_on()
        person = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if person.erased_at is not None:
            raise ServiceError(_("subscriber #%(id)s was already erased on %(at)s UTC")
                               % {"id": person.pk, "at": f"{person.erased_at:%Y-%m-%d %H:%M}"})
        # The lock waits for a worker's platform call in flight (it holds a share lock on
        # the subscription); a row still `sending` after it is about to get its message id.
        subscriptions = list(Subscription.objects.select_for_update().filter(subscriber=person).order_by("id"))
        if Delivery.objects.filter(subscriber=person, status=Delivery.Status.SENDING).exists():
            raise ServiceError(_("a message to this person is being sent right now; erase again in a minute"))
        message_ids: dict[str, set[str]] = {}
        for platform, message_id in Delivery.objects.filter(subscriber=person).exclude(
                platform_message_id="").values_list("platform", "platform_message_id"):
            message_ids.setdefault(platform, set()).add(message_id)
        for platform, message_id in TestSend.objects.filter(subscription__subscriber=person).exclude(
                platform_message_id="").values_list("platform", "platform_message_id"):
            message_ids.setdefault(platform, set()).add(message_id)
        reprs = {person.name, person.external_id} - {""}
        addresses = [(s.platform, s.address) for s in subscriptions]

        skipped, scrubbed = _ledger_scrub(person, now)
        _subscriptions_pseudonymise(subscriptions, now)
        events_scrubbed = ConsentEvent.objects.filter(subscription__subscriber=person).exclude(
            text="", evidence={}).update(text="", evidence={})
        tags_removed, segments_left = _person_scrub(person, now)
        # A test send holds the text as the person received it (their name, their coupon).
        test_sends = _delete(TestSend.objects.filter(subscription__subscriber=person))
        Subscriber.objects.filter(pk=person.pk).update(tester=False)
        outbox = _delete(OutboxMessage.objects.filter(_any_of(
            [Q(platform=p, address=a) for p, a in addresses]
            + [Q(delivery_id__in=list(Delivery.objects.filter(subscriber=person).values_list("pk", flat=True)))])))
        early = _delete(EarlyReceipt.objects.filter(_any_of(
            [Q(platform=p, address=a) for p, a in addresses]
            + [Q(platform=p, message_id__in=ids) for p, ids in message_ids.items()])))
        inbound = _inbound_keys_delete(addresses, message_ids)
        pending_deleted, pending_pruned = _pending_updates_scrub(addresses, message_ids)
        import_errors = _import_errors_scrub(addresses)
        audit_entries = _audit_scrub(person, subscriptions, reprs)
        admin_entries = _admin_log_scrub(person, subscriptions)
        _erasure_scope_off()

        person.refresh_from_db()
        report = ErasureReport(
            subscriber=person.pk, erased_at=now, subscriptions=len(subscriptions),
            consent_events_scrubbed=events_scrubbed, deliveries_scrubbed=scrubbed, deliveries_skipped=skipped,
            tags_removed=tags_removed, static_segments_left=segments_left, outbox_messages_deleted=outbox,
            early_receipts_deleted=early, inbound_events_deleted=inbound, pending_updates_deleted=pending_deleted,
            pending_updates_pruned=pending_pruned, import_errors_scrubbed=import_errors,
            audit_entries_scrubbed=audit_entries, admin_log_entries_scrubbed=admin_entries,
            test_sends_deleted=test_sends,
        )
        audit_record(person, verb="erased", actor=actor, after={"erased_at": now.isoformat()},
                     extra={"subscriptions": [s.pk for s in subscriptions], "counts": report.counts()})
    log.info("subscriber %s erased: %s", person.pk, report.counts())
    return report


def _ledger_scrub(person: Subscriber, now: datetime) -> tuple[int, int]:
    """(rows skipped, rows scrubbed). Statuses and sent_at stay (campaign counts, caps); the
    receipts' times, the platforms' message ids and the reasons (which may quote the
    platform) go. A row still waiting is skipped."""
    deliveries = Delivery.objects.filter(subscriber=person)
    skipped = deliveries.filter(status__in=[Delivery.Status.PLANNED, Delivery.Status.HELD]).update(
        status=Delivery.Status.SKIPPED, reason=SKIPPED_REASON, updated_at=now)
    scrubbed = deliveries.update(platform_message_id="", delivered_at=None, read_at=None)
    deliveries.exclude(reason=SKIPPED_REASON).update(reason="")
    return skipped, scrubbed


def _subscriptions_pseudonymise(subscriptions: list[Subscription], now: datetime) -> None:
    """Each address replaced by `erased:<id>` and its keyed hash; opted out by an `erased` event."""
    for s in subscriptions:
        Subscription.objects.filter(pk=s.pk).update(
            address_hash=rules.address_hash(settings.TACT_PSEUDONYM_KEY, s.platform, s.address),
            address=f"{rules.ERASED_PREFIX}{s.pk}", status=Subscription.Status.OPTED_OUT,
            saved_our_number=False, last_inbound_at=None, updated_at=now)
        _record(s, ConsentEvent.Kind.ERASED, Subscription.Status.OPTED_OUT,
                Consent(source="erasure", text="", evidence={}, at=now, by_person=False))


def _person_scrub(person: Subscriber, now: datetime) -> tuple[int, int]:
    """(tags removed, static segments left): no name, CRM id, attributes, tags or memberships.
    Through-table rows go directly: no signal, so no audit entry naming the person."""
    tags = Subscriber.tags.through.objects.filter(subscriber=person)
    tags_removed = tags.count()
    tags.delete()
    memberships = Segment.members.through.objects.filter(subscriber=person)
    segments_left = memberships.count()
    memberships.delete()
    Subscriber.objects.filter(pk=person.pk).update(name="", search_name="", external_id="", attributes={}, erased_at=now,
                                                   updated_at=now)
    return tags_removed, segments_left


def _any_of(conditions: list[Q]) -> Q:
    """Conditions joined by OR; one that matches nothing when there are none."""
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined


def _delete(queryset: QuerySet) -> int:
    return queryset.delete()[1].get(queryset.model._meta.label, 0)


def _key_mentions(token: str) -> Q:
    """An inbound key (parts joined by ':') that has `token` as one of its parts."""
    return (Q(key=token) | Q(key__startswith=f"{token}:") | Q(key__endswith=f":{token}")
            | Q(key__contains=f":{token}:"))


def _wamid_mentions(key: str, digits: set[str]) -> bool:
    """A WhatsApp message id ("wamid." and base64) carries the sender's number inside."""
    _, _, wamid = key.partition("wamid.")
    try:
        raw = base64.b64decode(wamid + "=" * (-len(wamid) % 4))
    except (binascii.Error, ValueError):
        return False
    return any(d.encode() in raw for d in digits)


def _inbound_keys_delete(addresses: list[tuple[str, str]], message_ids: dict[str, set[str]]) -> int:
    conditions = []
    for platform, address in addresses:
        for form in rules.address_forms(address):
            conditions.append(Q(platform=platform) & _key_mentions(form))
    for platform, ids in message_ids.items():
        if platform == "telegram":
            continue  # Telegram's message ids are counters per chat; its keys are update ids
        for message_id in ids:
            conditions.append(Q(platform=platform) & _key_mentions(message_id))
    deleted = _delete(InboundEvent.objects.filter(_any_of(conditions)))
    digits = {a.lstrip("+") for p, a in addresses if p == "whatsapp"}
    if digits:
        inbound = InboundEvent.objects.filter(platform="whatsapp", key__contains=":wamid.")
        ids = [pk for pk, key in inbound.values_list("pk", "key").iterator() if _wamid_mentions(key, digits)]
        deleted += sum(_delete(InboundEvent.objects.filter(pk__in=ids[i:i + BATCH])) for i in range(0, len(ids), BATCH))
    return deleted


def _mentions(value: object, tokens: set[str]) -> bool:
    if isinstance(value, str):
        return value in tokens
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) in tokens
    if isinstance(value, dict):
        return any(_mentions(v, tokens) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, tokens) for v in value)
    return False


def _pruned(value: object, tokens: set[str]) -> object:
    """`value` without the list items that mention a token (a WhatsApp batch keeps the
    other people's messages and statuses)."""
    if isinstance(value, dict):
        return {k: _pruned(v, tokens) for k, v in value.items()}
    if isinstance(value, list):
        pruned = [_pruned(v, tokens) for v in value]
        return [v for v in pruned if not _mentions(v, tokens)]
    return value


def _whatsapp_items_left(data: object) -> bool:
    """A WhatsApp body still has a message, status or preference to handle."""
    entries = data.get("entry") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if isinstance(value, dict) and any(value.get(k) for k in ("messages", "statuses", "user_preferences")):
                return True
    return False


def _pending_updates_scrub(addresses: list[tuple[str, str]],
                           message_ids: dict[str, set[str]]) -> tuple[int, int]:
    """Kept callbacks about the person: deleted; a WhatsApp batch that also holds other
    people's items keeps theirs (pruned), so that none of their opt-outs is lost."""
    from channels.inbound import Malformed, parse

    deleted = pruned = 0
    for platform in {p for p, _address in addresses}:
        tokens = {f for p, a in addresses if p == platform for f in rules.address_forms(a)}
        if platform != "telegram":
            tokens |= message_ids.get(platform, set())
        # A sender account's kept callbacks are "<platform>:<account id>" (channels.pending).
        of_platform = Q(platform=platform) | Q(platform__startswith=f"{platform}:")
        for row in PendingUpdate.objects.select_for_update().filter(of_platform).order_by("pk"):
            body = bytes(row.body)
            try:
                data = parse(body)
            except Malformed:
                if any(t.encode() in body for t in tokens):
                    row.delete()
                    deleted += 1
                continue
            if not _mentions(data, tokens):
                continue
            rest = _pruned(data, tokens) if platform == "whatsapp" else data
            if _mentions(rest, tokens) or not _whatsapp_items_left(rest):
                row.delete()
                deleted += 1
            else:
                row.body = json.dumps(rest, ensure_ascii=False).encode()
                row.save(update_fields=["body"])
                pruned += 1
    return deleted, pruned


def _import_errors_scrub(addresses: list[tuple[str, str]]) -> int:
    """Refused import rows that quote one of the addresses: their message goes."""
    forms = [f for _, a in addresses for f in rules.address_forms(a)]
    scrubbed = 0
    for job in ImportJob.objects.select_for_update().exclude(errors=[]).order_by("pk"):
        errors = list(job.errors) if isinstance(job.errors, list) else []
        quoting = [i for i, e in enumerate(errors) if any(f in json.dumps(e, ensure_ascii=False) for f in forms)]
        for i in quoting:
            errors[i] = {"line": errors[i].get("line") if isinstance(errors[i], dict) else None, "error": ERASED}
        if quoting:
            job.errors = errors
            job.save(update_fields=["errors"])
            scrubbed += len(quoting)
    return scrubbed


def _audit_scrub(person: Subscriber, subscriptions: list[Subscription], reprs: set[str]) -> int:
    """The audit log's entries about the person and their subscriptions keep who did what
    when; what they said about the person goes. Segment entries naming them as a member
    lose the name."""
    subscriber_type = ContentType.objects.get_for_model(Subscriber)
    subscription_type = ContentType.objects.get_for_model(Subscription)
    entries = LogEntry.objects.filter(
        Q(content_type=subscriber_type, object_pk=str(person.pk))
        | Q(content_type=subscription_type, object_pk__in=[str(s.pk) for s in subscriptions])
    )
    labels = {str(s.pk): f"{s.get_platform_display()} {rules.ERASED_PREFIX}{s.pk}" for s in subscriptions}
    scrubbed = 0
    for entry in entries.iterator():
        label = labels.get(entry.object_pk, f"subscriber #{person.pk}") \
            if entry.content_type_id == subscription_type.pk else f"subscriber #{person.pk}"
        verb = entry.additional_data.get("verb") if isinstance(entry.additional_data, dict) else None
        LogEntry.objects.filter(pk=entry.pk).update(
            object_repr=label, changes_text="", serialized_data=None,
            changes={field: [ERASED, ERASED] for field in (entry.changes or {})},
            additional_data={"verb": verb} if verb else None,
        )
        scrubbed += 1
    if reprs:
        segment_type = ContentType.objects.get_for_model(Segment)
        for entry in LogEntry.objects.filter(content_type=segment_type, changes__has_key="members").iterator():
            members = entry.changes.get("members")
            objects = members.get("objects") if isinstance(members, dict) else None
            if isinstance(objects, list) and reprs & set(objects):
                changes = {**entry.changes, "members": {**members,
                                                        "objects": [ERASED if o in reprs else o for o in objects]}}
                LogEntry.objects.filter(pk=entry.pk).update(changes=changes, changes_text="")
                scrubbed += 1
    return scrubbed


def _admin_log_scrub(person: Subscriber, subscriptions: list[Subscription]) -> int:
    """Django admin's own history ("Recent actions") names objects by their str()."""
    scrubbed = AdminLogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscriber), object_id=str(person.pk)
    ).update(object_repr=f"subscriber #{person.pk}")
    subscription_type = ContentType.objects.get_for_model(Subscription)
    for s in subscriptions:
        scrubbed += AdminLogEntry.objects.filter(content_type=subscription_type, object_id=str(s.pk)).update(
            object_repr=f"{s.get_platform_display()} {rules.ERASED_PREFIX}{s.pk}")
    return scrubbed


# --- access and portability ----------------------------------------------------------


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def subscriber_export(*, subscriber: Subscriber, actor: AbstractBaseUser | None = None,
                      masked: bool = False) -> dict:
    """Everything held about the person, as JSON-ready data; the access is audited.
    `masked`: addresses as people without campaigns.view_address see them."""

    def address(s: Subscription) -> str:
        return rules.mask_address(s.platform, s.address) if masked else s.address

    subscriptions = list(subscriber.subscriptions.order_by("id"))
    by_id = {s.pk: s for s in subscriptions}
    events = ConsentEvent.objects.filter(subscription__in=subscriptions).order_by("id")
    deliveries = Delivery.objects.filter(subscriber=subscriber).select_related("campaign").order_by("id")
    data = {
        "subscriber": {
            "id": subscriber.pk, "external_id": subscriber.external_id, "name": subscriber.name,
            "timezone": subscriber.timezone, "language": subscriber.language,
            "tags": sorted(subscriber.tags.values_list("name", flat=True)), "attributes": subscriber.attributes,
            "static_segments": sorted(subscriber.static_segments.values_list("name", flat=True)),
            "created_at": _when(subscriber.created_at), "updated_at": _when(subscriber.updated_at),
        },
        "subscriptions": [
            {"platform": s.platform, "address": address(s), "status": s.status,
             "saved_our_number": s.saved_our_number, "last_inbound_at": _when(s.last_inbound_at),
             "created_at": _when(s.created_at)}
            for s in subscriptions
        ],
        "consent": [
            {"platform": by_id[e.subscription_id].platform, "address": address(by_id[e.subscription_id]),
             "kind": e.kind, "status": e.status, "source": e.source, "text": e.text,
             "evidence": rules.mask_within(e.evidence, by_id[e.subscription_id].platform,
                                           by_id[e.subscription_id].address) if masked else e.evidence,
             "by_person": e.by_person, "at": _when(e.at), "recorded_at": _when(e.recorded_at)}
            for e in events
        ],
        "deliveries": [
            {"campaign": {"id": d.campaign_id, "name": d.campaign.name}, "platform": d.platform,
             "text": d.campaign.content_body, "buttons": d.campaign.content_buttons,
             **({"whatsapp_template": d.campaign.content_whatsapp_template}
                if d.platform == "whatsapp" and d.campaign.content_whatsapp_template else {}),
             "status": d.status, "reason": d.reason, "platform_message_id": d.platform_message_id,
             "send_after": _when(d.send_after), "sent_at": _when(d.sent_at),
             "delivered_at": _when(d.delivered_at), "read_at": _when(d.read_at)}
            for d in deliveries
        ],
        "test_sends": [
            {"platform": t.platform, "status": t.status, "reason": t.reason, "text": t.text,
             "platform_message_id": t.platform_message_id, "created_at": _when(t.created_at)}
            for t in TestSend.objects.filter(subscription__in=subscriptions).order_by("id")
        ],
        # Tact does not record clicks per person yet: nothing is held.
        "clicks": [],
    }
    audit_record(subscriber, verb="exported", actor=actor,
                 extra={"subscriptions": len(subscriptions), "deliveries": len(data["deliveries"])})
    return data


# --- retention -----------------------------------------------------------------------


def _older(queryset: QuerySet, field: str, days: int, now: datetime) -> QuerySet:
    return queryset.filter(**{f"{field}__lt": now - timedelta(days=days)})


def _delete_in_batches(queryset: QuerySet, batch: int = BATCH) -> int:
    """Delete what `queryset` selects, `batch` rows a statement (no long lock, no huge IN list)."""
    model: type[Model] = queryset.model
    deleted = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += _delete(model.objects.filter(pk__in=ids))


def _campaigns_finished_before(cutoff: datetime) -> Iterable[int]:
    return (
        Campaign.objects.filter(status__in=[Campaign.Status.COMPLETED, Campaign.Status.CANCELLED])
        .annotate(ended=Coalesce("finished_at", "cancelled_at"))
        .filter(ended__lt=cutoff, deliveries__isnull=False)
        .distinct().order_by("pk").values_list("pk", flat=True)
    )


def retention_purge(*, now: datetime | None = None, batch: int = BATCH) -> dict[str, int]:
    """Delete what is older than the TACT_RETAIN_* settings say, `batch` rows a statement;
    consent events are kept.

    A campaign's ledger goes once it ended long enough ago; its counts are kept first in
    `stats_archive`, which campaign_stats then answers with. Safe to run again at any time."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.TACT_RETAIN_DELIVERIES_DAYS)
    deliveries = campaigns = 0
    for campaign_id in list(_campaigns_finished_before(cutoff)):
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
            if campaign.stats_archive is None:
                campaign.stats_archive = selectors.campaign_stats(campaign)
                campaign.save(update_fields=["stats_archive"])
        deliveries += _delete_in_batches(Delivery.objects.filter(campaign_id=campaign_id), batch)
        campaigns += 1
    purged = {
        "campaigns": campaigns,
        "deliveries": deliveries,
        "outbox_messages": _delete_in_batches(
            _older(OutboxMessage.objects.all(), "created_at", settings.TACT_RETAIN_OUTBOX_DAYS, now), batch),
        "inbound_events": _delete_in_batches(
            _older(InboundEvent.objects.all(), "received_at", settings.TACT_RETAIN_INBOUND_KEYS_DAYS, now), batch),
        "early_receipts": _delete_in_batches(
            _older(EarlyReceipt.objects.all(), "received_at", settings.TACT_RETAIN_EARLY_RECEIPTS_DAYS, now), batch),
        "import_jobs": _delete_in_batches(
            _older(ImportJob.objects.all(), "created_at", settings.TACT_RETAIN_IMPORT_JOBS_DAYS, now), batch),
        "test_sends": _delete_in_batches(
            _older(TestSend.objects.all(), "created_at", settings.TACT_RETAIN_TEST_SENDS_DAYS, now), batch),
    }
    log.info("retention purge: %s", purged)
    return purged
