"""The promises of issue 7 under the conditions that broke them: real worker and beat
processes started as the README says (`celery -A config worker`, default pool, every
queue), configured through the documented environment, a fake Telegram Bot API that fails
the way Telegram does. Each test breaks one promise on purpose."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import delivery, services
from campaigns.models import Campaign, Delivery, Segment, SendList, Subscription
from channels.models import OutboxMessage
from tests.conftest import SubscriberFactory

from .engine import wait_until
from .test_delivery import S, engine_factory, fake, finished, launch, policy, statuses, telegram_people  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_lost_answer_is_uncertain_and_nobody_gets_two(engine_factory, fake):
    # given: every 4th message is taken by Telegram and its answer lost (a 502 or a reset)
    policy()
    chats = telegram_people(24)
    fake.configure(lose_every=4, lost_answer="502")
    engine = engine_factory()

    campaign = finished(launch(), 60, engine)
    time.sleep(3)  # a sweeper pass or two more: nothing may be resent by itself

    # then: every person got exactly one message; the platform was asked once per person
    assert fake.count_by_chat() == {chat: 1 for chat in chats}
    assert Counter(c.chat_id for c in fake.calls()) == {chat: 1 for chat in chats}
    lost = {str(c.chat_id) for c in fake.calls() if c.lost_answer}
    assert len(lost) == 6
    uncertain = set(Delivery.objects.filter(campaign=campaign, status=S.UNCERTAIN)
                    .values_list("subscription__address", flat=True))
    assert uncertain == lost
    assert statuses(campaign) == {S.SENT: 18, S.UNCERTAIN: 6}


def test_a_reset_after_the_message_was_taken_is_not_resent_either(engine_factory, fake):
    policy()
    chats = telegram_people(10)
    fake.configure(lose_next=3, lost_answer="reset")

    campaign = finished(launch(), 60, engine_factory())

    assert Counter(c.chat_id for c in fake.calls()) == {chat: 1 for chat in chats}
    assert statuses(campaign) == {S.SENT: 7, S.UNCERTAIN: 3}


def test_a_token_revoked_mid_campaign_fails_nobody_and_everybody_gets_it_once_restored(engine_factory, fake):
    # given: 40 people at 10 messages a second
    policy()
    chats = telegram_people(40)
    engine = engine_factory(TACT_RATE_TELEGRAM="10")
    campaign = launch()

    # when: the token is revoked after the first messages went out
    wait_until(lambda: len(fake.sent()) >= 8, 60, "the first messages")
    fake.configure(token_revoked=True)
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).problem != "", 60, "the campaign to say why it waits")

    # then: nobody failed; the rest wait, and the campaign says our token is refused
    time.sleep(2)
    waiting = Campaign.objects.get(pk=campaign.pk)
    assert waiting.status == Campaign.Status.RUNNING
    assert "401" in waiting.problem or "Unauthorized" in waiting.problem, waiting.problem
    assert not Delivery.objects.filter(campaign=campaign, status=S.FAILED).exists()
    assert Delivery.objects.filter(campaign=campaign, status=S.PLANNED,
                                   reason__startswith="waiting for the platform").exists()

    # when: the token works again
    fake.configure(token_revoked=False)
    done = finished(campaign, 90, engine)

    # then: everybody got it exactly once, nobody failed, and the warning is gone
    assert fake.count_by_chat() == {chat: 1 for chat in chats}
    assert statuses(done) == {S.SENT: 40}
    assert done.problem == ""


def test_pause_during_a_429_block_sends_nothing_after_the_pause_commits(engine_factory, fake):
    # given: Telegram answers 429 "retry after 3" to everything
    policy()
    chats = telegram_people(12)
    fake.configure(rate_429=1.0, retry_after=3)
    engine = engine_factory()
    campaign = launch()
    wait_until(lambda: len(fake.calls()) >= 1, 60, "the first 429")

    # when: the marketer pauses during the block, and Telegram would take messages again
    services.campaign_pause(campaign=campaign)
    paused_at = time.monotonic()
    fake.configure(rate_429=0.0)
    time.sleep(6)  # past the block, several ticks and sweeps

    # then: nothing reached Telegram after the pause committed, and nothing is left `sending`
    assert [c for c in fake.calls() if c.monotonic > paused_at] == []
    assert fake.sent() == []
    assert not Delivery.objects.filter(campaign=campaign, status=S.SENDING).exists()

    # when resumed: everybody gets it once
    services.campaign_resume(campaign=Campaign.objects.get(pk=campaign.pk))
    finished(campaign, 60, engine)
    assert fake.count_by_chat() == {chat: 1 for chat in chats}


def test_cancel_during_a_platform_call_leaves_nothing_to_send_later(engine_factory, fake):
    # given: slow answers (2 s), all 429: the rows would go back in line after the call
    policy()
    telegram_people(6)
    fake.configure(rate_429=1.0, retry_after=1, latency=2.0)
    engine_factory()
    campaign = launch()
    wait_until(lambda: Delivery.objects.filter(campaign=campaign, status=S.SENDING).exists(), 60, "a call in flight")

    # when: the marketer cancels while the call is in flight
    services.campaign_cancel(campaign=campaign)
    fake.configure(rate_429=0.0, latency=0.0)
    time.sleep(4)

    # then: the rows the call returned are not revived: all skipped, nothing sent
    assert statuses(campaign) == {S.SKIPPED: 6}
    assert fake.sent() == []


def test_a_vip_segment_grown_over_its_max_size_sends_nothing_and_says_why(engine_factory, fake):
    # given: a VIP campaign scheduled while its static segment held 3; then 4 more are added
    policy()
    telegram_people(7)
    from campaigns.models import Subscriber
    from tests.conftest import CampaignFactory

    people = list(Subscriber.objects.order_by("pk"))
    segment = Segment.objects.create(name="VIP", kind=Segment.Kind.STATIC, max_size=3)
    segment.members.set(people[:3])
    send_at = timezone.now() + timedelta(seconds=3)
    campaign = services.campaign_schedule(
        campaign=CampaignFactory(segment=segment, platforms=["telegram"], send_at=send_at), now=timezone.now())
    segment.members.set(people)
    engine_factory()

    # then: paused with the reason, nothing planned or sent
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED, 60, "the pause")
    paused = Campaign.objects.get(pk=campaign.pk)
    assert paused.problem.startswith("segment 'VIP' has 7 people, over its max_size of 3")
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert fake.calls() == []


def test_whatsapp_people_who_wrote_start_receive_a_cloud_api_campaign(engine_factory, settings):
    # given: a new person writes START to our WhatsApp number (signed webhook)
    policy()
    settings.WHATSAPP_APP_SECRET = "wa-secret"
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"},
        "contacts": [{"wa_id": "79990001122", "profile": {"name": "Olga"}}],
        "messages": [{"from": "79990001122", "id": "wamid.start-1", "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": "START"}}]}}]}]}
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(b"wa-secret", body, hashlib.sha256).hexdigest()
    answer = Client().post("/webhooks/whatsapp/", body, content_type="application/json",
                           headers={"X-Hub-Signature-256": signature})
    assert answer.status_code == 200
    subscription = Subscription.objects.get(platform="whatsapp", address="+79990001122")
    assert subscription.status == Subscription.Status.OPTED_IN and subscription.saved_our_number is False
    from campaigns.models import Tag

    subscription.subscriber.tags.add(Tag.objects.get_or_create(name="all")[0])
    engine = engine_factory()

    # when: a WhatsApp campaign goes out (sandbox: no credentials)
    campaign = finished(launch(platforms=("whatsapp",)), 60, engine)

    # then: they got it
    assert list(OutboxMessage.objects.filter(delivery_id__isnull=False).values_list("address", flat=True)) == [
        "+79990001122"]
    assert statuses(campaign) == {S.SENT: 1}


def test_a_local_time_audience_is_read_near_each_zones_own_send_time(settings):
    # given: 10:05 local time; Novosibirsk (UTC+7) people have the HIGHEST ids, then
    # Moscow and London people who joined earlier
    policy()
    settings.TIME_ZONE = "UTC"
    from campaigns.models import Tag
    from tests.conftest import CampaignFactory, SegmentFactory, subscribe

    tag = Tag.objects.create(name="local")

    def person(zone: str) -> Subscription:
        p = SubscriberFactory(timezone=zone)
        p.tags.add(tag)
        return subscribe(p, "telegram")

    london = [person("Europe/London") for _ in range(3)]
    moscow = [person("Europe/Moscow") for _ in range(2)]
    novosibirsk = [person("Asia/Novosibirsk") for _ in range(2)]
    send_at = datetime(2026, 12, 10, 10, 5, tzinfo=UTC)
    segment = SegmentFactory(rules={"tags_all": ["local"]})
    campaign = CampaignFactory(segment=segment, send_at=send_at, local_time=True, status=Campaign.Status.RUNNING,
                               started_at=send_at - timedelta(hours=8))

    def rows() -> dict[str, tuple]:
        return {d.subscription.address: (d.send_after, d.reason)
                for d in Delivery.objects.filter(campaign=campaign).select_related("subscription")}

    # when: the pass a minute before Novosibirsk's 10:05 (03:05 UTC)
    delivery.campaign_plan(campaign_id=campaign.pk, now=datetime(2026, 12, 10, 3, 4, tzinfo=UTC))

    # then: only Novosibirsk is planned, for 10:05 there, saying why
    assert rows() == {s.address: (datetime(2026, 12, 10, 3, 5, tzinfo=UTC), "local time: 10:05 in Asia/Novosibirsk")
                      for s in novosibirsk}
    campaign.refresh_from_db()
    assert campaign.planned_at is None and campaign.next_plan_at <= datetime(2026, 12, 10, 7, 5, tzinfo=UTC)

    # when: before Moscow's time a Muscovite joins and a Londoner leaves the segment
    late = person("Europe/Moscow")
    london[0].subscriber.tags.remove(tag)
    delivery.campaign_plan(campaign_id=campaign.pk, now=datetime(2026, 12, 10, 7, 4, tzinfo=UTC))
    delivery.campaign_plan(campaign_id=campaign.pk, now=datetime(2026, 12, 10, 10, 4, tzinfo=UTC))

    # then: Moscow (the newcomer included) at 07:05 UTC, London without the leaver at 10:05
    planned = rows()
    assert {a for a, (at, _) in planned.items() if at == datetime(2026, 12, 10, 7, 5, tzinfo=UTC)} == {
        s.address for s in [*moscow, late]}
    assert {a for a, (at, _) in planned.items() if at == datetime(2026, 12, 10, 10, 5, tzinfo=UTC)} == {
        s.address for s in london[1:]}
    assert len(planned) == 2 + 3 + 2
    # lists are packed in send-time order: each list's next due is its earliest row
    for send_list in SendList.objects.filter(campaign=campaign):
        earliest = min(d.send_after for d in send_list.deliveries.all())
        assert send_list.next_due == earliest


def test_the_sweeper_does_not_enqueue_a_plan_that_is_still_running(settings):
    # given: a running, unplanned campaign whose plan pass holds its advisory lock
    from tests.conftest import CampaignFactory

    settings.TACT_LIST_LEASE_SECONDS = 0
    campaign = CampaignFactory(status=Campaign.Status.RUNNING, started_at=timezone.now() - timedelta(minutes=5))
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    holding, release = threading.Event(), threading.Event()

    def long_plan() -> None:
        from django.db import connections, transaction

        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [7301, campaign.pk])
            holding.set()
            release.wait(10)
        connections["default"].close()

    thread = threading.Thread(target=long_plan)
    thread.start()
    holding.wait(10)
    enqueued: list[int] = []
    try:
        # when
        report = delivery.sweep(now=timezone.now(), enqueue_send=lambda *a: None, enqueue_plan=enqueued.append)
    finally:
        release.set()
        thread.join()

    # then: not enqueued while it runs; enqueued once it is gone
    assert report["replanned"] == 0 and enqueued == []
    report = delivery.sweep(now=timezone.now(), enqueue_send=lambda *a: None, enqueue_plan=enqueued.append)
    assert report["replanned"] == 1 and enqueued == [campaign.pk]


def test_whatsapp_length_is_checked_on_what_is_sent_with_its_buttons():
    # given: a body that fits 4096 alone, but not with the button line WhatsApp gets appended
    from tests.conftest import CampaignFactory, DraftFactory

    draft = DraftFactory(body="Sale\n" + "x" * 4080, buttons=[{"text": "Shop", "url": "https://example.com/a"}],
                         track_links=False)  # a tracked button is longer: test_link_tracking.py
    campaign = CampaignFactory(draft=draft, platforms=["telegram", "whatsapp"],
                               send_at=timezone.now() + timedelta(hours=1))

    # when / then: refused for WhatsApp only, with the numbers
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign)
    assert refused.value.by_field == {"draft": ["whatsapp: the message is 4113 characters, over the limit of 4096"]}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
