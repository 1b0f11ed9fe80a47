"""An image campaign on Telegram, WhatsApp and Viber through the fakes over HTTP, with real
workers: each platform gets the picture the way it takes one, uploaded once per account."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Campaign,
    Delivery,
    MediaUpload,
    Subscription,
    WhatsAppTemplate,
)
from campaigns.services.media import draft_media_attach
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber, ViberConfig
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .engine import Engine
from .test_delivery import _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status
VIBER_TOKEN = "viber-auth-token"
PNG = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(b"picture").digest() * 2000  # 64 KB
BODY = "−30% on everything today only\nShow this picture at the till."
TEMPLATE = {"name": "photo_offer", "language": "ru", "parameters": ["−30%"]}


@pytest.fixture
def platforms(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VIBER_AUTH_TOKEN = VIBER_TOKEN
    telegram = FakeTelegram().start()
    whatsapp = FakeWhatsApp(config=WhatsAppConfig(enforce_window=True)).start()
    viber = FakeViber(token=VIBER_TOKEN, config=ViberConfig()).start()
    engine = Engine(tmp_path, {
        "TELEGRAM_BOT_TOKEN": "123456:TEST", "TELEGRAM_API_URL": telegram.base_url,
        "WHATSAPP_ACCESS_TOKEN": "wa-token", "WHATSAPP_PHONE_NUMBER_ID": whatsapp_fake.PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": whatsapp.base_url,
        "VIBER_AUTH_TOKEN": VIBER_TOKEN, "VIBER_API_URL": viber.base_url,
        # the worker stores and reads media where this process does, and links to this server
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT), "TACT_PUBLIC_URL": live_server.url,
    })
    try:
        yield telegram, whatsapp, viber, engine
    finally:
        engine.stop()
        for server in (telegram, whatsapp, viber):
            server.stop()


def _person(platform: str, address: str, **kwargs) -> Subscription:
    person = SubscriberFactory()
    person.tags.add(*_tags("all"))
    return subscribe(person, platform, address, **kwargs)


def test_an_image_campaign_uploads_once_per_platform_account_and_reuses_the_file(platforms):
    telegram, whatsapp, viber, engine = platforms
    policy()
    chats = [str(8100 + i) for i in range(7)]
    for chat in chats:
        _person("telegram", chat)
    phones = [f"+7999555{i:04d}" for i in range(5)]
    recent = timezone.now() - timedelta(hours=1)
    for i, phone in enumerate(phones):
        subscription = _person("whatsapp", phone, saved_our_number=True)
        if i < 3:  # inside the 24-hour window: an image message; the others: the template
            Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=recent)
    whatsapp.open_window(*[p.lstrip("+") for p in phones[:3]])
    viber_ids = [f"viberPic{i:02d}AAAA==" for i in range(4)]
    for user in viber_ids:
        _person("viber", user)
    # an approved template whose header is an image takes the draft's picture there
    WhatsAppTemplate.objects.create(
        name="photo_offer", language="ru", category="MARKETING", status="APPROVED", synced_at=timezone.now(),
        components=[{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "Today {{1}} on everything"}],
        variables=[{"component": "body", "index": 1, "example": "-30%"}])

    draft = DraftFactory(body=BODY, buttons=[{"text": "Shop", "url": "https://shop.example.com"}],
                         whatsapp_template=TEMPLATE, track_links=False)
    draft_media_attach(draft=draft, upload=SimpleUploadedFile("offer.png", PNG))
    segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, draft=draft, platforms=["telegram", "whatsapp", "viber"],
                               send_at=send_at)
    campaign = services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))
    engine.start()
    campaign = finished(campaign, 120, engine)
    assert statuses(campaign) == {S.SENT: 16}

    # Telegram: sendPhoto to everyone, the text as caption with the button; exactly one
    # multipart upload, then the file_id it answered for the other six
    sends = telegram.media_sends()
    assert sorted(str(c.chat_id) for c in sends) == sorted(chats)
    assert {c.extra["method"] for c in sends} == {"sendphoto"}
    assert {c.text for c in sends} == {BODY}
    assert {c.reply_markup["inline_keyboard"][0][0]["url"] for c in sends} == {"https://shop.example.com"}
    uploads = [c for c in sends if c.extra["file"] == "upload"]
    assert len(uploads) == 1
    file_id = uploads[0].extra["file_id"]
    assert telegram.uploaded_file(file_id) == PNG
    assert sorted((c.extra["file"], c.extra["file_id"]) for c in sends if c is not uploads[0]) == [
        ("file_id", file_id)] * 6
    assert telegram.method_counts().get("sendmessage", 0) == 0

    # WhatsApp: one upload to /media, then image messages (caption = text and the button
    # line) and the template with the image as its header, all by that media id
    [upload] = whatsapp.media_uploads()
    assert (upload.content, upload.content_type) == (PNG, "image/png")
    by_phone = {c.wa_id: c.body for c in whatsapp.sent()}
    assert set(by_phone) == {p.lstrip("+") for p in phones}
    for phone in phones[:3]:
        body = by_phone[phone.lstrip("+")]
        assert (body["type"], body["image"]) == ("image", {
            "id": upload.media_id, "caption": BODY + "\nShop: https://shop.example.com"})
    for phone in phones[3:]:
        template = by_phone[phone.lstrip("+")]["template"]
        assert template["name"] == "photo_offer"
        assert template["components"][0] == {
            "type": "header", "parameters": [{"type": "image", "image": {"id": upload.media_id}}]}

    # Viber: a picture message by URL with the text; that URL serves the exact bytes
    pictures = [c for c in viber.calls() if c.method == "broadcast_message"]
    assert [(c.type, c.text, sorted(c.accepted)) for c in pictures] == [("picture", BODY, sorted(viber_ids))]
    url = pictures[0].body["media"]
    answer = httpx.get(url)
    assert (answer.status_code, answer.content, answer.headers["content-type"]) == (200, PNG, "image/png")

    assert sorted(MediaUpload.objects.values_list("platform", "remote_id")) == [
        ("telegram", file_id), ("whatsapp", upload.media_id)]
    assert Campaign.objects.get(pk=campaign.pk).content_media["sha256"] == hashlib.sha256(PNG).hexdigest()
