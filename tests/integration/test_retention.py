"""Retention: the daily purge deletes what is older than each TACT_RETAIN_* limit, keeps
what is younger, keeps consent events always, and keeps a purged campaign's counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import selectors
from campaigns.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    ImportJob,
    SendList,
    Subscription,
)
from campaigns.services import privacy
from channels.models import EarlyReceipt, InboundEvent, OutboxMessage
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db
S = Delivery.Status
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def limits(settings):
    settings.TACT_RETAIN_DELIVERIES_DAYS = 365
    settings.TACT_RETAIN_OUTBOX_DAYS = 30
    settings.TACT_RETAIN_INBOUND_KEYS_DAYS = 14
    settings.TACT_RETAIN_EARLY_RECEIPTS_DAYS = 7
    settings.TACT_RETAIN_IMPORT_JOBS_DAYS = 60


def _ago(days: int, *, older: bool) -> datetime:
    """A moment just past the limit of `days` (older) or just within it."""
    return NOW - timedelta(days=days) + (-MINUTE if older else MINUTE)


def _ended_campaign(status: str, ended: datetime, people: list[Subscription]) -> Campaign:
    field = "finished_at" if status == Campaign.Status.COMPLETED else "cancelled_at"
    campaign = CampaignFactory(status=status, platforms=["telegram"], send_at=ended - timedelta(hours=1),
                               started_at=ended - timedelta(hours=1), **{field: ended})
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=len(people),
                                        state=SendList.State.DONE)
    statuses = [S.READ, S.DELIVERED, S.SENT, S.FAILED, S.SKIPPED]
    for subscription, status_ in zip(people, statuses, strict=False):
        sent = ended - timedelta(minutes=30) if status_ in (S.READ, S.DELIVERED, S.SENT) else None
        Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
                                platform="telegram", send_list=send_list, list_number=1, status=status_,
                                send_after=ended - timedelta(hours=1), sent_at=sent,
                                platform_message_id=str(subscription.pk) if sent else "")
    return campaign


def _aged(model, field: str, moments: list[datetime], **fields) -> list[int]:
    ids = []
    for i, moment in enumerate(moments):
        row = model.objects.create(**{k: (v(i) if callable(v) else v) for k, v in fields.items()})
        model.objects.filter(pk=row.pk).update(**{field: moment})
        ids.append(row.pk)
    return ids


def test_the_purge_deletes_exactly_what_is_past_each_limit_and_keeps_the_counts(django_user_model):
    # given: 5 people who consented in 2024 (older than every limit); campaigns ended just
    # before and just within a year ago; rows of every kind just older and younger than their limits
    people = [subscribe(SubscriberFactory(), "telegram", at=LONG_AGO) for _ in range(5)]
    old_done = _ended_campaign(Campaign.Status.COMPLETED, _ago(365, older=True), people)
    old_cancelled = _ended_campaign(Campaign.Status.CANCELLED, _ago(365, older=True), people[:2])
    young_done = _ended_campaign(Campaign.Status.COMPLETED, _ago(365, older=False), people)
    running = CampaignFactory(status=Campaign.Status.RUNNING, send_at=NOW - timedelta(days=800),
                              started_at=NOW - timedelta(days=800))
    SendList.objects.create(campaign=running, platform="telegram", number=1, size=1)
    Delivery.objects.create(campaign=running, subscriber=people[0].subscriber, subscription=people[0],
                            platform="telegram", send_list=running.send_lists.get(), list_number=1,
                            send_after=NOW - timedelta(days=800))
    stats_before = {c.pk: selectors.campaign_stats(c) for c in (old_done, old_cancelled, young_done)}
    outbox = _aged(OutboxMessage, "created_at", [_ago(30, older=True)] * 2 + [_ago(30, older=False)],
                   platform="telegram", address="1", text="hi")
    inbound = _aged(InboundEvent, "received_at", [_ago(14, older=True)] * 3 + [_ago(14, older=False)] * 2,
                    platform="telegram", key=lambda i: f"update:{i}")
    early = _aged(EarlyReceipt, "received_at", [_ago(7, older=True), _ago(7, older=False)],
                  platform="whatsapp", message_id="wamid.X", status="read", at=NOW)
    jobs = _aged(ImportJob, "created_at", [_ago(60, older=True), _ago(60, older=False)], file_name="people.csv")
    consent = ConsentEvent.objects.count()

    # when: purged in batches of 2 rows a statement
    purged = privacy.retention_purge(now=NOW, batch=2)

    # then: exact counts deleted, and exactly the younger rows kept
    assert purged == {"campaigns": 2, "deliveries": 5 + 2, "outbox_messages": 2, "inbound_events": 3,
                      "early_receipts": 1, "import_jobs": 1, "test_sends": 0}
    assert not Delivery.objects.filter(campaign__in=[old_done, old_cancelled]).exists()
    assert Delivery.objects.filter(campaign=young_done).count() == 5
    assert Delivery.objects.filter(campaign=running).count() == 1
    assert list(OutboxMessage.objects.values_list("pk", flat=True)) == outbox[2:]
    assert sorted(InboundEvent.objects.values_list("pk", flat=True)) == inbound[3:]
    assert list(EarlyReceipt.objects.values_list("pk", flat=True)) == early[1:]
    assert list(ImportJob.objects.values_list("pk", flat=True)) == jobs[1:]
    assert ConsentEvent.objects.count() == consent == 5
    assert SendList.objects.filter(campaign=old_done).count() == 1  # the lists say nothing about people

    # and: the purged campaigns' counts are kept, equal to the counts before
    for campaign in (old_done, old_cancelled, young_done):
        campaign.refresh_from_db()
        assert selectors.campaign_stats(campaign) == stats_before[campaign.pk]
    assert old_done.stats_archive == stats_before[old_done.pk]
    assert stats_before[old_done.pk] == {"planned": 5, "sent": 3, "delivered": 2, "read": 1, "clicked": 0, "failed": 1,
                                         "held": 0, "skipped": 1, "uncertain": 0, "opted_out_48h": 0}
    assert young_done.stats_archive is None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + Token.objects.create(
        user=django_user_model.objects.create_superuser("root", password="x-secret-123")).key)
    assert api.get(f"/api/campaigns/{old_done.pk}/").json()["stats"] == stats_before[old_done.pk]

    # when: run again (the next day's run, or a retried one)
    again = privacy.retention_purge(now=NOW, batch=2)

    # then: nothing more goes, the kept counts stay
    assert again == {"campaigns": 0, "deliveries": 0, "outbox_messages": 0, "inbound_events": 0,
                     "early_receipts": 0, "import_jobs": 0, "test_sends": 0}
    old_done.refresh_from_db()
    assert old_done.stats_archive == stats_before[old_done.pk]


def test_a_purge_interrupted_after_keeping_the_counts_does_not_count_again():
    # given: a campaign whose counts were kept and part of whose rows were already purged
    people = [subscribe(SubscriberFactory(), "telegram") for _ in range(4)]
    campaign = _ended_campaign(Campaign.Status.COMPLETED, _ago(365, older=True), people)
    kept = selectors.campaign_stats(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(stats_archive=kept)
    Delivery.objects.filter(pk__in=list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True)[:2])
                            ).delete()

    # when
    purged = privacy.retention_purge(now=NOW)

    # then: the rest goes; the counts are the ones kept before, not a recount of what was left
    assert purged["deliveries"] == 2
    campaign.refresh_from_db()
    assert campaign.stats_archive == kept and selectors.campaign_stats(campaign) == kept


def test_the_beat_schedule_runs_the_purge_daily_and_the_task_exists():
    from config.celery import app

    app.loader.import_default_modules()
    entry = django_settings.CELERY_BEAT_SCHEDULE["purge"]
    assert entry["task"] == "campaigns.tasks.purge"
    assert entry["schedule"] == 24 * 3600.0
    assert entry["task"] in app.tasks
