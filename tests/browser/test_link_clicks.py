"""A person taps a tracked button in a real browser and lands on the shop's page with the UTM
parameters; the marketer then reads the clicks per link on the campaign page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns import services
from campaigns.delivery.outbound import campaign_content, outbound_message
from campaigns.models import Click, Delivery
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_tapped_button_lands_on_the_page_with_utm_and_the_campaign_page_counts_it(page: Page, live_server,
                                                                                      settings):
    settings.TACT_PUBLIC_URL = live_server.url
    shop = f"{live_server.url}/healthz/?from=button"  # a page of the same server stands for the shop
    draft = DraftFactory(body="Terms: https://shop.example/terms", track_body_links=True,
                         buttons=[{"text": "Shop", "url": shop}])
    send_at = timezone.now() + timedelta(days=1)
    everybody = SegmentFactory(rules={"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = services.campaign_schedule(
        campaign=CampaignFactory(name="Black Friday", draft=draft, segment=everybody, send_at=send_at),
        now=send_at - timedelta(seconds=5))
    messages = []
    for _ in range(3):
        person = SubscriberFactory()
        row = Delivery.objects.create(campaign=campaign, subscriber=person, subscription=subscribe(person),
                                      platform="telegram", list_number=1, status=Delivery.Status.SENT,
                                      send_after=send_at, sent_at=timezone.now())
        messages.append(outbound_message(campaign_content(campaign), delivery_id=row.pk,
                                         subscription=row.subscription, subscriber=person, window_open=True))

    # when: two people tap the button, one of them twice
    for message in (messages[0], messages[1], messages[0]):
        page.goto(message.buttons[0]["url"])
        expect(page).to_have_url(
            f"{shop}&utm_source=telegram&utm_medium=messenger&utm_campaign=black-friday")
    assert Click.objects.count() == 2

    # then: the campaign page's results count them per link
    page.goto(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    table = page.get_by_role("table", name="Clicks per link")
    expect(table).to_be_visible()
    rows = [[c.strip() for c in row.locator("th, td").all_inner_texts()] for row in table.get_by_role("row").all()]
    assert rows == [["link", "clicks", "people"], [shop, "2", "2"], ["https://shop.example/terms", "0", "0"]]
    expect(page.get_by_text(re.compile(r"^clicked$")).first).to_be_visible()
