"""Channel posts published by the real engine: `celery -A config worker` and beat as the
README starts them, a fake Telegram Bot API over HTTP that knows channels and fails the way
Telegram does. Exactly once per channel, at its time; a lost answer is never reposted."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import time as clock
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.delivery.publishing import publish_due
from campaigns.models import BrandChannel, Draft, Post, Publication
from campaigns.services import posts as post_services
from tests.conftest import DraftFactory
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber, ViberConfig

from .engine import Engine, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

P = Publication.Status
CHAT = -1001234567890
TOKEN = "123456:TEST-token"


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine_factory(tmp_path, fake):
    engines: list[Engine] = []

    def make(workers: int = 1, **env: str) -> Engine:
        engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url, **env})
        engines.append(engine)
        return engine.start(workers)

    yield make
    for engine in engines:
        engine.stop()


def brand_channel(server: FakeTelegram, chat_id: int = CHAT, username: str = "brandnews", **spec: object) -> BrandChannel:
    """A Telegram channel at the fake (the bot its administrator) and as Tact's record of it."""
    server.add_channel(chat_id, username=username, title=username.title(), members=1200, **spec)
    return BrandChannel.objects.create(
        platform="telegram", chat=f"@{username}", title=username.title(), can_post=True, timezone="UTC",
        night_start=clock(0, 0), night_end=clock(0, 0), min_gap_minutes=0, max_posts_per_day=50)


def scheduled(channels: list[BrandChannel], *, in_seconds: float = 3, draft: Draft | None = None,
              **options: object) -> Post:
    post = post_services.post_create(draft=draft or DraftFactory(), channels=channels,
                                     publish_at=timezone.now() + timedelta(seconds=in_seconds), **options)
    return post_services.post_schedule(post=post)


def settled(post: Post, timeout: float = 30) -> Post:
    wait_until(lambda: not Publication.objects.filter(post=post, status__in=[P.PLANNED, P.SENDING]).exists(),
               timeout, f"post {post.pk} to settle")
    return Post.objects.get(pk=post.pk)


def test_a_post_goes_out_once_at_its_time_silently_protected_pinned_with_media_and_a_tracked_button(
        engine_factory, fake):
    channel = brand_channel(fake)
    draft = DraftFactory(body="Autumn sale\nEverything −30 % until Sunday",
                         buttons=[{"text": "Shop", "url": "https://shop.example.com/sale"}],
                         media_url="https://cdn.example.com/autumn.jpg", media_kind="image",
                         media_content_type="image/jpeg", media_size=120_000, media_name="autumn.jpg")
    post = scheduled([channel], in_seconds=4, draft=draft, silent=True, protect_content=True, pin=True)
    publish_at = post.publish_at
    engine = engine_factory()

    post = settled(post)
    time.sleep(2)  # more ticks: nothing is posted again

    assert post.status == Post.Status.PUBLISHED, engine.logs()
    [call] = [c for c in fake.calls() if c.chat_id == CHAT]
    assert call.delivered
    assert call.wall >= publish_at.timestamp()
    assert call.text == "Autumn sale\nEverything −30 % until Sunday"
    assert call.extra["method"] == "sendphoto"
    assert call.extra["file"] == "url"
    assert call.extra["disable_notification"].lower() == "true"
    assert call.extra["protect_content"].lower() == "true"
    [[button]] = call.reply_markup["inline_keyboard"]
    assert button["text"] == "Shop"
    assert button["url"].startswith(f"{settings.TACT_PUBLIC_URL}/r/")
    publication = Publication.objects.get(post=post)
    assert (publication.status, publication.message_id, publication.reason) == (P.PUBLISHED, str(call.message_id), "")
    assert publication.published_at >= publish_at
    assert fake.pins == [(CHAT, call.message_id, True)]
    assert publication.pinned_at is not None


def test_one_post_goes_once_to_a_telegram_channel_and_once_to_a_viber_channel(engine_factory, fake):
    channel_token = "viber-channel-token-1"
    viber = FakeViber(token="viber-bot-token", config=ViberConfig(channels={channel_token: {
        "id": "pa:channel-1", "name": "Brand on Viber",
        "members": [{"id": "editor-1", "name": "Editor", "role": "admin"}]}})).start()
    try:
        telegram = brand_channel(fake)
        on_viber = BrandChannel.objects.create(
            platform="viber", chat="pa:channel-1", title="Brand on Viber", token=channel_token, admin_id="editor-1",
            can_post=True, timezone="UTC", night_start=clock(0, 0), night_end=clock(0, 0))
        post = scheduled([telegram, on_viber], draft=DraftFactory(body="Autumn sale\nEverything −30 %", buttons=[]))
        engine_factory(VIBER_API_URL=viber.base_url)

        post = settled(post)
        time.sleep(2)
    finally:
        viber.stop()

    [viber_post] = viber.channel_posts()
    assert (viber_post.text, viber_post.sender, viber_post.receivers) == (
        "Autumn sale\nEverything −30 %", {"from": "editor-1"}, ("pa:channel-1",))
    assert [c.text for c in fake.channel_posts(CHAT)] == ["Autumn sale\nEverything −30 %"]
    results = dict(Publication.objects.filter(post=post).values_list("channel_id", "status"))
    assert results == {telegram.pk: P.PUBLISHED, on_viber.pk: P.PUBLISHED}
    assert post.status == Post.Status.PUBLISHED


def test_a_lost_answer_is_uncertain_and_never_posted_again(engine_factory, fake):
    channel = brand_channel(fake)
    fake.configure(lose_next=1, lost_answer="502")
    post = scheduled([channel])
    engine_factory()

    post = settled(post)
    time.sleep(3)

    assert [c.chat_id for c in fake.calls()] == [CHAT]  # asked once
    assert len(fake.channel_posts(CHAT)) == 1  # and it is in the channel
    publication = Publication.objects.get(post=post)
    assert publication.status == P.UNCERTAIN
    assert "may have been sent" in publication.reason
    assert post.status == Post.Status.PUBLISHED


def test_a_channel_where_the_bot_lost_its_admin_right_fails_is_marked_and_is_not_retried(engine_factory, fake):
    channel = brand_channel(fake)
    post = scheduled([channel])
    fake.change_channel(CHAT, bot="left")  # removed from the channel after the post was scheduled
    engine_factory()

    post = settled(post)
    time.sleep(3)

    assert fake.channel_posts(CHAT) == []
    assert [c.chat_id for c in fake.calls()] == [CHAT]  # one refused attempt, never again
    publication = Publication.objects.get(post=post)
    assert (publication.status, publication.reason) == (P.FAILED, "the bot is not an administrator of @brandnews")
    assert Post.objects.get(pk=post.pk).status == Post.Status.FAILED  # published nowhere: not "published"
    channel.refresh_from_db()
    assert (channel.can_post, channel.problem) == (False, "the bot is not an administrator of @brandnews")


def test_a_pin_the_bot_may_not_make_is_said_on_the_published_post(engine_factory, fake):
    channel = brand_channel(fake, can_edit_messages=False)
    post = scheduled([channel], pin=True)
    engine_factory()

    post = settled(post)

    publication = Publication.objects.get(post=post)
    assert publication.status == P.PUBLISHED
    assert publication.reason.startswith("published, not pinned: ")
    assert publication.pinned_at is None
    assert fake.pins == []
    assert len(fake.channel_posts(CHAT)) == 1


def test_cancel_before_the_time_posts_nothing(engine_factory, fake):
    channel = brand_channel(fake)
    post = scheduled([channel], in_seconds=3)
    post_services.post_cancel(post=post)
    engine_factory()

    time.sleep(6)

    assert fake.calls() == []
    assert Publication.objects.get(post=post).status == P.CANCELLED
    assert Post.objects.get(pk=post.pk).status == Post.Status.CANCELLED


def test_two_workers_and_a_second_beat_post_each_post_once_per_channel(engine_factory, fake, tmp_path):
    chats = {-1001000000001: "brandone", -1001000000002: "brandtwo", -1001000000003: "brandthree"}
    channels = [brand_channel(fake, chat_id, username) for chat_id, username in chats.items()]
    posts = [scheduled(channels, in_seconds=5, draft=DraftFactory(body=f"Post {i}\nDetails")) for i in range(6)]
    engine = engine_factory(workers=2)
    second_beat = engine._spawn("beat2", ["beat", "--loglevel", "INFO", "--schedule", str(tmp_path / "beat2")])
    try:
        for post in posts:
            settled(post, timeout=60)
        time.sleep(2)
    finally:
        os.killpg(second_beat.pid, signal.SIGKILL)
        second_beat.wait(10)

    assert Counter((c.chat_id, c.text) for c in fake.calls()) == {
        (chat_id, f"Post {i}\nDetails"): 1 for chat_id in chats for i in range(6)}
    assert Counter(Publication.objects.values_list("status", flat=True)) == {P.PUBLISHED: 18}
    assert set(Post.objects.values_list("status", flat=True)) == {Post.Status.PUBLISHED}


def test_a_publication_left_sending_by_a_dead_worker_becomes_uncertain_after_the_lease(fake, settings):
    settings.TACT_PUBLISHING_LEASE_SECONDS = 60
    channel = brand_channel(fake)
    post = scheduled([channel])
    Publication.objects.filter(post=post).update(status=P.SENDING)
    Publication.objects.filter(post=post).update(updated_at=timezone.now() - timedelta(seconds=61))

    publish_due()

    publication = Publication.objects.get(post=post)
    assert (publication.status, publication.reason) == (
        P.UNCERTAIN, "the worker stopped during the platform call; it may be in the channel")
    assert Post.objects.get(pk=post.pk).status == Post.Status.PUBLISHED
    assert fake.calls() == []
