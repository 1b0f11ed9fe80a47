"""Clicks per link of an A/B test: each variant's people got that variant's links, so the
redirect, the recorded link and the campaign page's table are per variant (link 0 of A is
not link 0 of B)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from campaigns import selectors, services
from campaigns.delivery.outbound import outbound_message, variant_content
from campaigns.models import Campaign, CampaignVariant, Delivery
from campaigns.services import variants as variant_service
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db
PUBLIC = "https://go.tact.example"


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.TACT_PUBLIC_URL = PUBLIC


def _sent(campaign: Campaign, variant: CampaignVariant) -> tuple[Delivery, list[str]]:
    """A sent delivery of `variant` and the tracked URLs of its buttons, as the worker sends them."""
    person = SubscriberFactory()
    subscription = subscribe(person, "telegram")
    row = Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscription, platform="telegram",
                                  list_number=1, status=Delivery.Status.SENT, send_after=campaign.send_at,
                                  sent_at=timezone.now(), variant=variant)
    message = outbound_message(variant_content(variant), delivery_id=row.pk, subscription=subscription,
                               subscriber=person, window_open=True)
    return row, [b["url"] for b in message.buttons]


def test_an_ab_tests_clicks_are_counted_and_shown_per_variant_and_link():
    a = DraftFactory(body="Variant A", buttons=[{"text": "A shop", "url": "https://a.example/shop"}])
    b = DraftFactory(body="Variant B", buttons=[{"text": "B shop", "url": "https://b.example/shop"},
                                                {"text": "B blog", "url": "https://b.example/blog"}])
    segment = SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})
    send_at = timezone.now() + timedelta(hours=1)
    campaign = CampaignFactory(name="Spring", draft=a, segment=segment, platforms=["telegram"], send_at=send_at,
                               kind=Campaign.Kind.AB_TEST, ab_test_share=50, ab_wait_minutes=60)
    first, second = variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("A", a), variant_service.VariantInput("B", b)])
    campaign = services.campaign_schedule(campaign=campaign, now=timezone.now())
    first.refresh_from_db()  # its content frozen by scheduling
    second.refresh_from_db()
    _row_a, urls_a = _sent(campaign, first)
    _row_b1, urls_b1 = _sent(campaign, second)
    _row_b2, urls_b2 = _sent(campaign, second)
    web = Client()

    # a B person's first button leads to B's shop, not A's
    answer = web.get(urlsplit(urls_b1[0]).path)
    assert answer.status_code == 302
    assert answer["Location"].startswith("https://b.example/shop?utm_source=telegram")
    for url in (urls_a[0], urls_b2[0], urls_b2[1]):
        assert web.get(urlsplit(url).path).status_code == 302

    assert selectors.campaign_link_clicks(campaign) == [
        {"variant": "A", "link": 0, "url": "https://a.example/shop", "clicks": 1, "people": 1},
        {"variant": "B", "link": 0, "url": "https://b.example/shop", "clicks": 2, "people": 2},
        {"variant": "B", "link": 1, "url": "https://b.example/blog", "clicks": 1, "people": 1},
    ]
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", password="x-secret-123"))
    page = admin.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    table = page.split("data-link-clicks>")[1].split("</table>")[0]
    cells = [c.split(">", 1)[1].split("</td")[0] for c in table.split("<td") if c.startswith((">", " "))]
    assert cells == ["A", "https://a.example/shop", "1", "1", "B", "https://b.example/shop", "2", "2",
                     "B", "https://b.example/blog", "1", "1"]
