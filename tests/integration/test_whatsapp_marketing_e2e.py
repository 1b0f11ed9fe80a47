"""With WHATSAPP_MARKETING_MESSAGES on, a real worker sends MARKETING templates through
/marketing_messages and the rest (UTILITY templates, free text) through /messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, Delivery, Subscription
from campaigns.services.whatsapp_templates import whatsapp_templates_sync
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .engine import Engine
from .test_delivery import _tags, finished, policy, statuses

pytestmark = pytest.mark.django_db(transaction=True)
S = Delivery.Status
BLACK_FRIDAY = {"name": "black_friday", "language": "ru",
                "parameters": ["до -50%", "{{ name }}", "−30%", "bf", "BF2026"]}
ORDER_READY = {"name": "order_ready", "language": "en_US", "parameters": ["{{ name }}", "A-1042"]}


@pytest.fixture
def whatsapp(settings, tmp_path):
    fake = FakeWhatsApp(token="wa-token", config=WhatsAppConfig(enforce_window=True)).start()
    settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
    settings.WHATSAPP_API_URL = fake.base_url
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp_fake.WABA_ID
    engine = Engine(tmp_path, {
        "WHATSAPP_ACCESS_TOKEN": "wa-token", "WHATSAPP_PHONE_NUMBER_ID": whatsapp_fake.PHONE_NUMBER_ID,
        "WHATSAPP_API_URL": fake.base_url, "WHATSAPP_MARKETING_MESSAGES": "true",
    })
    try:
        yield fake, engine
    finally:
        engine.stop()
        fake.stop()


def _people(tag: str, phones: list[str]) -> list[Subscription]:
    out = []
    for phone in phones:
        person = SubscriberFactory()
        person.tags.add(*_tags(tag))
        out.append(subscribe(person, "whatsapp", phone))
    return out


def _launch(tag: str, template: dict) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": [tag], "tags_any": [], "platforms": [], "attributes": {}})
    draft = DraftFactory(body="Only today: −30% on everything", buttons=[], whatsapp_template=template)
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = CampaignFactory(segment=segment, draft=draft, platforms=["whatsapp"], send_at=send_at)
    return services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=5))


def test_marketing_templates_go_to_marketing_messages_and_utility_ones_to_messages(whatsapp):
    fake, engine = whatsapp
    whatsapp_templates_sync()
    policy()
    promo = _people("promo", ["+79991110001", "+79991110002"])
    service = _people("service", ["+79992220001", "+79992220002"])
    # one of each wrote an hour ago: inside the window, free text through /messages
    for subscription in (promo[0], service[0]):
        Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=timezone.now() - timedelta(hours=1))
    fake.open_window("79991110001", "79992220001")

    engine.start()
    marketing = finished(_launch("promo", BLACK_FRIDAY), 90, engine)
    utility = finished(_launch("service", ORDER_READY), 90, engine)

    assert statuses(marketing) == {S.SENT: 2} and statuses(utility) == {S.SENT: 2}
    routes = {c.wa_id: (c.endpoint, c.type, c.template) for c in fake.sent()}
    assert routes == {
        "79991110001": ("messages", "text", None),
        "79991110002": ("marketing_messages", "template", "black_friday"),
        "79992220001": ("messages", "text", None),
        "79992220002": ("messages", "template", "order_ready"),
    }
    bodies = {c.wa_id: c.body["template"]["components"] for c in fake.sent() if c.type == "template"}
    name = promo[1].subscriber.name
    assert bodies["79991110002"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "до -50%"}]},
        {"type": "body", "parameters": [{"type": "text", "text": name}, {"type": "text", "text": "−30%"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "bf"}]},
        {"type": "button", "sub_type": "copy_code", "index": "1",
         "parameters": [{"type": "coupon_code", "coupon_code": "BF2026"}]},
    ]
    assert bodies["79992220002"] == [{"type": "body", "parameters": [
        {"type": "text", "text": service[1].subscriber.name, "parameter_name": "first_name"},
        {"type": "text", "text": "A-1042", "parameter_name": "order_id"}]}]
