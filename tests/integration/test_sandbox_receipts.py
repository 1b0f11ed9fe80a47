"""The demo's sandbox reports its WhatsApp and Viber messages delivered and read a few seconds
after sending (deterministic per message id), through the receipts service the webhooks use;
never for a platform with credentials, and Telegram (whose Bot API has no receipts) never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.delivery.sandbox_receipts import sandbox_receipts_apply
from campaigns.models import Campaign, Delivery, FrequencyPolicy, SendList
from campaigns.selectors import campaign_stats
from channels.models import OutboxMessage
from channels.sandbox import sandbox_receipts
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe

from .engine import Engine, wait_until

S = Delivery.Status


def _expected(campaign: Campaign) -> dict[str, int]:
    """Delivered and read as the sandbox decides them for the campaign's messages."""
    ids = Delivery.objects.filter(campaign=campaign, platform="viber").values_list("platform_message_id", flat=True)
    due = [sandbox_receipts(m) for m in ids]
    return {"delivered": sum(d.delivered_after is not None for d in due),
            "read": sum(d.read_after is not None for d in due)}


@pytest.mark.django_db(transaction=True)
def test_a_sandbox_campaigns_stats_reach_the_sandboxs_delivered_and_read_counts(tmp_path):
    # given: 30 people on Viber (by Viber id) and 5 on Telegram, all in the sandbox
    policy = FrequencyPolicy.current()
    policy.max_per_day = policy.max_per_week = None
    policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()
    for i in range(30):
        subscribe(SubscriberFactory(), "viber", f"ViberUser{i:04d}==")
    for i in range(5):
        subscribe(SubscriberFactory(), "telegram", str(5000 + i))
    segment = SegmentFactory()
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = services.campaign_schedule(
        campaign=CampaignFactory(segment=segment, platforms=["viber", "telegram"], send_at=send_at),
        now=send_at - timedelta(seconds=5))
    engine = Engine(tmp_path, {}).start()
    try:
        # when: it goes out and the sandbox's receipts come in
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
                   "the campaign to complete")
        expected = _expected(campaign)
        wait_until(lambda: {k: campaign_stats(campaign)[k] for k in ("delivered", "read")} == expected, 30,
                   f"stats to reach {expected}")
        last_sent = max(Delivery.objects.filter(campaign=campaign).values_list("sent_at", flat=True))
        wait_until(lambda: timezone.now() > last_sent + timedelta(seconds=12), 15, "every receipt to be due")
        stats = campaign_stats(campaign)
    except AssertionError:
        print(engine.logs())
        raise
    finally:
        engine.stop()

    # then: exactly the sandbox's counts, Telegram's messages only sent
    # (the sandbox's shares are 90 % delivered and 70 % read, per message id: a sanity range for 30)
    assert 20 <= expected["delivered"] <= 30 and 10 <= expected["read"] <= expected["delivered"]
    assert (stats["planned"], stats["sent"], stats["delivered"], stats["read"]) == (
        35, 35, expected["delivered"], expected["read"])
    assert set(Delivery.objects.filter(campaign=campaign, platform="telegram").values_list("status", flat=True)) == {
        S.SENT}
    read = Delivery.objects.filter(campaign=campaign, status=S.READ)
    assert all(r.sent_at - timedelta(seconds=1) < r.delivered_at <= r.read_at < r.sent_at + timedelta(seconds=11)
               for r in read)


def _sent_viber(n: int, *, sent: datetime) -> Campaign:
    """n Viber messages the sandbox 'sent' at `sent`, in the ledger and the outbox."""
    campaign = CampaignFactory(status=Campaign.Status.COMPLETED, platforms=["viber"])
    send_list = SendList.objects.create(campaign=campaign, platform="viber", number=1, size=n)
    for i in range(n):
        person = SubscriberFactory()
        subscription = subscribe(person, "viber", f"ViberPerson{i:04d}==")
        row = Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscription,
                                      platform="viber", send_list=send_list, list_number=1, status=S.SENT,
                                      send_after=sent, sent_at=sent)
        row.platform_message_id = f"sandbox-{row.pk}"
        row.save(update_fields=["platform_message_id"])
        OutboxMessage.objects.create(platform="viber", address=subscription.address, text="hi", delivery_id=row.pk)
    OutboxMessage.objects.update(created_at=sent)
    return campaign


@pytest.mark.django_db
def test_receipts_apply_once_when_due_and_a_second_run_changes_nothing():
    sent = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    campaign = _sent_viber(20, sent=sent)
    expected = _expected(campaign)

    nothing_yet = sandbox_receipts_apply(now=sent + timedelta(milliseconds=500))
    first = sandbox_receipts_apply(now=sent + timedelta(seconds=10))
    after_first = list(Delivery.objects.order_by("id").values_list("status", "delivered_at", "read_at"))
    second = sandbox_receipts_apply(now=sent + timedelta(seconds=11))

    assert nothing_yet == 0
    assert first == expected["delivered"] + expected["read"]
    assert second == 0
    assert list(Delivery.objects.order_by("id").values_list("status", "delivered_at", "read_at")) == after_first
    stats = campaign_stats(campaign)
    assert (stats["delivered"], stats["read"]) == (expected["delivered"], expected["read"])


@pytest.mark.django_db
def test_a_platform_with_credentials_gets_no_sandbox_receipts(settings):
    settings.VIBER_AUTH_TOKEN = "live-token"
    sent = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    _sent_viber(5, sent=sent)

    moved = sandbox_receipts_apply(now=sent + timedelta(seconds=30))

    assert moved == 0
    assert set(Delivery.objects.values_list("status", flat=True)) == {S.SENT}


def test_the_sandbox_decides_the_same_for_the_same_message_and_about_70_percent_read():
    due = [sandbox_receipts(f"sandbox-{i}") for i in range(2000)]

    assert [sandbox_receipts(f"sandbox-{i}") for i in range(50)] == due[:50]
    assert 1700 <= sum(d.delivered_after is not None for d in due) <= 1900
    assert 1300 <= sum(d.read_after is not None for d in due) <= 1500
    assert all(d.read_after is None or (d.delivered_after is not None and d.delivered_after < d.read_after
                                        <= timedelta(seconds=10)) for d in due)
    assert all(d.delivered_after is None or timedelta(seconds=1) <= d.delivered_after <= timedelta(seconds=3)
               for d in due)
