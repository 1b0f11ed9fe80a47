"""Recurring campaigns (series): runs made at the right instants by a controllable clock (across
a DST change), exactly one run per occurrence however many beats tick, pause / resume / cancel,
the audience read at each run, quiet hours and caps across runs (end to end with real worker and
beat processes against the fake Telegram), the API and the admin."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.delivery import campaign_plan, campaigns_start_due
from campaigns.delivery.series import series_spawn_runs
from campaigns.models import Campaign, Delivery, FrequencyPolicy, Tag
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until

S = Campaign.Status
D = Delivery.Status
WEEKLY_MONDAY_10 = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0"
TOKEN = "123456:TEST-token"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def no_limits(*, per_day: int | None = None, per_week: int | None = None, quiet: bool = False) -> None:
    policy = FrequencyPolicy.current()
    policy.max_per_day, policy.max_per_week = per_day, per_week
    if not quiet:
        policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()


def people(n: int, *, tag: str = "weekly", tz: str = "Europe/Berlin", first_chat: int = 7000) -> list[int]:
    chats = []
    the_tag = Tag.objects.get_or_create(name=tag)[0]
    for i in range(n):
        person = SubscriberFactory(timezone=tz)
        person.tags.add(the_tag)
        subscribe(person, "telegram", str(first_chat + i))
        chats.append(first_chat + i)
    return chats


def series(*, scheduled_at: datetime, tag: str = "weekly", **fields) -> Campaign:
    """A series over the people tagged `tag`, scheduled through the service at `scheduled_at`."""
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    fields = {"name": "Monday news", "send_at": utc(2030, 3, 25, 9), "timezone": "Europe/Berlin",
              "recurrence": WEEKLY_MONDAY_10, **fields}
    campaign = CampaignFactory(segment=segment, **fields)
    return services.campaign_schedule(campaign=campaign, now=scheduled_at)


def start_and_plan(now: datetime) -> list[Campaign]:
    """One beat tick at `now` as the engine does it, then each started campaign's plan."""
    series_spawn_runs(now=now)
    started = campaigns_start_due(now=now, enqueue_plan=lambda pk: None)
    for pk in started:
        campaign_plan(campaign_id=pk, now=now)
    return list(Campaign.objects.filter(pk__in=started).order_by("pk"))


def send_times(campaign: Campaign) -> set[datetime]:
    return set(Delivery.objects.filter(campaign=campaign).values_list("send_after", flat=True))


def runs_of(campaign: Campaign) -> list[Campaign]:
    return list(Campaign.objects.filter(series=campaign).order_by("occurrence"))


@pytest.mark.django_db
def test_a_weekly_series_runs_at_10_berlin_time_across_the_dst_change():
    # given: three people, a series "Mondays 10:00 Berlin" from Monday 2030-03-25 (CET, UTC+1);
    # Berlin moves to summer time (UTC+2) on Sunday 2030-03-31
    no_limits()
    people(3)
    weekly = series(scheduled_at=utc(2030, 3, 20))
    assert (weekly.status, weekly.send_at, weekly.next_run_at) == (S.SCHEDULED, utc(2030, 3, 25, 9),
                                                                   utc(2030, 3, 25, 9))

    # a minute early: nothing; the series itself is never started, not even when due
    assert start_and_plan(utc(2030, 3, 25, 8, 59)) == []
    # when the clock reaches 10:00 CET = 09:00 UTC
    [first] = start_and_plan(utc(2030, 3, 25, 9))

    # then a run for that occurrence sends to everyone at 09:00 UTC
    assert (first.series_id, first.occurrence, first.send_at) == (weekly.pk, utc(2030, 3, 25, 9), utc(2030, 3, 25, 9))
    assert first.name == "Monday news — 2030-03-25"
    assert first.status == S.RUNNING and first.recurrence == ""
    assert send_times(first) == {utc(2030, 3, 25, 9)}
    assert Delivery.objects.filter(campaign=first).count() == 3
    assert not Delivery.objects.filter(campaign=weekly).exists()
    weekly.refresh_from_db()
    assert (weekly.status, weekly.next_run_at) == (S.SCHEDULED, utc(2030, 4, 1, 8))  # 10:00 CEST

    # the next Monday: nothing at 09:00 UTC's eve, the run at 08:00 UTC (10:00 CEST)
    assert start_and_plan(utc(2030, 4, 1, 7, 59)) == []
    [second] = start_and_plan(utc(2030, 4, 1, 8))
    assert (second.occurrence, second.send_at) == (utc(2030, 4, 1, 8), utc(2030, 4, 1, 8))
    assert send_times(second) == {utc(2030, 4, 1, 8)}
    assert [r.occurrence for r in runs_of(weekly)] == [utc(2030, 3, 25, 9), utc(2030, 4, 1, 8)]
    # a second tick at the same instant makes nothing more
    assert start_and_plan(utc(2030, 4, 1, 8, 0, 1)) == []
    assert len(runs_of(weekly)) == 2


@pytest.mark.django_db
def test_each_run_reads_the_audience_anew_and_sends_the_series_frozen_content():
    no_limits()
    chats = people(2)
    weekly = series(scheduled_at=utc(2030, 3, 20))
    [first] = start_and_plan(utc(2030, 3, 25, 9))
    # between runs: one person joins, one opts out, and the draft is edited
    people(1, first_chat=7100)
    gone = Delivery.objects.get(campaign=first, subscription__address=str(chats[0])).subscription
    services.subscription_opt_out(subscription=gone, consent=services.Consent(source="test"))
    draft = weekly.draft
    draft.body = "A different text written later"
    draft.save()

    [second] = start_and_plan(utc(2030, 4, 1, 8))

    planned = set(Delivery.objects.filter(campaign=second).values_list("subscription__address", flat=True))
    assert planned == {str(chats[1]), "7100"}
    assert second.content_body == weekly.content_body == "−30% on everything today only\nDetails inside…"


@pytest.mark.django_db
def test_scheduling_moves_send_at_to_the_first_occurrence_and_expiry_with_it():
    # send_at Wednesday 12:00 UTC, expiring 3 h later: the first Monday 10:00 Berlin is 2030-03-25 09:00 UTC
    weekly = series(scheduled_at=utc(2030, 3, 1), send_at=utc(2030, 3, 20, 12), expires_at=utc(2030, 3, 20, 15))

    assert (weekly.send_at, weekly.expires_at, weekly.next_run_at) == (
        utc(2030, 3, 25, 9), utc(2030, 3, 25, 12), utc(2030, 3, 25, 9))
    # each run expires as long after its own occurrence (3 h)
    series_spawn_runs(now=utc(2030, 4, 1, 8))
    assert [(r.send_at, r.expires_at) for r in runs_of(weekly)] == [(utc(2030, 4, 1, 8), utc(2030, 4, 1, 11))]


@pytest.mark.django_db
def test_the_last_occurrence_completes_the_series_and_missed_ones_are_not_sent_late():
    # given three daily runs at 09:00 UTC and a beat that was down for the first two
    daily = series(scheduled_at=utc(2030, 1, 1), send_at=utc(2030, 1, 2, 9), timezone="UTC",
                   recurrence="FREQ=DAILY;COUNT=3")
    # when it ticks again after the third's time
    made = series_spawn_runs(now=utc(2030, 1, 4, 9, 30))
    # then only the latest due occurrence runs, and the series is over
    assert [r.occurrence for r in Campaign.objects.filter(pk__in=made)] == [utc(2030, 1, 4, 9)]
    daily.refresh_from_db()
    assert (daily.status, daily.next_run_at) == (S.COMPLETED, None)
    assert daily.finished_at == utc(2030, 1, 4, 9, 30)
    assert series_spawn_runs(now=utc(2030, 1, 10)) == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_beats_make_one_run_per_occurrence():
    # given a due series and four beats ticking at once, each on its own database connection
    daily = series(scheduled_at=utc(2030, 1, 1), send_at=utc(2030, 1, 2, 9), timezone="UTC",
                   recurrence="FREQ=DAILY")
    barrier = threading.Barrier(4)
    made: list[list[int]] = []
    errors: list[BaseException] = []

    def beat() -> None:
        try:
            barrier.wait(10)
            made.append(series_spawn_runs(now=utc(2030, 1, 2, 9, 0, 1)))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then exactly one run, made by exactly one of them
    assert errors == []
    assert sorted(len(ids) for ids in made) == [0, 0, 0, 1]
    assert [r.occurrence for r in runs_of(daily)] == [utc(2030, 1, 2, 9)]
    # and called again (twice) at the same instant: nothing more
    assert series_spawn_runs(now=utc(2030, 1, 2, 9, 0, 2)) == []
    assert series_spawn_runs(now=utc(2030, 1, 2, 9, 0, 2)) == []
    assert len(runs_of(daily)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_series_locked_by_one_beat_is_passed_by_another_and_the_constraint_holds_the_rest():
    daily = series(scheduled_at=utc(2030, 1, 1), send_at=utc(2030, 1, 2, 9), timezone="UTC",
                   recurrence="FREQ=DAILY")
    other: list[list[int]] = []

    def beat() -> None:
        try:
            other.append(series_spawn_runs(now=utc(2030, 1, 2, 9)))
        finally:
            connection.close()

    # while one beat holds the series' row, another passes it by (SKIP LOCKED)
    with transaction.atomic():
        Campaign.objects.select_for_update().get(pk=daily.pk)
        thread = threading.Thread(target=beat)
        thread.start()
        thread.join(30)
    assert other == [[]]
    assert series_spawn_runs(now=utc(2030, 1, 2, 9)) != []
    # a series whose next_run_at points back at an occurrence that has its run (a lost
    # update) gets no second run: the (series, occurrence) pair is unique
    Campaign.objects.filter(pk=daily.pk).update(next_run_at=utc(2030, 1, 2, 9))
    assert series_spawn_runs(now=utc(2030, 1, 2, 9)) == []
    assert [r.occurrence for r in runs_of(daily)] == [utc(2030, 1, 2, 9)]
    daily.refresh_from_db()
    assert daily.next_run_at == utc(2030, 1, 3, 9)


@pytest.mark.django_db
def test_a_paused_series_makes_no_run_and_resuming_does_not_send_the_missed_ones():
    no_limits()
    people(2)
    daily = series(scheduled_at=utc(2029, 12, 1), send_at=utc(2030, 1, 1, 9), timezone="UTC",
                   recurrence="FREQ=DAILY;BYHOUR=9;BYMINUTE=0")
    start_and_plan(utc(2030, 1, 1, 9))
    # when the series is paused for two occurrences
    services.campaign_pause(campaign=daily)
    assert start_and_plan(utc(2030, 1, 2, 9)) == []
    assert start_and_plan(utc(2030, 1, 3, 9)) == []
    # and resumed at noon on the 3rd
    services.campaign_resume(campaign=daily, now=utc(2030, 1, 3, 12))
    daily.refresh_from_db()
    # then the 2nd and 3rd are skipped, not sent late: the next run is the 4th's
    assert (daily.status, daily.next_run_at) == (S.SCHEDULED, utc(2030, 1, 4, 9))
    assert start_and_plan(utc(2030, 1, 3, 12)) == []
    [fourth] = start_and_plan(utc(2030, 1, 4, 9))
    assert [r.occurrence for r in runs_of(daily)] == [utc(2030, 1, 1, 9), utc(2030, 1, 4, 9)]
    assert send_times(fourth) == {utc(2030, 1, 4, 9)}


@pytest.mark.django_db
def test_a_run_waiting_when_its_series_is_paused_waits_and_is_cancelled_if_its_time_passed():
    # given a run made but not started yet (the beat made it, then stopped before starting it)
    daily = series(scheduled_at=utc(2029, 12, 1), send_at=utc(2030, 1, 1, 9), timezone="UTC",
                   recurrence="FREQ=DAILY")
    [run_id] = series_spawn_runs(now=utc(2030, 1, 1, 9))
    # when the series is paused: so is the run, and nothing starts it
    services.campaign_pause(campaign=daily)
    assert Campaign.objects.get(pk=run_id).status == S.PAUSED
    assert campaigns_start_due(now=utc(2030, 1, 1, 9, 5), enqueue_plan=lambda pk: None) == []
    # resumed after its time: it is cancelled, never sent late
    services.campaign_resume(campaign=daily, now=utc(2030, 1, 1, 10))
    assert Campaign.objects.get(pk=run_id).status == S.CANCELLED
    assert not Delivery.objects.filter(campaign_id=run_id).exists()


@pytest.mark.django_db
def test_cancelling_a_series_stops_its_runs_for_good():
    no_limits()
    people(2)
    daily = series(scheduled_at=utc(2029, 12, 1), send_at=utc(2030, 1, 1, 9), timezone="UTC",
                   recurrence="FREQ=DAILY")
    [running] = start_and_plan(utc(2030, 1, 1, 9))
    [waiting] = series_spawn_runs(now=utc(2030, 1, 2, 9))  # made, not started yet

    services.campaign_cancel(campaign=daily)

    daily.refresh_from_db()
    assert (daily.status, daily.next_run_at) == (S.CANCELLED, None)
    assert Campaign.objects.get(pk=waiting).status == S.CANCELLED
    assert Campaign.objects.get(pk=running.pk).status == S.RUNNING  # already sending: cancelled on its own
    assert start_and_plan(utc(2030, 1, 3, 9)) == [] and start_and_plan(utc(2030, 1, 9, 9)) == []
    assert len(runs_of(daily)) == 2


@pytest.mark.django_db
def test_quiet_hours_apply_to_each_run():
    # given quiet hours 21:00-09:00 and a daily series at 22:00 Moscow time
    no_limits(quiet=True)
    policy = FrequencyPolicy.current()
    assert (policy.quiet_start.hour, policy.quiet_end.hour) == (21, 9)
    people(2, tz="Europe/Moscow")
    evening = series(scheduled_at=utc(2030, 1, 1), send_at=utc(2030, 1, 1, 19), timezone="Europe/Moscow",
                     recurrence="FREQ=DAILY;BYHOUR=22;BYMINUTE=0")
    # when two runs are planned (22:00 MSK = 19:00 UTC)
    [first] = start_and_plan(utc(2030, 1, 1, 19))
    [second] = start_and_plan(utc(2030, 1, 2, 19))
    # then each waits for the morning: 09:00 MSK = 06:00 UTC the next day
    assert send_times(first) == {utc(2030, 1, 2, 6)}
    assert send_times(second) == {utc(2030, 1, 3, 6)}
    assert all("quiet hours" in r for r in Delivery.objects.filter(campaign__series=evening)
               .values_list("reason", flat=True))


@pytest.mark.django_db
def test_duplicating_a_series_gives_a_draft_series_and_a_run_a_one_off_draft():
    weekly = series(scheduled_at=utc(2030, 3, 1), recurrence_until=utc(2030, 6, 1))
    [run_id] = series_spawn_runs(now=utc(2030, 3, 25, 9))

    copy = services.campaign_duplicate(campaign=weekly, now=utc(2030, 3, 26))
    run_copy = services.campaign_duplicate(campaign=Campaign.objects.get(pk=run_id), now=utc(2030, 3, 26))

    assert (copy.status, copy.recurrence, copy.timezone, copy.series_id) == (
        S.DRAFT, WEEKLY_MONDAY_10, "Europe/Berlin", None)
    assert copy.recurrence_until - copy.send_at == weekly.recurrence_until - weekly.send_at
    assert (run_copy.status, run_copy.recurrence, run_copy.series_id) == (S.DRAFT, "", None)


@pytest.mark.django_db
def test_scheduling_refuses_a_recurrence_with_no_occurrence_left():
    campaign = CampaignFactory(send_at=utc(2030, 1, 1, 9), timezone="UTC", recurrence="FREQ=DAILY",
                               recurrence_until=utc(2030, 1, 1, 8))
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=utc(2029, 12, 1))
    assert set(refused.value.by_field) == {"recurrence_until"}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.next_run_at) == (S.DRAFT, None)


@pytest.mark.django_db
def test_scheduling_refuses_a_series_that_gives_coupon_codes():
    campaign = CampaignFactory(send_at=utc(2030, 1, 1, 9), timezone="UTC", recurrence="FREQ=DAILY",
                               draft=DraftFactory(body="Your code: {{ coupon }}"))
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=utc(2029, 12, 1))
    assert any("coupon" in m for m in refused.value.by_field["recurrence"])
    assert Campaign.objects.get(pk=campaign.pk).status == S.DRAFT


# --- end to end: real worker and beat processes, the fake Telegram -----------------------


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine(tmp_path, fake):
    running = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url})
    yield running
    running.stop()


GAP = 25  # seconds between the two runs: room for a slow tick on a loaded machine


def _two_runs_soon(now: datetime) -> tuple[datetime, str]:
    """A rule with two occurrences GAP s apart in the same minute, the first 10-40 s from now."""
    first = (now + timedelta(seconds=10)).replace(microsecond=0)
    if first.second + GAP > 59:  # keep both in one minute: a BYSECOND list within one BYMINUTE
        first = first.replace(second=0) + timedelta(minutes=1)
    seconds = f"{first.second},{first.second + GAP}"
    return first, f"FREQ=DAILY;BYHOUR={first.hour};BYMINUTE={first.minute};BYSECOND={seconds};COUNT=2"


@pytest.mark.django_db(transaction=True)
def test_the_weekly_cap_holds_across_the_runs_of_a_series_end_to_end(engine, fake, settings):
    # given a running beat and worker, at most one message a week, three people, and a series
    # whose two runs come seconds apart (an operator may allow that: TACT_RECURRENCE_MIN_GAP_MINUTES)
    settings.TACT_RECURRENCE_MIN_GAP_MINUTES = 0
    no_limits(per_week=1)
    chats = people(3, tz="UTC")
    engine.start()
    first, rule = _two_runs_soon(timezone.now())
    campaign = CampaignFactory(
        name="Flash", segment=SegmentFactory(rules={"tags_all": ["weekly"], "tags_any": [], "platforms": [],
                                                    "attributes": {}}),
        draft=DraftFactory(body="Run of a series\nDetails inside"), send_at=first, timezone="UTC",
        recurrence=rule, expires_at=first + timedelta(minutes=10))
    flash = services.campaign_schedule(campaign=campaign, now=timezone.now())
    assert flash.next_run_at == first

    # when the beat and the worker run through both occurrences
    try:
        wait_until(lambda: Campaign.objects.filter(series=flash, status=S.COMPLETED).count() == 2, 150,
                   "both runs to complete")
    except AssertionError:
        print(engine.logs())
        raise

    # then each person got exactly one message at the platform: the first run's
    assert fake.count_by_chat() == {chat: 1 for chat in chats}
    assert {c.text for c in fake.sent()} == {"Run of a series\nDetails inside"}
    first_run, second_run = runs_of(flash)
    assert (first_run.occurrence, second_run.occurrence) == (first, first + timedelta(seconds=GAP))
    assert Counter(Delivery.objects.filter(campaign=first_run).values_list("status", flat=True)) == {D.SENT: 3}
    # the second run's rows were held by the weekly cap past its expiry: skipped, nothing sent
    second_rows = list(Delivery.objects.filter(campaign=second_run).values_list("status", "reason"))
    assert len(second_rows) == 3
    assert all(status == D.SKIPPED and reason.startswith("weekly cap until") for status, reason in second_rows)
    flash.refresh_from_db()
    assert (flash.status, flash.next_run_at) == (S.COMPLETED, None)
    assert not Delivery.objects.filter(campaign=flash).exists()


# --- API ---------------------------------------------------------------------------------


def _draft_body(**fields) -> dict:
    segment = SegmentFactory()
    draft = DraftFactory()
    return {"name": "Weekly", "draft": draft.pk, "segment": segment.pk, "platforms": ["telegram"],
            "send_at": "2030-03-25T09:00:00Z", **fields}


@pytest.mark.django_db
def test_api_creates_a_series_and_shows_its_next_occurrences(admin_client_api):
    response = admin_client_api.post("/api/campaigns/", _draft_body(
        recurrence=WEEKLY_MONDAY_10, timezone="Europe/Berlin", recurrence_until="2030-04-20T00:00:00Z",
        series=1, next_run_at="2030-01-01T00:00:00Z"), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["recurrence"], data["timezone"], data["recurrence_until"]) == (
        WEEKLY_MONDAY_10, "Europe/Berlin", "2030-04-20T00:00:00Z")
    assert (data["series"], data["occurrence"], data["next_run_at"]) == (None, None, None)  # read-only
    # four Mondays before the end: 10:00 CET, then 10:00 CEST
    assert [datetime.fromisoformat(t) for t in data["next_occurrences"]] == [
        utc(2030, 3, 25, 9), utc(2030, 4, 1, 8), utc(2030, 4, 8, 8), utc(2030, 4, 15, 8)]

    scheduled = admin_client_api.post(f"/api/campaigns/{data['id']}/schedule/")
    assert scheduled.status_code == 200, scheduled.json()
    assert scheduled.json()["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled.json()["next_run_at"]) == utc(2030, 3, 25, 9)


@pytest.mark.django_db
@pytest.mark.parametrize("fields, field", [
    ({"recurrence": "FREQ=WEEKLY;BYDAY=XX"}, "recurrence"),
    ({"recurrence": "every monday"}, "recurrence"),
    ({"recurrence": "FREQ=MINUTELY"}, "recurrence"),
    ({"recurrence": "FREQ=HOURLY;BYMINUTE=0,30"}, "recurrence"),
    ({"recurrence": "FREQ=DAILY;COUNT=2", "send_at": "2020-01-01T09:00:00Z"}, "recurrence"),
    ({"recurrence": "FREQ=DAILY;UNTIL=20200101T000000Z"}, "recurrence"),
    ({"recurrence": "FREQ=DAILY", "timezone": "Mars/Olympus"}, "timezone"),
    ({"recurrence": "FREQ=DAILY", "recurrence_until": "2030-03-01T00:00:00Z"}, "recurrence_until"),
    ({"recurrence_until": "2031-03-01T00:00:00Z"}, "recurrence_until"),
    ({"recurrence": "x" * 501}, "recurrence"),
])
def test_api_refuses_a_bad_recurrence_naming_the_field(admin_client_api, fields, field):
    before = Campaign.objects.count()

    response = admin_client_api.post("/api/campaigns/", _draft_body(**fields), format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Campaign.objects.count() == before


@pytest.mark.django_db
def test_api_lists_a_series_runs_with_status_and_stats(admin_client_api):
    no_limits()
    people(2)
    weekly = series(scheduled_at=utc(2030, 3, 20))
    [first] = start_and_plan(utc(2030, 3, 25, 9))
    Delivery.objects.filter(campaign=first).update(status=D.SENT, sent_at=utc(2030, 3, 25, 9))
    series_spawn_runs(now=utc(2030, 4, 1, 8))

    response = admin_client_api.get(f"/api/campaigns/{weekly.pk}/runs/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    latest, earlier = body["results"]
    assert (latest["status"], latest["series"], latest["occurrence"]) == ("scheduled", weekly.pk,
                                                                          "2030-04-01T08:00:00Z")
    assert (earlier["id"], earlier["status"]) == (first.pk, "running")
    assert (earlier["stats"]["planned"], earlier["stats"]["sent"]) == (2, 2)
    assert latest["stats"]["planned"] == 0
    # filters apply to the runs; a one-off campaign has none
    assert admin_client_api.get(f"/api/campaigns/{weekly.pk}/runs/?status=running").json()["count"] == 1
    assert admin_client_api.get(f"/api/campaigns/{first.pk}/runs/").json()["count"] == 0
    assert admin_client_api.get("/api/campaigns/999999/runs/").status_code == 404


# --- admin -------------------------------------------------------------------------------


def _admin(group: str = "Approver") -> Client:
    user = User.objects.create_user(f"mara-{group.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_admin_series_page_lists_the_next_occurrences_and_the_runs():
    no_limits()
    people(1)
    weekly = series(scheduled_at=utc(2030, 3, 20))
    [first] = start_and_plan(utc(2030, 3, 25, 9))

    page = _admin().get(f"/admin/campaigns/campaign/{weekly.pk}/change/").content.decode()

    assert "in the campaign&#x27;s zone (Europe/Berlin)" in page
    # the next five Mondays at 10:00 Berlin time, from the next run on
    for day in ("2030-04-01", "2030-04-08", "2030-04-15", "2030-04-22", "2030-04-29"):
        assert f"Mon {day} 10:00" in page
    assert "Mon 2030-05-06 10:00" not in page
    assert f'href="/admin/campaigns/campaign/{first.pk}/change/"' in page
    assert "Monday news — 2030-03-25" in page
    run_page = _admin("Analyst").get(f"/admin/campaigns/campaign/{first.pk}/change/").content.decode()
    assert f'href="/admin/campaigns/campaign/{weekly.pk}/change/"' in run_page


@pytest.mark.django_db
def test_admin_form_refuses_a_bad_rule_with_a_form_error_and_saves_a_good_one():
    segment, draft = SegmentFactory(), DraftFactory()
    form = {"name": "Weekly", "draft": draft.pk, "segment": segment.pk, "platforms": ["telegram"],
            "send_at_0": "2030-03-25", "send_at_1": "10:00:00", "expires_at_0": "", "expires_at_1": "",
            "timezone": "Europe/Berlin", "recurrence_until_0": "", "recurrence_until_1": "",
            "kind": "standard", "ab_metric": "clicks"}  # the other kinds' fields, at their defaults
    client = _admin()

    refused = client.post("/admin/campaigns/campaign/add/", {**form, "recurrence": "FREQ=MINUTELY"})

    assert refused.status_code == 200
    assert "FREQ=MINUTELY repeats more often than hourly" in refused.content.decode()
    assert not Campaign.objects.exists()
    page = client.get("/admin/campaigns/campaign/add/").content.decode()
    assert 'list="tact-recurrence-presets"' in page and "FREQ=DAILY;BYHOUR=9;BYMINUTE=30" in page

    saved = client.post("/admin/campaigns/campaign/add/", {**form, "recurrence": WEEKLY_MONDAY_10})

    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.recurrence, campaign.timezone) == (WEEKLY_MONDAY_10, "Europe/Berlin")
