"""WhatsApp templates in a real browser: "Sync templates now" against the fake Graph API (and
its refusal, which keeps the list), then a draft picks an approved template and maps its variables."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns.models import Draft, WhatsAppTemplate
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def graph(settings):
    with FakeWhatsApp(token="wa-token", config=WhatsAppConfig(templates_page_size=2)) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
        settings.WHATSAPP_API_URL = fake.base_url
        settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp_fake.WABA_ID
        yield fake


def test_sync_templates_now_lists_them_and_a_refusal_keeps_them(page: Page, graph):
    page.get_by_role("link", name="WhatsApp templates", exact=True).first.click()

    page.get_by_role("button", name="Sync templates now").click()

    expect(page.get_by_text("Templates synced: 5 new, 0 updated, 0 gone from the account; 3 approved.")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"black_friday\s+ru\s+MARKETING\s+APPROVED"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"spring_teaser\s+en\s+MARKETING\s+PENDING"))).to_be_visible()
    assert violations_summary(accessibility(page)) == {}

    graph.configure(token_revoked=True)
    page.get_by_role("button", name="Sync templates now").click()

    expect(page.get_by_text(re.compile(r"WhatsApp refused the access token .*templates were not synced"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"black_friday\s+ru"))).to_be_visible()
    assert WhatsAppTemplate.objects.count() == 5


def test_a_draft_picks_an_approved_template_and_maps_each_variable(page: Page, graph):
    from campaigns.services.whatsapp_templates import whatsapp_templates_sync

    whatsapp_templates_sync()
    page.goto("/admin/campaigns/draft/add/")
    page.get_by_label("Title").fill("Black Friday")
    page.get_by_role("textbox", name=re.compile(r"^Body")).fill("Sale\nToday only")
    expect(page.get_by_label("Template name")).to_have_count(0)  # no free name once templates are synced
    picker = page.get_by_label("Template", exact=True)
    assert picker.locator("option").all_inner_texts() == [
        "No template", "black_friday (ru) · MARKETING", "new_collection (en) · MARKETING",
        "order_ready (en_US) · UTILITY"]

    picker.select_option(label="order_ready (en_US) · UTILITY")
    expect(page.get_by_label("Variable body {{first_name}}")).to_be_visible()
    expect(page.get_by_label("Variable body {{1}}")).to_be_hidden()  # black_friday's rows stay hidden
    page.get_by_label("Variable body {{first_name}}").fill("{{ name }}")
    page.get_by_role("button", name="Save", exact=True).click()

    # an unmapped variable: refused, naming it, and nothing saved
    expect(page.get_by_text(re.compile(r"left unmapped: body \{\{order_id\}\}"))).to_be_visible()
    assert Draft.objects.count() == 0

    page.get_by_label("Variable body {{order_id}}").fill("{{ attributes.order }}")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("was added successfully")).to_be_visible()
    assert Draft.objects.get().whatsapp_template == {
        "name": "order_ready", "language": "en_US", "parameters": ["{{ name }}", "{{ attributes.order }}"]}
