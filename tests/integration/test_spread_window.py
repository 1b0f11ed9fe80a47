"""Spread and send windows: rows planned evenly over N hours and only inside each person's
local window (on top of quiet hours), measured at a fake Telegram with real worker and beat
processes; the sender's own check when a row's retry time comes while the window is closed;
the API, the admin form and the forecast's timeline."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.utils import timezone

from campaigns import delivery, services
from campaigns.models import Campaign, Delivery, FrequencyPolicy, SendList, Tag
from channels.models import OutboxMessage
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until

TOKEN = "123456:TEST-token"
S = Delivery.Status
# Zones without daylight saving time, one per offset: a test picks the ones whose clocks
# are inside or outside a window right now.
FIXED_ZONES = {
    "Pacific/Pago_Pago": -11, "Pacific/Honolulu": -10, "Pacific/Gambier": -9, "Pacific/Pitcairn": -8,
    "America/Phoenix": -7, "America/Regina": -6, "America/Bogota": -5, "America/Caracas": -4,
    "America/Sao_Paulo": -3, "Atlantic/South_Georgia": -2, "Atlantic/Cape_Verde": -1, "Africa/Abidjan": 0,
    "Africa/Lagos": 1, "Africa/Johannesburg": 2, "Europe/Moscow": 3, "Asia/Dubai": 4, "Asia/Karachi": 5,
    "Asia/Dhaka": 6, "Asia/Bangkok": 7, "Asia/Shanghai": 8, "Asia/Tokyo": 9, "Australia/Brisbane": 10,
    "Pacific/Noumea": 11, "Asia/Kamchatka": 12, "Pacific/Tongatapu": 13, "Pacific/Kiritimati": 14,
}


def policy(*, quiet: tuple[time, time] | None = None) -> None:
    """No caps; quiet hours only when given."""
    p = FrequencyPolicy.current()
    p.max_per_day = p.max_per_week = None
    p.quiet_start, p.quiet_end = quiet or (time(0), time(0))
    p.save()


def people(zones: list[str], *, tag: str = "all", first_chat: int = 1000) -> dict[int, str]:
    """One Telegram person per zone given, created in a shuffled order: {chat id: zone}."""
    chats = list(range(first_chat, first_chat + len(zones)))
    random.Random(12).shuffle(chats)
    made = {}
    for chat, zone in zip(chats, zones, strict=True):
        person = SubscriberFactory(timezone=zone)
        person.tags.add(Tag.objects.get_or_create(name=tag)[0])
        subscribe(person, "telegram", str(chat))
        made[chat] = zone
    return made


def segment(tag: str = "all"):
    return SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})


def zone_where(now: datetime, *, earliest: time, latest: time) -> str:
    """A fixed-offset zone whose clock now reads between earliest and latest (may wrap midnight)."""
    for name in FIXED_ZONES:
        clock = now.astimezone(ZoneInfo(name)).time()
        inside = earliest <= clock <= latest if earliest <= latest else (clock >= earliest or clock <= latest)
        if inside:
            return name
    raise AssertionError(f"no zone reads {earliest}-{latest} at {now}")


def next_opening(now: datetime, zone: str, opens: time) -> datetime:
    """Worked out independently of the code under test: the next `opens` on the zone's clock."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date() if local.time() < opens else local.date() + timedelta(days=1)
    return datetime.combine(day, opens, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --- end to end: worker, beat, fake Telegram -------------------------------------------


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine(tmp_path, fake):
    running = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url})
    yield running.start(1)
    running.stop()


def schedule_now(campaign: Campaign, send_at: datetime) -> Campaign:
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


@pytest.mark.django_db(transaction=True)
def test_a_spread_campaign_sends_evenly_over_its_hours_and_nothing_before_send_at(engine, fake):
    # given: 40 people on Telegram (a worker and beat already running), a campaign spread over
    # 0.015 h = 54 s: one message every 1.35 s instead of all 40 within a second and a half
    policy()
    chats = people([random.Random(3).choice(list(FIXED_ZONES)) for _ in range(40)])
    send_at = timezone.now() + timedelta(seconds=6)
    campaign = schedule_now(CampaignFactory(segment=segment(), send_at=send_at, spread_hours=0.015), send_at)

    # when: the beat starts it and the worker sends as rows come due
    try:
        wait_until(lambda: len(fake.sent()) >= 40, 240, "40 messages at the fake")
        wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 60,
                   "the campaign to complete")
    except AssertionError:
        print(engine.logs())
        raise

    # then: everyone got exactly one message, none before send_at
    assert fake.count_by_chat() == {chat: 1 for chat in chats}
    start, spread = send_at.timestamp(), 0.015 * 3600
    walls = sorted(c.wall for c in fake.sent())
    assert walls[0] >= start
    # and each quarter of the 54 s got about a quarter of them (at the ceiling all 40 would be in the first)
    quarters = Counter(min(3, int((wall - start) // (spread / 4))) for wall in walls)
    assert [quarters[q] for q in range(4)] == pytest.approx([10, 10, 10, 10], abs=3), (quarters, walls)
    # the ledger planned them 1.35 s apart from send_at (the reason went when each was sent)
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("send_after"))
    gaps = [(b.send_after - a.send_after).total_seconds() for a, b in zip(rows, rows[1:], strict=False)]
    assert gaps == pytest.approx([1.35] * 39, abs=0.001)
    assert rows[0].send_after == send_at
    assert {r.status for r in rows} == {S.SENT}


@pytest.mark.django_db(transaction=True)
def test_people_whose_window_is_closed_get_nothing_and_wait_for_it_even_when_their_retry_comes(engine, fake):
    # given: a 10:00-20:00 window; 12 people where it is open (11:00-18:30 now), 12 where it is
    # closed (21:00-08:00 now: it neither opens nor closes during the test), a short spread
    policy()
    now = timezone.now()
    open_zone = zone_where(now, earliest=time(11), latest=time(18, 30))
    closed_zone = zone_where(now, earliest=time(21), latest=time(8))
    chats = people([open_zone, closed_zone] * 12)
    open_chats = {c for c, z in chats.items() if z == open_zone}
    closed_chats = {c for c, z in chats.items() if z == closed_zone}
    send_at = timezone.now() + timedelta(seconds=5)
    campaign = schedule_now(CampaignFactory(segment=segment(), send_at=send_at, spread_hours=0.01,
                                            send_window_start=time(10), send_window_end=time(20)), send_at)

    # when: the open zone's people have their messages
    try:
        wait_until(lambda: {c.chat_id for c in fake.sent()} >= open_chats, 240, "the open zone's messages")
    except AssertionError:
        print(engine.logs())
        raise

    # then: nothing went to the closed zone; their rows wait for 10:00 there, saying why
    opening = next_opening(now, closed_zone, time(10))
    assert fake.count_by_chat() == {chat: 1 for chat in open_chats}
    waiting = Delivery.objects.filter(campaign=campaign, subscription__address__in=[str(c) for c in closed_chats])
    assert {(d.status, d.send_after) for d in waiting} == {(S.PLANNED, opening)}
    for row in waiting:
        assert row.reason.endswith(f"send window 10:00-20:00 in {closed_zone} until 10:00 local "
                                   f"({opening:%Y-%m-%d %H:%M} UTC)"), row.reason

    # when: their retry time comes while the window is still closed (as after a platform's
    # temporary failure): the rows are due and their list is back in line
    due = timezone.now() - timedelta(seconds=1)
    waiting.update(send_after=due, reason="retrying (1): timed out")
    SendList.objects.filter(campaign=campaign).update(state=SendList.State.WAITING, next_due=due)
    try:
        wait_until(lambda: set(waiting.values_list("status", flat=True)) == {S.HELD}, 120,
                   "the sender to hold the closed zone's rows")
    except AssertionError:
        print(engine.logs())
        raise

    # then: the sender held them until the window opens, and still sent them nothing
    assert {(d.send_after, d.reason) for d in waiting} == {
        (opening, f"send window 10:00-20:00 until {opening:%Y-%m-%d %H:%M} UTC")}
    assert fake.count_by_chat() == {chat: 1 for chat in open_chats}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING


# --- planning and the sender, driven by the clock ---------------------------------------


@pytest.mark.django_db
def test_planning_spaces_rows_evenly_in_packing_order_and_lists_are_due_at_their_first_row(settings):
    # given: 8 people in Moscow, lists of 3, a campaign at 12:00 Moscow spread over 2 hours
    settings.TACT_SEND_BATCH = 3
    policy(quiet=(time(21), time(9)))
    people(["Europe/Moscow"] * 8)
    send_at = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    campaign = CampaignFactory(segment=segment(), send_at=send_at, spread_hours=2, status=Campaign.Status.RUNNING,
                               started_at=send_at)

    # when
    delivery.campaign_plan(campaign_id=campaign.pk, now=send_at)

    # then: one row every 15 minutes, each saying where it is in the spread
    rows = list(Delivery.objects.filter(campaign=campaign).order_by("send_after", "pk"))
    assert [r.send_after for r in rows] == [send_at + timedelta(minutes=15 * i) for i in range(8)]
    assert [r.reason for r in rows] == [f"spread over 2 h: +{15 * i // 60}:{15 * i % 60:02d}:00" for i in range(8)]
    # lists of 3, 3, 2 in send-time order, each due at its earliest row
    assert [r.list_number for r in rows] == [1, 1, 1, 2, 2, 2, 3, 3]
    assert list(SendList.objects.filter(campaign=campaign).order_by("number").values_list("next_due", flat=True)) == [
        send_at, send_at + timedelta(minutes=45), send_at + timedelta(minutes=90)]


@pytest.mark.django_db
def test_planning_moves_each_zone_into_its_window_and_out_of_quiet_hours_saying_why():
    # given: quiet 21:00-09:00, a 10:00-20:00 window, send_at 16:30 UTC: 19:30 in Moscow (open),
    # 20:30 in Dubai (window closed), 01:30 in Tokyo (quiet, then the window opens at 10:00)
    policy(quiet=(time(21), time(9)))
    people(["Europe/Moscow", "Asia/Dubai", "Asia/Tokyo"])
    send_at = datetime(2030, 1, 1, 16, 30, tzinfo=UTC)
    campaign = CampaignFactory(segment=segment(), send_at=send_at, send_window_start=time(10),
                               send_window_end=time(20), status=Campaign.Status.RUNNING, started_at=send_at)

    delivery.campaign_plan(campaign_id=campaign.pk, now=send_at)

    rows = {d.subscriber.timezone: (d.send_after, d.reason)
            for d in Delivery.objects.filter(campaign=campaign).select_related("subscriber")}
    assert rows == {
        "Europe/Moscow": (send_at, ""),
        # 10:00 in Dubai (UTC+4) on Jan 2 = 06:00 UTC
        "Asia/Dubai": (datetime(2030, 1, 2, 6, 0, tzinfo=UTC),
                       "send window 10:00-20:00 in Asia/Dubai until 10:00 local (2030-01-02 06:00 UTC)"),
        # quiet until 09:00 Tokyo, then the window opens at 10:00 Tokyo (UTC+9) = 01:00 UTC
        "Asia/Tokyo": (datetime(2030, 1, 2, 1, 0, tzinfo=UTC),
                       "quiet hours and send window 10:00-20:00 in Asia/Tokyo until 10:00 local "
                       "(2030-01-02 01:00 UTC)"),
    }


@pytest.mark.django_db
def test_the_sender_holds_a_due_row_while_the_persons_window_is_closed(settings):
    # given: a window opening two hours from now in Abidjan (UTC+0), so open now in Moscow (UTC+3)
    settings.TELEGRAM_BOT_TOKEN = ""  # the sandbox: what is sent lands in the outbox
    policy()
    now = timezone.now()
    opens = (now + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    window = (opens.time(), (opens + timedelta(hours=2)).time())
    chats = people(["Africa/Abidjan", "Europe/Moscow"])
    abidjan, moscow = (str(c) for c, _ in sorted(chats.items(), key=lambda item: item[1]))
    campaign = CampaignFactory(segment=segment(), send_at=now - timedelta(minutes=1), send_window_start=window[0],
                               send_window_end=window[1], status=Campaign.Status.RUNNING, started_at=now)
    delivery.campaign_plan(campaign_id=campaign.pk, now=now)
    row = Delivery.objects.get(campaign=campaign, subscription__address=abidjan)
    assert row.send_after == opens
    # when: her row's retry time comes before the window opens and the list is sent
    Delivery.objects.filter(pk=row.pk).update(send_after=now - timedelta(seconds=1))
    for send_list in SendList.objects.filter(campaign=campaign):
        delivery.list_send(list_id=send_list.pk)

    # then: Moscow got it, Abidjan did not; her row is held until the window opens, saying why
    assert list(OutboxMessage.objects.values_list("address", flat=True)) == [moscow]
    row.refresh_from_db()
    assert (row.status, row.send_after) == (S.HELD, opens)
    assert row.reason == f"send window {window[0]:%H:%M}-{window[1]:%H:%M} until {opens:%Y-%m-%d %H:%M} UTC"


@pytest.mark.django_db
def test_scheduling_refuses_a_window_inside_quiet_hours(admin_client_api):
    policy(quiet=(time(21), time(9)))
    campaign = CampaignFactory(send_at=timezone.now() + timedelta(hours=1), send_window_start=time(22),
                               send_window_end=time(23, 30))
    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    assert answer.status_code == 400
    assert "22:00-23:30 lies entirely inside the quiet hours 21:00-09:00" in answer.json()["send_window_start"][0]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


# --- API --------------------------------------------------------------------------------


def _body(campaign_or_none=None, **fields) -> dict:
    campaign = campaign_or_none or CampaignFactory()
    return {"name": "Spread", "draft": campaign.draft_id, "segment": campaign.segment_id, "platforms": ["telegram"],
            "send_at": "2030-01-01T09:00:00Z", **fields}


@pytest.mark.django_db
def test_the_api_writes_and_reads_spread_and_window_as_hours_and_hh_mm(admin_client_api):
    policy(quiet=(time(21), time(9)))
    answer = admin_client_api.post("/api/campaigns/", _body(spread_hours=2.5, send_window_start="10:00",
                                                            send_window_end="20:00"), format="json")
    assert answer.status_code == 201, answer.json()
    assert {k: answer.json()[k] for k in ("spread_hours", "send_window_start", "send_window_end")} == {
        "spread_hours": 2.5, "send_window_start": "10:00", "send_window_end": "20:00"}
    stored = Campaign.objects.get(pk=answer.json()["id"])
    assert (stored.spread_hours, stored.send_window_start, stored.send_window_end) == (2.5, time(10), time(20))
    # a window across midnight; then none at all
    changed = admin_client_api.patch(f"/api/campaigns/{stored.pk}/", {"send_window_start": "20:00",
                                                                       "send_window_end": "02:00"}, format="json")
    assert changed.status_code == 200 and changed.json()["send_window_end"] == "02:00"
    cleared = admin_client_api.patch(f"/api/campaigns/{stored.pk}/", {"send_window_start": None,
                                                                       "send_window_end": None, "spread_hours": None},
                                     format="json")
    assert cleared.status_code == 200
    assert [cleared.json()[k] for k in ("spread_hours", "send_window_start", "send_window_end")] == [None] * 3


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "field"), [
    ({"send_window_start": "10:00"}, "send_window_end"),
    ({"send_window_end": "20:00"}, "send_window_start"),
    ({"send_window_start": "10:00", "send_window_end": "10:00"}, "send_window_end"),
    ({"send_window_start": "25:00", "send_window_end": "10:00"}, "send_window_start"),
    ({"send_window_start": "10:00:00", "send_window_end": "20:00"}, "send_window_start"),
    ({"send_window_start": 10, "send_window_end": "20:00"}, "send_window_start"),
    ({"spread_hours": 0}, "spread_hours"),
    ({"spread_hours": 168.5}, "spread_hours"),
    ({"spread_hours": "many"}, "spread_hours"),
    ({"spread_hours": 3, "expires_at": "2030-01-01T11:00:00Z"}, "spread_hours"),
    ({"send_window_start": "22:00", "send_window_end": "23:00"}, "send_window_start"),
])
def test_the_api_refuses_a_bad_spread_or_window_naming_the_field(admin_client_api, fields, field):
    policy(quiet=(time(21), time(9)))
    before = Campaign.objects.count()
    answer = admin_client_api.post("/api/campaigns/", _body(**fields), format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == [field]
    assert Campaign.objects.count() == before + 1  # only the factory's campaign _body made


@pytest.mark.django_db
def test_a_patch_is_checked_with_the_stored_half_of_the_window(admin_client_api):
    policy()
    campaign = CampaignFactory(send_window_start=time(10), send_window_end=time(20))
    answer = admin_client_api.patch(f"/api/campaigns/{campaign.pk}/", {"send_window_end": "10:00"}, format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["send_window_end"]
    assert Campaign.objects.get(pk=campaign.pk).send_window_end == time(20)


@pytest.mark.django_db
def test_a_duplicate_keeps_the_spread_and_the_window(admin_client_api):
    campaign = CampaignFactory(spread_hours=3, send_window_start=time(20), send_window_end=time(2))
    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/duplicate/")
    assert answer.status_code == 201
    assert [answer.json()[k] for k in ("spread_hours", "send_window_start", "send_window_end")] == [3.0, "20:00", "02:00"]


# --- forecast ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_forecast_timeline_counts_messages_per_hour_after_spread(admin_client_api):
    policy(quiet=(time(21), time(9)))
    people(["Europe/Moscow"] * 8)
    campaign = CampaignFactory(segment=segment(), send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC), spread_hours=2)

    body = admin_client_api.get(f"/api/campaigns/{campaign.pk}/forecast/").json()

    # rows every 15 minutes from 09:00: 4 in the 09:00 hour, 4 in the 10:00 hour
    assert body["timeline"] == [{"hour": "2030-01-01T09:00:00+00:00", "count": 4},
                                {"hour": "2030-01-01T10:00:00+00:00", "count": 4}]
    assert body["duration_seconds"] == 7200


@pytest.mark.django_db
def test_the_forecast_timeline_follows_windows_and_quiet_hours_in_each_zone(admin_client_api):
    # given: the planning test's zones, 4 in Moscow (open), 2 in Dubai (10:00 next day), 1 in Tokyo
    policy(quiet=(time(21), time(9)))
    people(["Europe/Moscow"] * 4 + ["Asia/Dubai"] * 2 + ["Asia/Tokyo"])
    campaign = CampaignFactory(segment=segment(), send_at=datetime(2030, 1, 1, 16, 30, tzinfo=UTC),
                               send_window_start=time(10), send_window_end=time(20))

    timeline = admin_client_api.get(f"/api/campaigns/{campaign.pk}/forecast/").json()["timeline"]

    # then: every hour from 16:00 UTC on Jan 1 to 06:00 UTC on Jan 2, zeros between
    assert len(timeline) == 15
    counts = {b["hour"]: b["count"] for b in timeline if b["count"]}
    assert counts == {"2030-01-01T16:00:00+00:00": 4, "2030-01-02T01:00:00+00:00": 1, "2030-01-02T06:00:00+00:00": 2}


@pytest.mark.django_db
def test_the_campaign_page_draws_the_forecast_timeline(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    policy()
    people(["Europe/Moscow"] * 3)
    campaign = CampaignFactory(segment=segment(), send_at=datetime(2030, 1, 1, 9, 0, tzinfo=UTC), spread_hours=1.5)

    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()

    assert 'data-chart="forecast-timeline"' in page
    assert "Messages expected per hour" in page
    assert "Spread evenly over 1.5 hours" in page or "Spread evenly over 1,5 hours" in page
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/forecast/").content.decode().count(
        'data-chart="forecast-timeline"') == 1


# --- admin form -------------------------------------------------------------------------


def _admin_form(client, url: str, **mine: str) -> dict:
    """What the page's form would post as it stands, with `mine` changed."""
    page = client.get(url)
    form = page.context["adminform"].form
    data: dict = {}
    for inline in page.context.get("inline_admin_formsets", []):  # empty inlines, if the page has any
        management = inline.formset.management_form
        data.update({f"{management.prefix}-{n}": management[n].value() for n in management.fields})
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.MultiWidget):
            for i, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{i}"] = "" if part is None else str(part)
        elif isinstance(value, list):
            data[name] = [str(v) for v in value]
        elif value not in (None, False):
            data[name] = str(value) if value is not True else "on"
    data.update(mine)
    return data


@pytest.mark.django_db
def test_the_admin_form_refuses_half_a_window_and_saves_a_whole_one(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    policy()
    campaign = CampaignFactory()
    url = f"/admin/campaigns/campaign/{campaign.pk}/change/"

    refused = client.post(url, _admin_form(client, url, send_window_start="10:00", send_window_end="",
                                           spread_hours="200"))
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "send_window_end" in errors and "spread_hours" in errors
    assert "set both the send window" in errors["send_window_end"][0]
    assert Campaign.objects.get(pk=campaign.pk).send_window_start is None

    saved = client.post(url, _admin_form(client, url, send_window_start="20:00", send_window_end="02:00",
                                         spread_hours="1.5"))
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    stored = Campaign.objects.get(pk=campaign.pk)
    assert (stored.send_window_start, stored.send_window_end, stored.spread_hours) == (time(20), time(2), 1.5)
