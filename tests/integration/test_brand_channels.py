"""The brand's channels as records, against the fake Telegram and Viber servers over HTTP:
adding one checks on the platform whether Tact can post there and says what is missing;
the clients publish, pin and count subscribers as the platforms answer."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import BrandChannel
from channels.base import AccountRefused, PermanentFailure
from channels.brand import ChannelPost, brand_client_for
from channels.models import OutboxMessage
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber, ViberConfig

pytestmark = pytest.mark.django_db
CHANNEL_ID = -1001234567890
VIBER_BOT_TOKEN = "viber-bot-token"
VIBER_CHANNEL_TOKEN = "viber-channel-token"
VIBER_ADMIN = "admin-01234567890A="
SHOP = {"text": "Shop", "url": "https://shop.example/sale"}


@pytest.fixture
def telegram(settings):
    fake = FakeTelegram().start()
    settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
    settings.TELEGRAM_API_URL = fake.base_url
    fake.add_channel(CHANNEL_ID, username="brand_news", title="Brand News", members=1234)
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def viber(settings):
    fake = FakeViber(token=VIBER_BOT_TOKEN, config=ViberConfig(channels={VIBER_CHANNEL_TOKEN: {
        "id": "pa:channel-1", "name": "Brand on Viber", "subscribers_count": 5678,
        "members": [{"id": "owner-1", "name": "Owner", "role": "superadmin"},
                    {"id": VIBER_ADMIN, "name": "Editor", "role": "admin"},
                    {"id": "someone", "name": "Reader", "role": "participant"}],
    }})).start()
    settings.VIBER_API_URL = fake.base_url
    try:
        yield fake
    finally:
        fake.stop()


def _api(django_user_model, role: str) -> APIClient:
    user = django_user_model.objects.create_user(f"u-{role.lower()}", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def operator(django_user_model) -> APIClient:
    return _api(django_user_model, "Operator")


# ---- adding a channel checks it -----------------------------------------------------------


def test_a_telegram_channel_where_the_bot_may_post_is_added_with_its_title_and_subscribers(telegram, operator):
    answer = operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json")

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert {k: body[k] for k in ("platform", "chat", "title", "can_post", "problem", "subscribers")} == {
        "platform": "telegram", "chat": "@brand_news", "title": "Brand News", "can_post": True, "problem": "",
        "subscribers": 1234}
    assert body["cadence"] == {"max_posts_per_day": 3, "min_gap_minutes": 120, "night_start": "22:00",
                               "night_end": "08:00", "night_policy": "silent"}
    assert "token" not in body and body["checked_at"]
    channel = BrandChannel.objects.get()
    assert (channel.title, channel.can_post, channel.subscribers) == ("Brand News", True, 1234)
    assert telegram.method_counts()["getchatmember"] == 1


@pytest.mark.parametrize(("bot", "problem"), [
    ({"bot": "left"}, "the bot is not an administrator of @brand_news"),
    ({"bot": "kicked"}, "the bot is not an administrator of @brand_news"),
    ({"can_post_messages": False}, "the bot may not post messages"),
])
def test_a_telegram_channel_where_the_bot_may_not_post_is_added_with_what_is_missing(telegram, operator, bot,
                                                                                       problem):
    telegram.change_channel(CHANNEL_ID, **bot)

    answer = operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json")

    assert answer.status_code == 201, answer.content
    assert (answer.json()["can_post"], answer.json()["problem"]) == (False, problem)
    assert BrandChannel.objects.values_list("can_post", "problem").get() == (False, problem)


def test_an_unknown_telegram_channel_is_no_such_channel(telegram, operator):
    answer = operator.post("/api/channels/", {"platform": "telegram", "chat": "@nobody_here"}, format="json")

    assert answer.status_code == 201, answer.content
    assert (answer.json()["can_post"], answer.json()["problem"]) == (False, "no such channel")


def test_a_viber_channel_with_its_token_and_admin_is_added_and_the_token_never_shown(viber, operator):
    answer = operator.post("/api/channels/", {"platform": "viber", "chat": "brand", "token": VIBER_CHANNEL_TOKEN,
                                              "admin_id": VIBER_ADMIN}, format="json")

    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["title"], body["can_post"], body["problem"], body["subscribers"]) == (
        "Brand on Viber", True, "", 5678)
    assert "token" not in body
    assert VIBER_CHANNEL_TOKEN not in operator.get(f"/api/channels/{body['id']}/").content.decode()
    assert BrandChannel.objects.get().token == VIBER_CHANNEL_TOKEN


def test_a_viber_admin_id_that_is_not_the_channels_admin_is_said(viber, operator):
    answer = operator.post("/api/channels/", {"platform": "viber", "chat": "brand", "token": VIBER_CHANNEL_TOKEN,
                                              "admin_id": "someone"}, format="json")

    assert answer.status_code == 201, answer.content
    assert (answer.json()["can_post"], answer.json()["problem"]) == (
        False, "the admin id is not an admin of the channel")


@pytest.mark.parametrize(("token", "reason"), [
    (VIBER_BOT_TOKEN, "this is a bot's token, not a channel's"),
    ("no-such-token", "Viber refused the channel's token"),
])
def test_a_viber_token_that_is_not_a_channels_is_refused_naming_token(viber, operator, token, reason):
    answer = operator.post("/api/channels/", {"platform": "viber", "chat": "brand", "token": token,
                                              "admin_id": VIBER_ADMIN}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {"token": [reason]}
    assert not BrandChannel.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"platform": "whatsapp", "chat": "@brand_news"}, "platform"),
    ({"platform": "telegram"}, "chat"),
    ({"platform": "telegram", "chat": "brand news"}, "chat"),
    ({"platform": "telegram", "chat": "@brand_news", "timezone": "Mars/Olympus"}, "timezone"),
    ({"platform": "telegram", "chat": "@brand_news", "cadence": {"max_posts_per_day": 0}}, "cadence"),
    ({"platform": "telegram", "chat": "@brand_news", "cadence": {"min_gap_minutes": "often"}}, "cadence"),
    ({"platform": "telegram", "chat": "@brand_news", "cadence": {"night_policy": "loud"}}, "cadence"),
    ({"platform": "telegram", "chat": "@brand_news", "cadence": {"night_start": "25:00"}}, "cadence"),
    ({"platform": "viber", "chat": "brand", "token": VIBER_CHANNEL_TOKEN}, "admin_id"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_added(telegram, operator, body, field):
    answer = operator.post("/api/channels/", body, format="json")

    assert answer.status_code == 400, answer.content
    assert list(answer.json()) == [field]
    assert not BrandChannel.objects.exists()
    assert "getchat" not in telegram.method_counts()  # refused before asking the platform


def test_the_same_channel_twice_is_refused_naming_chat(telegram, operator):
    assert operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json").status_code == 201

    answer = operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json")

    assert (answer.status_code, answer.json()) == (400, {"chat": ["this channel is already added"]})
    assert BrandChannel.objects.count() == 1


def test_changing_a_channel_without_a_token_keeps_the_stored_one_and_checks_again(viber, operator):
    added = operator.post("/api/channels/", {"platform": "viber", "chat": "brand", "token": VIBER_CHANNEL_TOKEN,
                                             "admin_id": "someone"}, format="json").json()

    answer = operator.patch(f"/api/channels/{added['id']}/", {"admin_id": VIBER_ADMIN, "token": "",
                                                              "cadence": {"max_posts_per_day": 2}}, format="json")

    assert answer.status_code == 200, answer.content
    assert (answer.json()["can_post"], answer.json()["cadence"]["max_posts_per_day"]) == (True, 2)
    assert BrandChannel.objects.values_list("token", "admin_id", "min_gap_minutes").get() == (
        VIBER_CHANNEL_TOKEN, VIBER_ADMIN, 120)


def test_check_now_finds_that_the_bot_was_removed_later(telegram, operator):
    added = operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json").json()
    telegram.change_channel(CHANNEL_ID, bot="left", members=1240)

    answer = operator.post(f"/api/channels/{added['id']}/check/")

    assert answer.status_code == 200, answer.content
    assert (answer.json()["can_post"], answer.json()["problem"], answer.json()["subscribers"]) == (
        False, "the bot is not an administrator of @brand_news", 1240)


def test_a_marketer_cannot_add_or_check_a_channel_and_an_operator_can(telegram, django_user_model, operator):
    marketer = _api(django_user_model, "Marketer")

    refused = marketer.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json")

    assert refused.status_code == 403
    assert not BrandChannel.objects.exists() and "getchat" not in telegram.method_counts()
    added = operator.post("/api/channels/", {"platform": "telegram", "chat": "@brand_news"}, format="json")
    assert added.status_code == 201
    assert marketer.get("/api/channels/").json()["results"][0]["title"] == "Brand News"
    assert marketer.post(f"/api/channels/{added.json()['id']}/check/").status_code == 403
    assert marketer.delete(f"/api/channels/{added.json()['id']}/").status_code == 403
    assert BrandChannel.objects.count() == 1


# ---- the admin --------------------------------------------------------------------------------


def test_an_operator_adds_a_viber_channel_in_the_admin_and_the_token_is_never_rendered(viber, django_user_model):
    user = django_user_model.objects.create_user("op", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Operator"))
    client = Client()
    client.force_login(user)
    form = {"platform": "viber", "chat": "brand", "token": VIBER_BOT_TOKEN, "admin_id": VIBER_ADMIN,
            "timezone": "", "max_posts_per_day": "3", "min_gap_minutes": "120", "night_start": "22:00",
            "night_end": "08:00", "night_policy": "silent"}

    refused = client.post("/admin/campaigns/brandchannel/add/", form)

    assert refused.status_code == 200 and not BrandChannel.objects.exists()
    assert "this is a bot&#x27;s token, not a channel&#x27;s" in refused.content.decode()
    added = client.post("/admin/campaigns/brandchannel/add/", {**form, "token": VIBER_CHANNEL_TOKEN}, follow=True)
    channel = BrandChannel.objects.get()
    assert (channel.title, channel.can_post, channel.token) == ("Brand on Viber", True, VIBER_CHANNEL_TOKEN)
    assert "Tact can post there" in added.content.decode()
    page = client.get(f"/admin/campaigns/brandchannel/{channel.pk}/change/").content.decode()
    assert VIBER_CHANNEL_TOKEN not in page
    kept = client.post(f"/admin/campaigns/brandchannel/{channel.pk}/change/", {**form, "token": ""})
    assert kept.status_code == 302
    assert BrandChannel.objects.get().token == VIBER_CHANNEL_TOKEN
    listing = client.get("/admin/campaigns/brandchannel/").content.decode()
    assert "Brand on Viber" in listing and "5678" in listing and "✓" in listing


# ---- the clients ------------------------------------------------------------------------------


def _channel(platform: str = "telegram", **fields) -> BrandChannel:
    return BrandChannel.objects.create(platform=platform, chat=fields.pop("chat", "@brand_news"), **fields)


def test_a_telegram_post_goes_to_the_channel_silently_protected_with_its_button_and_is_pinned(telegram):
    client = brand_client_for(_channel())

    outcome = client.publish(ChannelPost(text="Sale starts now", buttons=[SHOP], silent=True, protect_content=True))
    pinned = client.pin(outcome.message_id)

    assert outcome.published and pinned is None
    [post] = telegram.channel_posts(CHANNEL_ID)
    assert (post.text, str(post.message_id)) == ("Sale starts now", outcome.message_id)
    assert (post.extra["disable_notification"], post.extra["protect_content"]) == ("true", "true")
    assert post.reply_markup == {"inline_keyboard": [[SHOP]]}
    assert telegram.pins == [(CHANNEL_ID, post.message_id, True)]
    assert client.subscriber_count() == 1234


@pytest.mark.parametrize(("bot", "reason"), [
    ({"bot": "left"}, "the bot is not an administrator of @brand_news"),
    ({"can_post_messages": False}, "the bot may not post messages"),
])
def test_a_telegram_post_where_the_bot_lost_its_right_is_refused_and_nothing_is_posted(telegram, bot, reason):
    client = brand_client_for(_channel())
    telegram.change_channel(CHANNEL_ID, **bot)

    outcome = client.publish(ChannelPost(text="Sale starts now"))

    assert isinstance(outcome.error, AccountRefused) and outcome.error.reason == reason
    assert telegram.channel_posts(CHANNEL_ID) == []
    assert [c.status for c in telegram.calls()] == [403 if bot.get("bot") else 400]


def test_any_other_forbidden_answer_in_a_channel_refuses_the_channel_not_a_reader(telegram):
    client = brand_client_for(_channel())
    telegram.configure(chat_rules={CHANNEL_ID: "cant_initiate"})

    outcome = client.publish(ChannelPost(text="Sale starts now"))

    assert isinstance(outcome.error, AccountRefused)
    assert outcome.error.reason == ("Telegram forbids the bot to post in @brand_news "
                                    "(Forbidden: bot can't initiate conversation with a user)")
    assert telegram.channel_posts(CHANNEL_ID) == []


def test_a_telegram_photo_post_is_uploaded_once_and_then_sent_by_file_id(telegram, settings, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    settings.MEDIA_ROOT = str(tmp_path)
    path = default_storage.save("posts/sale.png", ContentFile(b"\x89PNG fake picture"))
    media = {"kind": "image", "name": "sale.png", "content_type": "image/png", "size": 17, "sha256": "ab" * 32,
             "path": path, "public_url": "https://tact.example/m/x/sale.png"}
    client = brand_client_for(_channel())

    first = client.publish(ChannelPost(text="Look", media=media))
    second = client.publish(ChannelPost(text="Again", media=media))

    assert first.published and second.published
    assert [c.extra["file"] for c in telegram.media_sends()] == ["upload", "file_id"]
    assert [c.text for c in telegram.channel_posts(CHANNEL_ID)] == ["Look", "Again"]


def test_a_viber_channel_post_goes_from_the_admin_with_its_buttons_as_lines_and_cannot_be_pinned(viber):
    client = brand_client_for(_channel("viber", chat="brand", token=VIBER_CHANNEL_TOKEN, admin_id=VIBER_ADMIN))

    outcome = client.publish(ChannelPost(text="Sale starts now", buttons=[SHOP]))

    assert outcome.published
    [post] = viber.channel_posts()
    assert (post.body["from"], post.type, post.text) == (
        VIBER_ADMIN, "text", "Sale starts now\nShop: https://shop.example/sale")
    assert outcome.message_id == str(post.message_token)
    assert isinstance(client.pin(outcome.message_id), PermanentFailure)
    assert client.subscriber_count() == 5678


def test_a_viber_post_from_someone_not_an_admin_is_refused_and_nothing_is_posted(viber):
    client = brand_client_for(_channel("viber", chat="brand", token=VIBER_CHANNEL_TOKEN, admin_id="someone"))

    outcome = client.publish(ChannelPost(text="Sale starts now"))

    assert isinstance(outcome.error, AccountRefused)
    assert outcome.error.reason == "the admin id is not an admin of the channel"
    assert viber.channel_posts() == []


def test_without_credentials_posts_go_to_the_sandbox_outbox(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    client = brand_client_for(_channel())

    check = client.check()
    outcome = client.publish(ChannelPost(text="Sale starts now", buttons=[SHOP]))

    assert check.can_post and re.search(r"\bsandbox\b", check.problem)
    assert re.fullmatch(r"sandbox-post-\d+", outcome.message_id)
    assert list(OutboxMessage.objects.values_list("platform", "address", "text", "buttons")) == [
        ("telegram", "@brand_news", "Sale starts now", [SHOP])]
