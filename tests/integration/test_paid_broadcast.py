"""Telegram paid broadcasts (issue 13): a campaign that opts in is sent with
allow_paid_broadcast above the free 30 a second, at TACT_RATE_TELEGRAM_PAID, on a limiter key
of its own; the forecast shows its Stars; scheduling refuses when the bot's balance
(getMyStarBalance) is short or cannot be read. Against the fake Telegram over real HTTP, with
Telegram's flood control on: more than 30 a second without the flag is answered 429."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from telegram import Bot
from telegram.request import HTTPXRequest

from campaigns import services
from campaigns.models import Campaign, Delivery
from channels.telegram import TelegramChannel
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory
from tests.fakes.telegram import FakeTelegram, max_in_any_window

from .engine import Engine
from .test_delivery import TOKEN, S, finished, policy, statuses, telegram_people

# RetryAfter warns on its own retry_after access in PTB 22 unless PTB_TIMEDELTA is set.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
PAID_RATE = 200  # TACT_RATE_TELEGRAM_PAID, in the workers and here
PEOPLE = 400
# 400 people at 200 a second take 2 s, of which the free 30 a second carry 60 messages:
# ceil(0.1 * (400 - 60)) = 34 Stars at most.
STARS = 34
CHUNK = 40  # a fifth of a second at 200/s (sending.chunk_size): one burst of tolerance


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def live_bot(settings, fake):
    """This process talks to the fake as the workers do (scheduling reads the balance)."""
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, fake.base_url
    settings.TACT_RATE_TELEGRAM_PAID = float(PAID_RATE)
    settings.TACT_RATE = {**settings.TACT_RATE, "telegram": 30.0}
    return fake


def _segment(tag: str):
    return SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})


def _due(tag: str, **fields) -> Campaign:
    """A draft campaign due in a second to the people tagged `tag`."""
    return CampaignFactory(segment=_segment(tag), platforms=["telegram"], send_at=timezone.now() + timedelta(seconds=1),
                           **fields)


def _later(tag: str, **fields) -> Campaign:
    """A draft campaign due in ten minutes (scheduling is only checked: on a loaded machine
    a send_at a second away would be in the past by the last attempt)."""
    return CampaignFactory(segment=_segment(tag), platforms=["telegram"],
                           send_at=timezone.now() + timedelta(minutes=10), **fields)


def _schedule(campaign: Campaign) -> Campaign:
    return services.campaign_schedule(campaign=campaign, now=campaign.send_at - timedelta(seconds=5))


def _defaults(page) -> dict:
    """The add form's initial values, as a browser submits them when nobody touches them."""
    form = page.context_data["adminform"].form
    values = {name: form[name].value() for name in form.fields}
    data = {name: "on" if value is True else value for name, value in values.items()
            if value not in (None, "", False, [], ())}
    for inline in page.context_data.get("inline_admin_formsets", []):  # their management forms, no rows
        management = inline.formset.management_form
        data |= {management[name].html_name: management[name].value() for name in management.fields}
    return data


def _per_second(calls) -> int:
    return max_in_any_window((c.monotonic for c in calls), 1.0)


# ---- API: the flag, the forecast, the refusals (no workers) -----------------------------


@pytest.mark.django_db
def test_paid_broadcast_is_writable_only_with_telegram_chosen(admin_client_api):
    draft, segment = DraftFactory(), SegmentFactory()
    base = {"name": "Paid", "draft": draft.pk, "segment": segment.pk, "send_at": "2030-01-01T09:00:00Z"}

    refused = admin_client_api.post("/api/campaigns/", {**base, "platforms": ["viber"], "paid_broadcast": True},
                                    format="json")
    created = admin_client_api.post("/api/campaigns/", {**base, "platforms": ["telegram", "viber"],
                                                        "paid_broadcast": True}, format="json")
    assert refused.status_code == 400 and list(refused.json()) == ["paid_broadcast"]
    assert created.status_code == 201 and created.json()["paid_broadcast"] is True
    pk = created.json()["id"]

    # dropping Telegram from a paid campaign is refused the same way; turning it off is fine
    dropped = admin_client_api.patch(f"/api/campaigns/{pk}/", {"platforms": ["viber"]}, format="json")
    assert dropped.status_code == 400 and list(dropped.json()) == ["paid_broadcast"]
    off = admin_client_api.patch(f"/api/campaigns/{pk}/", {"platforms": ["viber"], "paid_broadcast": False},
                                 format="json")
    assert off.status_code == 200 and off.json()["paid_broadcast"] is False
    assert Campaign.objects.get(pk=pk).platforms == ["viber"]


@pytest.mark.django_db
def test_a_duplicate_of_a_paid_broadcast_is_one_too(admin_client_api):
    draft, segment = DraftFactory(), SegmentFactory()
    created = admin_client_api.post("/api/campaigns/", {
        "name": "Paid", "draft": draft.pk, "segment": segment.pk, "send_at": "2030-01-01T09:00:00Z",
        "platforms": ["telegram"], "paid_broadcast": True}, format="json")
    copy = admin_client_api.post(f"/api/campaigns/{created.json()['id']}/duplicate/")
    assert copy.status_code == 201
    assert (copy.json()["paid_broadcast"], copy.json()["status"]) == (True, "draft")


@pytest.mark.django_db
def test_the_forecast_shows_the_paid_ceiling_time_and_stars(admin_client_api, live_bot):
    policy()
    telegram_people(PEOPLE, tag="paid")
    paid = _due("paid", paid_broadcast=True)
    free = _due("paid")

    body = admin_client_api.get(f"/api/campaigns/{paid.pk}/forecast/").json()
    plain = admin_client_api.get(f"/api/campaigns/{free.pk}/forecast/").json()

    assert {k: body["telegram_paid"][k] for k in ("stars", "rate_per_second", "seconds")} == {
        "stars": STARS, "rate_per_second": 200.0, "seconds": 2.0}
    assert body["platforms"]["telegram"]["rate_per_second"] == 200.0
    assert body["platforms"]["telegram"]["seconds"] == body["duration_seconds"] == 2.0
    assert "telegram_paid" not in plain
    assert plain["platforms"]["telegram"]["rate_per_second"] == 30.0
    assert plain["duration_seconds"] == 13.3
    assert live_bot.method_counts().get("getmystarbalance", 0) == 0  # the forecast asks Telegram nothing


@pytest.mark.django_db
def test_scheduling_refuses_a_short_or_unreadable_balance_and_sends_nothing(admin_client_api, live_bot, settings):
    policy()
    telegram_people(PEOPLE, tag="paid")
    campaign = _later("paid", paid_broadcast=True)
    live_bot.configure(star_balance=12)

    short = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    live_bot.configure(token_revoked=True)
    revoked = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    live_bot.configure(token_revoked=False)
    live_bot.stop()
    unreachable = admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    assert short.status_code == revoked.status_code == unreachable.status_code == 400
    assert short.json()["paid_broadcast"][0].startswith("the paid broadcast needs 34 Stars, the bot has 12:")
    assert "cannot be read (getMyStarBalance): Telegram refused the bot token" in revoked.json()["paid_broadcast"][0]
    assert "cannot be read (getMyStarBalance): Telegram not reached" in unreachable.json()["paid_broadcast"][0]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    assert live_bot.calls() == []  # no message of any kind
    assert live_bot.method_counts()["getmystarbalance"] == 1  # the revoked token stopped at getMe

    # enough Stars (with a fraction): scheduled
    live_bot.start()
    live_bot.configure(star_balance=33, star_balance_nanos=900_000_000)
    assert admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/").status_code == 400
    live_bot.configure(star_balance=34, star_balance_nanos=0)
    assert admin_client_api.post(f"/api/campaigns/{campaign.pk}/schedule/").json()["status"] == "scheduled"

    # the sandbox has no Stars and spends none: no balance to check
    settings.TELEGRAM_BOT_TOKEN = ""
    sandboxed = _later("paid", paid_broadcast=True)
    assert admin_client_api.post(f"/api/campaigns/{sandboxed.pk}/schedule/").json()["status"] == "scheduled"
    assert live_bot.method_counts()["getmystarbalance"] == 3


@pytest.mark.django_db
def test_the_admin_form_shows_the_cost_refuses_paid_without_telegram_and_the_forecast_shows_stars(
        client, django_user_model, live_bot):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    form = {"name": "Paid", "draft": DraftFactory().pk, "segment": _segment("paid").pk, "send_at_0": "2030-03-25",
            "send_at_1": "10:00:00", "paid_broadcast": "on"}

    add = client.get("/admin/campaigns/campaign/add/")
    page = add.content.decode()
    form = {**_defaults(add), **form}  # what the browser sends back untouched (other options of a campaign)
    refused = client.post("/admin/campaigns/campaign/add/", {**form, "platforms": ["viber"]})
    saved = client.post("/admin/campaigns/campaign/add/", {**form, "platforms": ["telegram"]})

    assert "up to 200 messages a second" in page and "10,000 Telegram receivers cost at most 850 Stars" in page
    assert refused.status_code == 200 and "a paid broadcast is a Telegram feature" in refused.content.decode()
    assert saved.status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.paid_broadcast is True
    policy()
    telegram_people(PEOPLE, tag="paid")
    forecast = client.get(f"/admin/campaigns/campaign/{campaign.pk}/forecast/").content.decode()
    assert "it costs at most <strong>34 Telegram Stars</strong>" in " ".join(forecast.split())


def test_the_fake_answers_the_balance_records_the_flag_and_refuses_31_a_second_without_it(fake):
    fake.configure(ceiling=30, paid_ceiling=1000, star_balance=5)
    channel = TelegramChannel(TOKEN, fake.base_url)

    async def burst(n: int, first_chat: int, paid: bool) -> None:
        async with Bot(TOKEN, base_url=fake.base_url, request=HTTPXRequest(connection_pool_size=100)) as bot:
            await asyncio.gather(*(bot.send_message(chat_id=first_chat + i, text="hi", allow_paid_broadcast=paid)
                                   for i in range(n)), return_exceptions=True)

    asyncio.run(burst(40, 100, paid=False))
    asyncio.run(burst(60, 200, paid=True))

    free = [c for c in fake.calls() if not c.paid_broadcast]
    paid = [c for c in fake.calls() if c.paid_broadcast]
    assert sorted(c.status for c in free) == [200] * 30 + [429] * 10
    assert {c.retry_after for c in free if c.status == 429} == {1}
    assert [c.status for c in paid] == [200] * 60 and {c.chat_id for c in paid} == set(range(200, 260))
    # each flagged message beyond the free 30 of its second cost 0.1 Star (the free ones
    # may have used them all, or a new second began between the two bursts)
    charged = fake.stars_charged()
    assert Decimal("3.0") <= charged <= Decimal("6.0")
    assert channel.star_balance() == 5 - charged


# ---- end to end: real workers ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_paid_broadcast_goes_above_30_a_second_and_a_free_one_beside_it_stays_at_30(tmp_path, live_bot):
    # given: 400 people for the paid broadcasts and 120 for a free campaign; Telegram's flood
    # control on (more than 30 a second without the flag: 429); the bot holds 12 Stars
    policy()
    paid_chats = telegram_people(PEOPLE, tag="paid", first_chat=1000)
    free_chats = telegram_people(120, tag="free", first_chat=5000)
    live_bot.configure(ceiling=30, paid_ceiling=1000, star_balance=12)
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": live_bot.base_url,
                               "TACT_RATE_TELEGRAM": "30", "TACT_RATE_TELEGRAM_PAID": str(PAID_RATE),
                               "TACT_SEND_BATCH": "200"})  # two lists of 200, sent by two processes on one paid key
    try:
        engine.start(workers=2)  # four processes: the free campaign's list is not queued behind the paid ones

        # when: scheduled with 12 Stars for a 34-Star broadcast: refused, and nothing goes out
        first = _due("paid", paid_broadcast=True)
        with pytest.raises(services.ServiceError) as refused:
            _schedule(first)
        assert refused.value.by_field == {"paid_broadcast": [
            "the paid broadcast needs 34 Stars, the bot has 12: top up the bot's balance, or turn paid_broadcast off"]}
        time.sleep(3)  # beat ticks every 0.5 s
        assert live_bot.calls() == [] and Campaign.objects.get(pk=first.pk).status == Campaign.Status.DRAFT

        # then, with 100 Stars: sent alone above 30 a second, every message flagged
        live_bot.configure(star_balance=100)
        first = finished(_schedule(first), 120, engine)
        alone = live_bot.calls()
        assert statuses(first) == {S.SENT: PEOPLE}
        assert sorted(c.chat_id for c in alone) == paid_chats  # once each, no 429, nothing refused
        assert {(c.status, c.paid_broadcast) for c in alone} == {(200, True)}
        assert 30 < _per_second(alone) <= PAID_RATE + CHUNK
        # Telegram charged no more than the forecast said
        assert Decimal(0) < live_bot.stars_charged() <= STARS
        assert TelegramChannel(TOKEN, live_bot.base_url).star_balance() == 100 - live_bot.stars_charged()

        # and a paid broadcast beside a free campaign: each at its own ceiling, at the same time
        live_bot.reset()
        second = _schedule(_due("paid", paid_broadcast=True))
        free = _schedule(_due("free"))
        second, free = finished(second, 120, engine), finished(free, 120, engine)
    finally:
        engine.stop()

    calls = live_bot.calls()
    flagged = [c for c in calls if c.paid_broadcast]
    unflagged = [c for c in calls if not c.paid_broadcast]
    assert {c.status for c in calls} == {200}  # no 429 from Telegram's flood control
    assert sorted(c.chat_id for c in flagged) == paid_chats
    assert sorted(c.chat_id for c in unflagged) == free_chats
    assert statuses(second) == {S.SENT: PEOPLE} and statuses(free) == {S.SENT: 120}
    assert _per_second(unflagged) <= 30
    assert 30 < _per_second(flagged) <= PAID_RATE + CHUNK
    # the free campaign ran while the paid one did (on top of it, not after it)
    assert min(c.monotonic for c in unflagged) < max(c.monotonic for c in flagged)
    # beside other traffic the free 30 a second may all be used up: at most 0.1 Star a message
    assert live_bot.stars_charged() <= Decimal(PEOPLE) / 10
    assert Delivery.objects.filter(campaign__in=[first, second, free]).exclude(status=S.SENT).count() == 0


@pytest.mark.django_db(transaction=True)
def test_stars_running_out_mid_send_fail_nobody_the_rest_wait_and_go_after_a_top_up(tmp_path, live_bot):
    # given: 400 people, enough Stars when scheduled; then the bot's Stars are spent
    # elsewhere, and Telegram refuses each flagged message it cannot charge for
    policy()
    chats = telegram_people(PEOPLE, tag="paid", first_chat=1000)
    live_bot.configure(ceiling=30, paid_ceiling=1000, star_balance=100, stars_enforced=True)
    engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": live_bot.base_url,
                               "TACT_RATE_TELEGRAM": "30", "TACT_RATE_TELEGRAM_PAID": str(PAID_RATE),
                               "TACT_PLATFORM_RETRY_SECONDS": "2"})
    try:
        engine.start()
        campaign = _schedule(_due("paid", paid_broadcast=True))
        live_bot.configure(star_balance=0)

        # when: sending, the free part of each second goes and the rest is refused
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "paid broadcast" not in Campaign.objects.get(pk=campaign.pk).problem:
            time.sleep(0.2)
        refused = [c for c in live_bot.calls() if c.outcome == "stars_short"]

        # then: nobody failed; the refused wait with the reason; the campaign says why
        held_up = Campaign.objects.get(pk=campaign.pk)
        assert refused and "Telegram refuses the paid broadcast" in held_up.problem
        assert Delivery.objects.filter(campaign=campaign, status=S.FAILED).count() == 0
        waiting = Delivery.objects.filter(campaign=campaign, status=S.PLANNED)
        assert {c.chat_id for c in refused} <= {int(a) for a in waiting.values_list("subscription__address", flat=True)}

        # and after a top-up everyone gets it exactly once
        live_bot.configure(star_balance=1000)
        campaign = finished(campaign, 180, engine)
    finally:
        engine.stop()
    delivered = [c.chat_id for c in live_bot.calls() if c.status == 200]
    assert sorted(delivered) == chats
    assert statuses(campaign) == {S.SENT: PEOPLE}
