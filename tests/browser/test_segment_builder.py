"""The segment builder in a real browser: a marketer picks a tag, ticks a platform, adds an
attribute row, watches the live count reach the exact number, saves, and reads the same sizes
on the saved segment. Elements are found by role, label and visible text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from campaigns import services
from campaigns.models import Segment, Subscriber, Tag
from tests.conftest import SubscriberFactory, subscribe

from .support import accessibility, violations_summary

pytestmark = pytest.mark.django_db(transaction=True)


def person(tag: str, city: str, opted_in: list[str], opted_out: list[str] = ()) -> Subscriber:
    someone = SubscriberFactory(attributes={"city": city})
    someone.tags.set([Tag.objects.get_or_create(name=tag)[0]])
    for platform in opted_in:
        subscribe(someone, platform, saved_our_number=platform == "whatsapp")
    for platform in opted_out:
        services.subscription_opt_out(subscription=subscribe(someone, platform),
                                      consent=services.Consent(source="test"))
    return someone


def test_a_segment_built_with_the_builder_shows_its_live_count_and_saves_it(page: Page):
    # given: among five people, two Moscow VIPs reachable on Telegram; the others are left
    # out by the platform (opted out), the city or the tag, one step at a time
    person("vip", "Moscow", ["telegram"])
    person("vip", "Moscow", ["viber"], opted_out=["telegram"])
    person("vip", "Kazan", ["telegram"])
    person("new", "Moscow", ["telegram"])
    person("vip", "Moscow", ["telegram", "whatsapp"])
    status = page.get_by_role("status")

    # when: Segments -> Add segment, a name, and the tag "vip" typed and entered
    page.goto("/admin/campaigns/segment/")
    page.get_by_role("link", name=re.compile("Add segment", re.I)).first.click()
    page.get_by_label("Name").fill("Moscow VIPs on Telegram")
    tags = page.get_by_label("Has all of these tags")
    tags.fill("vip")
    tags.press("Enter")

    # then: a removable "vip" chip, and the count of everybody tagged vip
    expect(page.get_by_role("button", name="Remove tag vip")).to_be_visible()
    expect(status).to_contain_text("4 people in all")

    # when: Telegram ticked
    page.get_by_label("Telegram", exact=True).check()

    # then: the person who opted out of Telegram is left out
    expect(status).to_contain_text("3 people in all")

    # when: an attribute row city = Moscow
    page.get_by_role("button", name="Add attribute row").click()
    page.get_by_label("Attribute name").fill("city")
    page.get_by_label("Value").fill("Moscow")

    # then: two people, both on Telegram, one of them also on WhatsApp
    expect(status).to_contain_text("2 people in all")
    expect(status).to_contain_text("reachable on Telegram: 2")
    expect(status).to_contain_text("reachable on WhatsApp: 1")
    expect(status).to_contain_text("reachable on Viber: 0")
    assert violations_summary(accessibility(page)) == {}

    # when: saved, and the segment opened again
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_role("link", name="Moscow VIPs on Telegram").first.click()

    # then: the saved segment holds the builder's rules and has the sizes the live count said
    expect(page.get_by_text("2 people in all", exact=True)).to_be_visible()
    assert Segment.objects.get().rules == {"tags_all": ["vip"], "tags_any": [], "platforms": ["telegram"],
                                           "attributes": {"city": "Moscow"}}


def test_an_unknown_tag_is_warned_about_live_and_the_builder_hides_for_static_segments(page: Page):
    person("vip", "Moscow", ["telegram"])

    page.goto("/admin/campaigns/segment/add/")
    page.get_by_label("Has any of these tags").fill("blackfriday")
    page.get_by_role("button", name="Add tag").last.click()

    expect(page.get_by_role("status")).to_contain_text("No subscriber has tag “blackfriday” yet")
    expect(page.get_by_role("status")).to_contain_text("0 people in all")
    expect(page.get_by_text("Members", exact=True).first).to_be_hidden()

    # when: the segment is made static
    page.get_by_label(re.compile("static", re.I)).check()

    # then: the builder is gone and the members picker is there
    expect(page.get_by_label("Has any of these tags")).to_be_hidden()
    expect(page.get_by_text("Members", exact=True).first).to_be_visible()
