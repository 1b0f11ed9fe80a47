"""`GET /health/`, the System page and the campaign page's banner, against real worker and beat
processes (`celery -A config worker` / `beat` as the README starts them), Redis and PostgreSQL:
503 naming each queue without a worker, a stopped beat, a broker that is down; 200 once all is
well. And two beats at once change nothing (ticks are idempotent)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone

from campaigns import health, services
from campaigns.models import (
    Campaign,
    Delivery,
    FrequencyPolicy,
    Heartbeat,
    SendList,
    Subscriber,
    Tag,
    UserProfile,
)
from campaigns.tasks import tick
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN = "123456:TEST-token"
QUEUES = list(django_settings.TACT_QUEUES)


@pytest.fixture(autouse=True)
def _workers_asked_afresh():
    cache.delete(health.QUEUES_CACHE_KEY)
    yield
    cache.delete(health.QUEUES_CACHE_KEY)


@pytest.fixture
def engines(tmp_path):
    started: list[Engine] = []

    def make(**env: str) -> Engine:
        engine = Engine(tmp_path, env)
        started.append(engine)
        return engine

    yield make
    for engine in started:
        engine.stop()


def get_health(client: Client | None = None) -> tuple[int, dict]:
    response = (client or Client()).get("/health/")
    return response.status_code, response.json()


def reason_checks(body: dict) -> list[str]:
    return [r["check"] for r in body["reasons"]]


def viewer(username: str = "boss", zone: str = "UTC", group: str | None = None) -> Client:
    if group is None:
        user = User.objects.create_superuser(username, f"{username}@example.com", "x-secret-123")
    else:
        user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
    UserProfile.objects.create(user=user, timezone=zone, language="en")
    client = Client()
    client.force_login(user)
    return client


def banner(page: str) -> list[str]:
    """The reasons in the campaign page's "cannot move" banner."""
    match = re.search(r"<section[^>]*data-held-up[^>]*>(.*?)</section>", page, re.S)
    if match is None:
        return []
    return [unescape(re.sub(r"\s+", " ", item)).strip() for item in re.findall(r"<li[^>]*>(.*?)</li>", match[1], re.S)]


def running(name: str, platforms: list[str], **fields) -> Campaign:
    campaign = CampaignFactory(name=name, platforms=platforms)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, started_at=timezone.now(),
                                                   **fields)
    return Campaign.objects.get(pk=campaign.pk)


def test_no_worker_names_each_queue_and_its_campaign_then_a_worker_and_beat_make_it_200(engines):
    # given: a running Telegram campaign whose next list waits for its time, no worker, no
    # beat, and one message waiting in the telegram queue
    campaign = running("Telegram BF", ["telegram"], planned_at=timezone.now())
    SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=1,
                            next_due=timezone.now() + timedelta(hours=1))
    engine = engines()  # empties the test broker: no worker listens
    tick.apply_async(queue="telegram")
    boss = viewer()

    # when
    status, body = get_health()
    page = boss.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    # then: 503, each queue named, the beat that never ticked, and the campaign with its reasons
    assert status == 503
    assert reason_checks(body) == ["queues", "queues", "queues", "queues", "beat", "campaigns"]
    assert [r["text"] for r in body["reasons"][:4]] == [f"no worker consumes the {q} queue" for q in QUEUES]
    assert body["reasons"][4]["text"] == (
        "beat has never ticked: nothing is started or dispatched (celery -A config beat)")
    assert [(q["name"], q["workers"], q["depth"]) for q in body["queues"]] == [
        ("celery", [], 0), ("telegram", [], 1), ("whatsapp", [], 0), ("viber", [], 0)]
    held_up = ["no worker consumes the celery queue", "no worker consumes the telegram queue",
               "beat has never ticked: nothing is started or dispatched (celery -A config beat)"]
    assert body["campaigns"] == [{"id": campaign.pk, "reasons": held_up}]
    assert "Telegram BF" not in str(body)  # ids only: nothing but our own words in the public answer
    assert (body["database"], body["broker"]) == ({"ok": True, "error": ""},
                                                  {"ok": True, "transport": "redis", "error": ""})
    assert banner(page) == held_up

    # when: `celery -A config worker` (every queue) and beat start
    engine.start()
    wait_until(lambda: get_health()[0] == 200, 90, "/health/ to answer 200")

    # then: every queue has the worker, the telegram message was taken, beat ticks, nothing held up
    status, body = get_health()
    assert (status, body["status"], body["reasons"], body["campaigns"]) == (200, "ok", [], [])
    hosts = {tuple(q["workers"]) for q in body["queues"]}
    assert len(hosts) == 1 and len(next(iter(hosts))) == 1, body["queues"]
    assert body["queues"][1]["depth"] == 0
    assert body["beat"]["ok"] is True and body["beat"]["age_seconds"] <= body["beat"]["stale_after_seconds"]
    assert banner(boss.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()) == []


def test_a_stopped_beat_answers_503_with_its_last_tick_and_200_once_beat_runs_again(engines, settings):
    # given: a worker and beat, all well
    engine = engines().start()
    wait_until(lambda: get_health()[0] == 200, 90, "/health/ to answer 200")

    # when: beat stops (and ticks go stale after 3 s)
    os.killpg(engine.beat.pid, signal.SIGKILL)
    engine.beat.wait(10)
    settings.TACT_BEAT_STALE_SECONDS = 3
    wait_until(lambda: get_health()[0] == 503, 60, "/health/ to notice beat stopped")

    # then: beat, and only beat, is named, with its last tick
    status, body = get_health()
    last = Heartbeat.objects.get(name=health.BEAT_TICK).at
    assert (status, reason_checks(body)) == (503, ["beat"]), body
    assert body["reasons"][0]["text"] == (
        f"beat has not ticked since {last:%Y-%m-%d %H:%M:%S} UTC: nothing is started or dispatched "
        f"(celery -A config beat)")
    assert body["beat"]["ok"] is False and body["beat"]["age_seconds"] > 3
    assert all(q["workers"] for q in body["queues"])

    # when: beat runs again
    settings.TACT_BEAT_STALE_SECONDS = 10
    engine.start_beat()

    # then: it ticks, and all is well again
    wait_until(lambda: Heartbeat.objects.get(name=health.BEAT_TICK).at > last, 60, "a new tick")
    wait_until(lambda: get_health()[0] == 200, 60, "/health/ to answer 200 again")


def test_a_broker_that_is_down_answers_503_naming_it_at_once_and_never_500(live_server):
    # given: beat ticked just now; then Redis (broker and cache) is unreachable
    from config.celery import app

    health.heartbeat_record(health.BEAT_TICK, now=timezone.now())
    down = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    reachable = app.conf.broker_url
    app.conf.broker_url = down
    try:
        with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                                   "LOCATION": down}}):
            # when: over HTTP, as a monitor asks (a hang would time out here)
            answer = httpx.get(f"{live_server.url}/health/", timeout=10)
    finally:
        app.conf.broker_url = reachable

    # then: 503, the broker named with the driver's words, nothing else blamed
    body = answer.json()
    assert (answer.status_code, body["status"], reason_checks(body)) == (503, "unhealthy", ["broker"])
    assert body["reasons"][0]["text"].startswith("the broker cannot be reached: ")
    assert "Connection refused" in body["reasons"][0]["text"]
    assert body["broker"]["ok"] is False
    assert [(q["name"], q["ok"], q["workers"], q["depth"]) for q in body["queues"]] == [
        (q, False, [], None) for q in QUEUES]
    assert (body["database"]["ok"], body["beat"]["ok"]) == (True, True)


def test_a_campaign_held_up_by_a_refusal_and_a_missing_worker_says_why_in_the_viewers_zone():
    # given: workers on every queue but telegram (as last asked), beat ticking, and a Telegram
    # campaign refused since 14:02 UTC
    cache.set(health.QUEUES_CACHE_KEY, {"queues": ["celery", "whatsapp", "viber"], "error": "",
                                        "workers": {"celery": ["w1@host"], "whatsapp": ["w1@host"],
                                                    "viber": ["w1@host"]}}, 30)
    health.heartbeat_record(health.BEAT_TICK, now=timezone.now())
    since = datetime(2026, 11, 25, 14, 2, tzinfo=UTC)
    refused = running("Refused BF", ["telegram"], problem="Telegram refuses our account: Unauthorized",
                      problem_since=since)
    fine = running("Viber news", ["viber"])

    # when
    moscow = viewer("olga", "Europe/Moscow")
    page = moscow.get(f"/admin/campaigns/campaign/{refused.pk}/change/").content.decode()
    other = moscow.get(f"/admin/campaigns/campaign/{fine.pk}/change/").content.decode()
    system = viewer("oleg", "Asia/Vladivostok", group="Operator").get("/admin/system/")
    status, body = get_health()

    # then: the page says why in the viewer's zone (14:02 UTC is 17:02 in Moscow), the other is quiet
    assert banner(page) == ["held up since 2026-11-25 17:02 Europe/Moscow: Telegram refuses our account: "
                            "Unauthorized", "no worker consumes the telegram queue"]
    assert banner(other) == []
    # the System page: the same, its campaign named and linked, in the operator's zone
    text = unescape(re.sub(r"\s+", " ", system.content.decode()))
    assert system.status_code == 200
    assert "no worker consumes the telegram queue" in text
    assert f'<a href="/admin/campaigns/campaign/{refused.pk}/change/">Refused BF</a>' in text
    assert "held up since 2026-11-26 00:02 Asia/Vladivostok: Telegram refuses our account: Unauthorized" in text
    assert "Viber news" not in text
    # /health/: the same in the installation's zone (UTC)
    assert status == 503
    assert [r["text"] for r in body["reasons"]] == [
        "no worker consumes the telegram queue",
        f"campaign {refused.pk} cannot move: held up since 2026-11-25 14:02 UTC: Telegram refuses our account: "
        f"Unauthorized; no worker consumes the telegram queue"]
    # only operators see the System page
    assert viewer("mia", group="Marketer").get("/admin/system/").status_code == 403


def test_a_list_overdue_with_nothing_sent_meanwhile_holds_a_campaign_up(settings):
    # given: a running campaign whose list was due 11 minutes ago (threshold 10) and has not moved
    settings.TACT_HEALTH_OVERDUE_SECONDS = 600
    now = timezone.now()
    campaign = running("Stuck", ["telegram"], planned_at=now - timedelta(minutes=12))
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=2,
                                        state=SendList.State.QUEUED, next_due=now - timedelta(minutes=11))
    people = [SubscriberFactory(), SubscriberFactory()]
    for person in people:
        Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person),
                                platform="telegram", send_list=send_list, list_number=1,
                                send_after=now - timedelta(minutes=11))
    everyone = {"queues": QUEUES, "workers": {}, "error": ""}
    ticking = {"ok": True}

    # when
    stuck = health.campaigns_held_up(now=now, workers=everyone, broker_ok=True, beat=ticking)
    # one of its rows sent 9 minutes ago: a campaign held back by its ceiling is still moving
    Delivery.objects.filter(subscriber=people[0]).update(status=Delivery.Status.SENT,
                                                         sent_at=now - timedelta(minutes=9))
    moving = health.campaigns_held_up(now=now, workers=everyone, broker_ok=True, beat=ticking)

    # then
    assert stuck == [{"id": campaign.pk, "reasons": [
        "1 list is overdue by more than 10 minutes and nothing was sent meanwhile"]}]
    assert moving == []


# --- two beats at once -------------------------------------------------------------------


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


def test_two_beats_at_once_send_each_person_exactly_one_message_and_nothing_else_twice(engines, fake, tmp_path):
    # given: 23 people on Telegram in lists of 5, a worker, and two beats (one started by mistake)
    p = FrequencyPolicy.current()  # no cap, no quiet hours: everyone is due now
    p.max_per_day = p.max_per_week = None
    p.quiet_start = p.quiet_end = datetime.min.time()
    p.save()
    tag = Tag.objects.create(name="all")
    chats = []
    for i in range(23):
        person = SubscriberFactory(timezone="Europe/Moscow")
        person.tags.add(tag)
        subscribe(person, "telegram", str(7000 + i))
        chats.append(7000 + i)
    engine = engines(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake.base_url, TACT_LIST_SIZE_TELEGRAM="5")
    engine.start()
    second = engine.start_beat()
    time.sleep(2)  # both beats ticking

    # when: a campaign falls due
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = services.campaign_schedule(campaign=CampaignFactory(segment=segment, send_at=send_at),
                                          now=send_at - timedelta(seconds=5))
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 90,
               "the campaign to complete")
    time.sleep(3)  # more ticks from both beats after it completed

    # then: both beats were still running, and everything happened once
    assert engine.beat.poll() is None and second.poll() is None, engine.logs()
    assert fake.count_by_chat() == dict.fromkeys(chats, 1)
    assert len(fake.calls()) == 23
    assert Counter(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True)) == {"sent": 23}
    assert sorted(SendList.objects.filter(campaign=campaign).values_list("number", flat=True)) == [1, 2, 3, 4, 5]
    assert Delivery.objects.filter(campaign=campaign).values("subscriber").distinct().count() == 23
    worker_log = "\n".join(log.read_text() for log in sorted(tmp_path.glob("worker*.log")))
    assert len(re.findall(rf"campaign {campaign.pk} planned: 23 deliveries", worker_log)) == 1, worker_log
    assert Heartbeat.objects.filter(name=health.BEAT_TICK).count() == 1
    assert Subscriber.objects.count() == 23
