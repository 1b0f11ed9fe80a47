"""What a test send carries: the rendered message with its media and buttons, as each platform
takes them (fake Telegram and WhatsApp over HTTP); and, for an A/B test or VIP offers, the
variant asked for (its draft before scheduling, its frozen content after)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Subscription, TestSend
from campaigns.services import variants as variant_service
from campaigns.services.media import draft_media_attach
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, subscribe
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram
from tests.fakes.whatsapp import FakeWhatsApp

from .test_tester_sends import TOKEN, api_as, person, strict_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def fakes(settings):
    """Telegram and WhatsApp through their real adapters to the fakes; Viber without credentials (sandbox)."""
    with FakeTelegram() as telegram, FakeWhatsApp() as whatsapp:
        settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, telegram.base_url
        settings.WHATSAPP_ACCESS_TOKEN, settings.WHATSAPP_PHONE_NUMBER_ID = "wa-token", wa.PHONE_NUMBER_ID
        settings.WHATSAPP_API_URL = whatsapp.base_url
        settings.VIBER_AUTH_TOKEN = ""
        yield telegram, whatsapp
PNG = b"\x89PNG\r\n\x1a\n" + hashlib.sha256(b"tester picture").digest() * 100


def test_a_test_send_carries_the_media_and_buttons_as_each_platform_takes_them(fakes, settings, tmp_path):
    telegram, whatsapp = fakes
    settings.MEDIA_ROOT = tmp_path / "media"
    strict_policy(quiet_now=True)
    anna = person("Anna", tester=True)
    subscribe(anna, "telegram", "2101")
    anna_wa = subscribe(anna, "whatsapp", "+79990002101")
    Subscription.objects.filter(pk=anna_wa.pk).update(last_inbound_at=timezone.now() - timedelta(hours=1))
    whatsapp.open_window("79990002101")
    draft = DraftFactory(body="Hi {{ first_name }}\nour new picture",
                         buttons=[{"text": "Shop", "url": "https://shop.example/p"}])
    draft_media_attach(draft=draft, upload=SimpleUploadedFile("new.png", PNG))
    client, _ = api_as("Marketer")

    answer = client.post(f"/api/drafts/{draft.pk}/test/", {"platforms": ["telegram", "whatsapp"]}, format="json")

    assert answer.status_code == 201, answer.content
    assert [(r["platform"], r["status"]) for r in answer.json()] == [("telegram", "sent"), ("whatsapp", "sent")]
    # Telegram: the photo uploaded, the rendered text as its caption, the button as written (a test is not tracked)
    [photo] = telegram.media_sends()
    assert (photo.extra["method"], photo.extra["file"], photo.text) == (
        "sendphoto", "upload", "Hi Anna\nour new picture")
    assert telegram.uploaded_file(photo.extra["file_id"]) == PNG
    assert photo.reply_markup["inline_keyboard"][0][0] == {"text": "Shop", "url": "https://shop.example/p"}
    assert telegram.method_counts().get("sendmessage", 0) == 0
    # WhatsApp: the file uploaded to /media once, an image message with the caption and the button line
    [upload] = whatsapp.media_uploads()
    assert upload.content == PNG
    [message] = whatsapp.sent()
    assert (message.body["type"], message.body["image"]) == ("image", {
        "id": upload.media_id, "caption": "Hi Anna\nour new picture\nShop: https://shop.example/p"})


def _ab_campaign() -> tuple[Campaign, object, object]:
    a = DraftFactory(body="Variant A\nfor {{ name }}")
    b = DraftFactory(body="Variant B\nfor {{ name }}")
    segment = SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(draft=a, segment=segment, platforms=["telegram"], kind=Campaign.Kind.AB_TEST,
                               ab_test_share=50, ab_wait_minutes=60, send_at=timezone.now() + timedelta(hours=1))
    first, second = variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("A", a), variant_service.VariantInput("B", b)])
    return campaign, first, second


def test_a_campaign_test_sends_the_variant_asked_for_before_and_after_scheduling(fakes):
    telegram, whatsapp = fakes
    strict_policy(quiet_now=False)
    anna = person("Anna", tester=True)
    subscribe(anna, "telegram", "2201")
    campaign, first, second = _ab_campaign()
    client, _ = api_as("Marketer")

    # before scheduling: the variant's draft as it is now
    draft_b = client.post(f"/api/campaigns/{campaign.pk}/test/", {"variant": second.pk}, format="json")
    assert draft_b.status_code == 201, draft_b.content
    assert [(r["campaign"], r["text"]) for r in draft_b.json()] == [(campaign.pk, "Variant B\nfor Anna")]

    # after scheduling: the variant's frozen content, not its draft's later edit
    campaign = services.campaign_schedule(campaign=campaign, now=timezone.now())
    second.draft.body = "Edited after scheduling"
    second.draft.save()
    frozen_b = client.post(f"/api/campaigns/{campaign.pk}/test/", {"variant": second.pk}, format="json")
    frozen_a = client.post(f"/api/campaigns/{campaign.pk}/test/", {"variant": first.pk}, format="json")

    assert [r["text"] for r in frozen_b.json()] == ["Variant B\nfor Anna"]
    assert [r["text"] for r in frozen_a.json()] == ["Variant A\nfor Anna"]
    assert [c.text for c in telegram.sent()] == ["Variant B\nfor Anna", "Variant B\nfor Anna", "Variant A\nfor Anna"]


def test_a_variant_of_another_campaign_or_on_a_draft_is_refused_naming_it_and_nothing_is_sent(fakes):
    telegram, whatsapp = fakes
    subscribe(person("Anna", tester=True), "telegram", "2301")
    campaign, _first, _second = _ab_campaign()
    _other, stranger, _ = _ab_campaign()
    client, _ = api_as("Marketer")

    foreign = client.post(f"/api/campaigns/{campaign.pk}/test/", {"variant": stranger.pk}, format="json")
    on_draft = client.post(f"/api/drafts/{campaign.draft_id}/test/", {"variant": stranger.pk}, format="json")
    not_a_number = client.post(f"/api/campaigns/{campaign.pk}/test/", {"variant": "B"}, format="json")

    assert (foreign.status_code, foreign.json()) == (400, {"variant": [f"no variant #{stranger.pk} in this campaign"]})
    assert (on_draft.status_code, on_draft.json()) == (400, {"variant": [
        "a draft has no variants; test the campaign instead"]})
    assert (not_a_number.status_code, list(not_a_number.json())) == (400, ["variant"])
    assert telegram.calls() == [] and TestSend.objects.count() == 0
