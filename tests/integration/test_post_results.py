"""Results of channel posts (issue 11) against the fake Telegram over HTTP: clicks on a post's
tracked button (every click counted, redirected with exact UTM parameters), reaction counts
posted by the fake to the webhook the bot registered, subscriber counts sampled from the fake
(daily, before and an hour after a post), and the home page's warning about a channel Tact
cannot post to while posts wait for it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.admin.post_results import channel_results_table, post_results_table
from campaigns.delivery.publishing import publish_due
from campaigns.models import BrandChannel, ChannelSample, Post, Publication
from campaigns.services import channel_results
from channels.models import InboundEvent
from tests.conftest import DraftFactory
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber

PUBLIC = "https://go.tact.example"
SHOP = "https://shop.example/menu?ref=tg"
TOKEN = "123456:TEST"
SECRET = "tg-webhook_Secret-42"
CHANNEL_ID = -1001987654321
PHONE_UA = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.TACT_PUBLIC_URL = PUBLIC
    settings.TELEGRAM_WEBHOOK_SECRET = SECRET


@pytest.fixture
def tg(settings):
    """The fake Bot API with the brand's channel, the bot its administrator; Tact pointed at it."""
    with FakeTelegram() as fake:
        fake.add_channel(CHANNEL_ID, username="brand_news", title="Brand news", members=1200)
        settings.TELEGRAM_BOT_TOKEN = TOKEN
        settings.TELEGRAM_API_URL = fake.base_url
        yield fake


def brand_channel(**fields) -> BrandChannel:
    values = {"platform": "telegram", "chat": str(CHANNEL_ID), "title": "Brand news", "can_post": True}
    return BrandChannel.objects.create(**{**values, **fields})


def post_in(channel: BrandChannel, *, name: str = "New menu", status: str = Post.Status.SCHEDULED,
            publish_at: datetime | None = None, track: bool = True,
            buttons: list[dict] | None = None) -> tuple[Post, Publication]:
    """A scheduled post with its content frozen (as post_schedule freezes it) and its publication, due now."""
    publish_at = publish_at or timezone.now() - timedelta(seconds=1)
    buttons = [{"text": "Copy code", "copy_text": "MENU10"}, {"text": "See the menu", "url": SHOP}] \
        if buttons is None else buttons
    draft = DraftFactory(title="Menu draft", body="Our new menu is here", buttons=buttons)
    post = Post.objects.create(name=name, draft=draft, publish_at=publish_at, status=status,
                               content_body=draft.body, content_buttons=buttons, content_track_links=track,
                               scheduled_at=timezone.now())
    post.channels.add(channel)
    publication = Publication.objects.create(post=post, channel=channel, publish_after=publish_at)
    return post, publication


def published(channel: BrandChannel, *, message_id: str, at: datetime, name: str = "New menu") -> Publication:
    _post, publication = post_in(channel, name=name, status=Post.Status.PUBLISHED, publish_at=at)
    Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.PUBLISHED, message_id=message_id,
                                                         published_at=at)
    publication.refresh_from_db()
    return publication


# ---- clicks --------------------------------------------------------------------------


def published_button_url(tg: FakeTelegram) -> str:
    """The URL button of the post as the channel got it (the copy button is no link)."""
    [call] = tg.channel_posts(CHANNEL_ID)
    buttons = [b for row in call.reply_markup["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["Copy code", "See the menu"]
    assert buttons[0]["copy_text"] == {"text": "MENU10"}
    return buttons[1]["url"]


@pytest.mark.django_db
def test_every_click_on_a_posts_tracked_button_is_counted_and_redirected_with_utm(tg):
    channel = brand_channel()
    _post, publication = post_in(channel, name="New menu!")
    publish_due()
    url = published_button_url(tg)
    assert url.startswith(f"{PUBLIC}/r/")
    path = urlsplit(url).path
    web = Client()

    first = web.get(path, headers={"User-Agent": PHONE_UA})
    second = web.get(path, headers={"User-Agent": PHONE_UA})

    assert first.status_code == second.status_code == 302
    assert first["Location"] == f"{SHOP}&utm_source=telegram&utm_medium=channel&utm_campaign=new-menu"
    publication.refresh_from_db()
    assert publication.clicks == 2


@pytest.mark.django_db
def test_previews_and_head_requests_are_redirected_but_not_counted(tg):
    _post, publication = post_in(brand_channel())
    publish_due()
    path = urlsplit(published_button_url(tg)).path
    web = Client()

    assert web.head(path, headers={"User-Agent": PHONE_UA}).status_code == 302
    assert web.get(path, headers={"User-Agent": "TelegramBot (like TwitterBot)"}).status_code == 302

    publication.refresh_from_db()
    assert publication.clicks == 0


@pytest.mark.django_db
def test_a_tampered_or_unknown_post_token_is_404_and_counts_nothing(tg):
    _post, publication = post_in(brand_channel())
    publish_due()
    token = urlsplit(published_button_url(tg)).path.removeprefix("/r/")
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    web = Client()

    assert web.get(f"/r/{tampered}", headers={"User-Agent": PHONE_UA}).status_code == 404
    assert web.get("/r/AAAAAAAAAAAAAAAAAAAA", headers={"User-Agent": PHONE_UA}).status_code == 404

    publication.refresh_from_db()
    assert publication.clicks == 0


@pytest.mark.django_db
def test_a_post_that_does_not_track_its_buttons_publishes_them_as_they_are(tg):
    post_in(brand_channel(), track=False)
    publish_due()
    assert published_button_url(tg) == SHOP


# ---- reactions -----------------------------------------------------------------------


@pytest.fixture
def webhook(tg, live_server):
    """The bot's webhook registered as an operator registers it (manage.py telegram_set_webhook)."""
    call_command("telegram_set_webhook", f"{live_server.url}/webhooks/telegram/")
    return tg


def reacted(fake: FakeTelegram, message_id: int, counts: dict[str, int], *, date: int, chat_id: int = CHANNEL_ID):
    """The fake posts the update to our webhook; what we answered."""
    already = len(fake.webhooks())
    assert fake.react(chat_id, message_id, counts, date=date)
    assert fake.wait_for_webhooks(already + 1, timeout=10)
    return fake.webhooks()[-1]


T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_reaction_counts_reach_the_right_publication_and_an_older_update_is_ignored(webhook):
    assert json.loads(webhook.webhook["allowed_updates"]) == ["message", "my_chat_member", "message_reaction_count"]
    channel = brand_channel()
    ours = published(channel, message_id="41", at=T0)
    other = published(channel, message_id="42", at=T0, name="Other post")
    t = int(T0.timestamp())

    assert reacted(webhook, 41, {"👍": 12, "🔥": 3, "custom:5368324170671202286": 1, "paid": 2},
                   date=t + 600).status == 200
    ours.refresh_from_db()
    assert ours.reactions == {"👍": 12, "🔥": 3, "custom:5368324170671202286": 1, "paid": 2}
    assert ours.reactions_at == T0 + timedelta(seconds=600)

    assert reacted(webhook, 41, {"👍": 14, "🔥": 3}, date=t + 900).status == 200  # a later update replaces
    assert reacted(webhook, 41, {"👍": 13}, date=t + 700).status == 200  # an older one, late: ignored
    ours.refresh_from_db()
    other.refresh_from_db()
    assert (ours.reactions, ours.reactions_at) == ({"👍": 14, "🔥": 3}, T0 + timedelta(seconds=900))
    assert (other.reactions, other.reactions_at) == ({}, None)


@pytest.mark.django_db(transaction=True)
def test_reactions_to_a_message_that_is_no_post_of_ours_are_acknowledged_and_recorded_nowhere(webhook):
    channel = brand_channel()
    ours = published(channel, message_id="41", at=T0)
    webhook.add_channel(-1005555555555, username="someone_else", members=10)
    events = InboundEvent.objects.count()
    t = int(T0.timestamp())

    assert reacted(webhook, 99, {"👍": 1}, date=t).status == 200  # a message the admins wrote by hand
    assert reacted(webhook, 41, {"👍": 1}, date=t, chat_id=-1005555555555).status == 200  # another channel

    ours.refresh_from_db()
    assert (ours.reactions, ours.reactions_at) == ({}, None)
    assert InboundEvent.objects.count() == events


@pytest.mark.django_db(transaction=True)
def test_a_channel_entered_by_its_username_gets_its_reactions_too(webhook):
    ours = published(brand_channel(chat="@Brand_News"), message_id="7", at=T0)

    assert reacted(webhook, 7, {"❤": 5}, date=int(T0.timestamp())).status == 200

    ours.refresh_from_db()
    assert ours.reactions == {"❤": 5}


def rights_announced(fake: FakeTelegram, *, date: int, old: str = "administrator"):
    already = len(fake.webhooks())
    assert fake.announce_rights(CHANNEL_ID, old=old, date=date)
    assert fake.wait_for_webhooks(already + 1, timeout=10)
    return fake.webhooks()[-1]


@pytest.mark.django_db(transaction=True)
def test_the_bot_removed_from_a_channel_marks_it_at_once_and_its_due_post_is_not_sent(webhook):
    channel = brand_channel(checked_at=timezone.now() - timedelta(days=1))
    post, publication = post_in(channel)
    webhook.change_channel(CHANNEL_ID, bot="left")

    assert rights_announced(webhook, date=int(timezone.now().timestamp())).status == 200

    channel.refresh_from_db()
    assert (channel.can_post, channel.problem) == (False, f"the bot is not an administrator of {CHANNEL_ID}")
    publish_due()
    assert webhook.calls() == []  # not even tried: the channel is marked
    publication.refresh_from_db()
    assert (publication.status, publication.reason) == (
        Publication.Status.FAILED, f"the bot is not an administrator of {CHANNEL_ID}")
    boss = Client()
    boss.force_login(get_user_model().objects.create_superuser("boss", "boss@example.com", "pw"))
    home = boss.get(reverse("admin:index")).content.decode()
    assert (f"Tact cannot post to the channel “Brand news”: the bot is not an administrator of {CHANNEL_ID}. "
            "1 post was not published there in the last 7 days and is not retried") in home
    page = boss.get(reverse("admin:campaigns_post_change", args=[post.pk])).content.decode()
    assert "Not published: failed in 1 of 1 channel" in page
    assert f"the bot is not an administrator of {CHANNEL_ID}" in page

    # An older update arriving late changes nothing; the bot made an administrator again clears the mark.
    webhook.change_channel(CHANNEL_ID, bot="administrator", can_post_messages=False)
    assert rights_announced(webhook, old="left", date=int(timezone.now().timestamp()) - 3600).status == 200
    channel.refresh_from_db()
    assert (channel.can_post, channel.problem) == (False, f"the bot is not an administrator of {CHANNEL_ID}")
    assert rights_announced(webhook, old="left", date=int(timezone.now().timestamp()) + 1).status == 200
    channel.refresh_from_db()
    assert (channel.can_post, channel.problem) == (False, "the bot may not post messages")
    webhook.change_channel(CHANNEL_ID, can_post_messages=True)
    assert rights_announced(webhook, date=int(timezone.now().timestamp()) + 2).status == 200
    channel.refresh_from_db()
    assert (channel.can_post, channel.problem) == (True, "")
    publication.refresh_from_db()
    assert publication.status == Publication.Status.FAILED  # nothing is retried blindly


@pytest.mark.django_db
@pytest.mark.parametrize("reactions", [
    "lots", [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": -1}],
    [{"type": {"type": "emoji"}, "total_count": 3}], [{"type": {"type": "emoji", "emoji": "👍"}}],
])
def test_a_malformed_reaction_update_is_answered_200_and_changes_nothing(reactions):
    ours = published(brand_channel(), message_id="41", at=T0)
    update = {"update_id": 5, "message_reaction_count": {
        "chat": {"id": CHANNEL_ID, "type": "channel", "title": "Brand news"}, "message_id": 41,
        "date": int(T0.timestamp()), "reactions": reactions}}

    def send(body: dict) -> int:
        return Client().post("/webhooks/telegram/", data=json.dumps(body), content_type="application/json",
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code

    assert send(update) == 200
    ours.refresh_from_db()
    assert (ours.reactions, ours.reactions_at) == ({}, None)

    update["update_id"] = 6  # the same update, well formed, is stored: the path above was live
    update["message_reaction_count"]["reactions"] = [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}]
    assert send(update) == 200
    ours.refresh_from_db()
    assert ours.reactions == {"👍": 2}


def test_without_message_reaction_count_in_allowed_updates_telegram_sends_none(tg):
    tg.webhook = {"url": "http://127.0.0.1:9/webhooks/telegram/", "allowed_updates": '["message"]'}
    assert tg.react(CHANNEL_ID, 1, {"👍": 1}) is False
    assert tg.webhooks() == []


# ---- subscriber counts ---------------------------------------------------------------


def samples(channel: BrandChannel) -> list[tuple[datetime, int]]:
    return list(ChannelSample.objects.filter(channel=channel).order_by("at").values_list("at", "subscribers"))


@pytest.mark.django_db
def test_subscriber_counts_are_sampled_daily_before_and_an_hour_after_a_post(tg):
    channel = brand_channel()
    now = timezone.now().replace(microsecond=0)

    assert channel_results.channel_samples_due(now=now) == 1  # the first sample of a new channel
    assert channel_results.channel_samples_due(now=now + timedelta(minutes=5)) == 0  # not due again
    _post, publication = post_in(channel, publish_at=now + timedelta(minutes=30))
    assert channel_results.channel_samples_due(now=now + timedelta(minutes=15)) == 0  # the post is 15 min away

    tg.change_channel(CHANNEL_ID, members=1210)
    before = now + timedelta(minutes=22)
    assert channel_results.channel_samples_due(now=before) == 1  # 8 minutes before the post

    Publication.objects.filter(pk=publication.pk).update(status=Publication.Status.PUBLISHED, message_id="3",
                                                         published_at=now + timedelta(minutes=30))
    Post.objects.filter(pk=publication.post_id).update(status=Post.Status.PUBLISHED)
    tg.change_channel(CHANNEL_ID, members=1190)  # the post lost a few
    assert channel_results.channel_samples_due(now=now + timedelta(minutes=80)) == 0  # 50 minutes after
    after = now + timedelta(minutes=91)
    assert channel_results.channel_samples_due(now=after) == 1  # an hour after
    assert channel_results.channel_samples_due(now=after + timedelta(minutes=5)) == 0
    day = after + timedelta(hours=24)
    assert channel_results.channel_samples_due(now=day) == 1  # the next day's

    assert samples(channel) == [(now, 1200), (before, 1210), (after, 1190), (day, 1190)]
    channel.refresh_from_db()
    assert channel.subscribers == 1190
    assert ChannelSample.objects.count() == 4


@pytest.mark.django_db
def test_a_channel_the_platform_says_no_count_for_is_not_sampled_and_the_others_are(tg, settings):
    telegram = brand_channel()
    gone = brand_channel(chat="-1004444444444", title="Gone")  # not in the fake: "chat not found"

    assert channel_results.channel_samples_due(now=timezone.now()) == 1

    assert [s for _, s in samples(telegram)] == [1200]
    assert samples(gone) == []


@pytest.mark.django_db
def test_a_viber_channels_subscribers_are_sampled_from_its_account_info(settings):
    with FakeViber() as fake:
        fake.configure(channels={"channel-token-1": {"id": "pa:1", "name": "Brand on Viber", "subscribers_count": 845,
                                                     "members": [{"id": "admin-1", "name": "Ann", "role": "superadmin"}]}})
        settings.VIBER_API_URL = fake.base_url
        channel = BrandChannel.objects.create(platform="viber", chat="pa:1", title="Brand on Viber",
                                              token="channel-token-1", admin_id="admin-1", can_post=True)
        now = timezone.now()

        assert channel_results.channel_samples_due(now=now) == 1

    assert samples(channel) == [(now, 845)]


@pytest.mark.django_db
def test_the_posts_page_shows_clicks_reactions_and_subscribers_before_and_after(tg):
    channel = brand_channel()
    publication = published(channel, message_id="41", at=T0)
    Publication.objects.filter(pk=publication.pk).update(clicks=17, reactions={"🔥": 3, "👍": 12, "custom:1": 1, "custom:2": 1})
    ChannelSample.objects.create(channel=channel, at=T0 - timedelta(days=1), subscribers=1000)
    ChannelSample.objects.create(channel=channel, at=T0 - timedelta(minutes=8), subscribers=1200)
    ChannelSample.objects.create(channel=channel, at=T0 + timedelta(minutes=20), subscribers=1300)  # not an hour yet
    ChannelSample.objects.create(channel=channel, at=T0 + timedelta(minutes=61), subscribers=1195)

    table = str(post_results_table(publication.post))

    assert f'<tr data-publication="{publication.pk}"><td>Brand news</td>' in table
    assert "<td>17</td><td>👍 12 · 🔥 3 · custom emoji 2</td><td>1200 → 1195 (-5)</td></tr>" in table
    assert "<td>17</td><td>👍 12 · 🔥 3 · custom emoji 2</td><td>1200 → 1195 (-5)</td></tr>" in str(channel_results_table(channel))


# ---- the dashboard -------------------------------------------------------------------


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_a_channel_tact_cannot_post_to_with_scheduled_posts_needs_action_on_the_home_page(staff):
    lost = brand_channel(can_post=False, problem="The bot is not an administrator of the channel.")
    post_in(lost, publish_at=timezone.now() + timedelta(days=1))
    post_in(lost, name="Second", publish_at=timezone.now() + timedelta(days=2))
    idle = brand_channel(chat="-1003333333333", title="Idle", can_post=False, problem="The bot was removed.")
    post_in(idle, status=Post.Status.CANCELLED)

    page = staff.get(reverse("admin:index")).content.decode()

    assert "Needs action" in page
    assert ("Tact cannot post to the channel “Brand news”: The bot is not an administrator of the channel. "
            "2 scheduled posts are waiting for it.") in page
    assert f'href="{reverse("admin:campaigns_brandchannel_change", args=[lost.pk])}"' in page
    assert "Idle" not in page  # nothing is waiting for it


def test_beat_samples_subscriber_counts_every_few_minutes(settings):
    from campaigns import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["channel-samples"]
    assert entry["task"] == tasks.channel_samples.name == "campaigns.tasks.channel_samples"
    assert entry["schedule"] == settings.TACT_CHANNEL_SAMPLE_SECONDS == 300.0


@pytest.mark.django_db
def test_the_channels_page_shows_its_latest_posts_results(staff):
    channel = brand_channel()
    publication = published(channel, message_id="41", at=T0, name="Spring menu")
    Publication.objects.filter(pk=publication.pk).update(clicks=4, reactions={"👍": 2})
    ChannelSample.objects.create(channel=channel, at=T0 - timedelta(minutes=5), subscribers=500)
    ChannelSample.objects.create(channel=channel, at=T0 + timedelta(hours=1), subscribers=512)

    page = staff.get(reverse("admin:campaigns_brandchannel_change", args=[channel.pk])).content.decode()

    assert "Latest posts and their results" in page
    assert f'<tr data-publication="{publication.pk}"><td>Spring menu</td>' in page
    assert "<td>4</td><td>👍 2</td><td>500 → 512 (+12)</td></tr>" in page


@pytest.mark.django_db
def test_the_posts_admin_page_shows_its_results(staff):
    publication = published(brand_channel(), message_id="41", at=T0)
    Publication.objects.filter(pk=publication.pk).update(clicks=9)

    page = staff.get(reverse("admin:campaigns_post_change", args=[publication.post_id])).content.decode()

    assert "Results per channel" in page
    assert f'<tr data-publication="{publication.pk}"><td>Brand news</td>' in page
    assert "<td>9</td><td>—</td><td>—</td></tr>" in page
