"""The segment builder in the admin: the form's inputs make exactly the rules the API stores,
the live count gives the saved segment's numbers before saving, unknown tags are warned about,
bad input gets a 400 naming the part, and only people who may see segments may count."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Permission

from campaigns import selectors, services
from campaigns.models import Segment, Subscriber, Tag
from tests.conftest import SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

ADD = "/admin/campaigns/segment/add/"
COUNT = "/admin/campaigns/segment/builder/count/"


@pytest.fixture
def marketer(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="x-secret-123")
    client.force_login(user)
    return client


def person(tags: list[str], attributes: dict, opted_in: list[str], opted_out: list[str] = ()) -> Subscriber:
    someone = SubscriberFactory(attributes=attributes)
    someone.tags.set([Tag.objects.get_or_create(name=t)[0] for t in tags])
    for platform in opted_in:
        subscribe(someone, platform, saved_our_number=platform == "whatsapp")
    for platform in opted_out:
        subscription = subscribe(someone, platform, saved_our_number=platform == "whatsapp")
        services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="test"))
    return someone


@pytest.fixture
def audience():
    """People built so that a wrong count shows: opted out, other platforms, a "1500" that is
    text, someone without the tag, someone in another city."""
    moscow = {"city": "Moscow", "avg_check": 1500}
    person(["new"], moscow, ["telegram"])  # no vip tag
    person(["vip"], moscow, ["whatsapp", "viber"])  # in, reachable on WhatsApp and Viber
    person(["vip"], {"city": "Kazan", "avg_check": 1500}, ["telegram", "viber"])  # another city
    person(["vip"], {"city": "Moscow", "avg_check": "1500"}, ["whatsapp"])  # 1500 as text
    person(["vip"], moscow, ["viber"], opted_out=["telegram"])  # opted out of Telegram
    person(["vip", "new"], moscow, ["telegram", "whatsapp"])  # in, reachable on Telegram and WhatsApp


def post_segment(client, url: str, **parts) -> object:
    data = {"name": "Moscow VIPs", "kind": "dynamic", "max_size": ""}
    data.update({f"rules__{k}": v for k, v in parts.items()})
    return client.post(url, data, follow=True)


def test_the_builder_saves_exactly_the_rules_the_api_stores(marketer):
    # when: two chips and a typed, comma-separated tag (one a repeat), two platforms, three
    # attribute rows (a number, text, a number written as text) and an empty row
    response = post_segment(
        marketer, ADD,
        tags_all=["vip", "new", " vip, loyal "], tags_any=["", "spb"], platforms=["viber", "telegram"],
        attribute_name=["city", "avg_check", "code", "", "member"], attribute_value=["Moscow", "1500", '"1500"', "", "true"],
    )

    # then: the segment holds the rules in the API's form, with typed values
    assert response.status_code == 200
    segment = Segment.objects.get()
    assert segment.rules == {
        "tags_all": ["loyal", "new", "vip"],
        "tags_any": ["spb"],
        "platforms": ["telegram", "viber"],
        "attributes": {"city": "Moscow", "avg_check": 1500, "code": "1500", "member": True},
    }
    assert segment.members.count() == 0

    # when: its page is opened, then saved without a change
    page = html.unescape(marketer.get(f"/admin/campaigns/segment/{segment.pk}/change/").content.decode())
    for shown in ('value="1500"', 'value=""1500""', 'value="true"', 'value="Moscow"', 'value="loyal"'):
        assert shown in page
    post_segment(marketer, f"/admin/campaigns/segment/{segment.pk}/change/",
                 tags_all=["loyal", "new", "vip"], tags_any=["spb"], platforms=["telegram", "viber"],
                 attribute_name=["city", "avg_check", "code", "member"],
                 attribute_value=["Moscow", "1500", '"1500"', "true"])

    # then: the rules read back the same
    segment.refresh_from_db()
    assert segment.rules["attributes"] == {"city": "Moscow", "avg_check": 1500, "code": "1500", "member": True}


def test_an_empty_dynamic_builder_stores_the_full_empty_rules_and_a_static_segment_none(marketer):
    post_segment(marketer, ADD, tags_all=[""], tags_any=[""], attribute_name=[""], attribute_value=[""])
    member = SubscriberFactory()
    marketer.post(ADD, {"name": "Hand-picked", "kind": "static", "members": [member.pk], "max_size": ""})

    assert dict(Segment.objects.values_list("name", "rules")) == {
        "Moscow VIPs": {"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}},
        "Hand-picked": {},
    }
    assert list(Segment.objects.get(name="Hand-picked").members.all()) == [member]


def test_a_dynamic_segment_made_static_loses_its_rules(marketer):
    segment = SegmentFactory(rules={"tags_all": ["vip"], "tags_any": [], "platforms": [], "attributes": {}})
    member = SubscriberFactory()

    marketer.post(f"/admin/campaigns/segment/{segment.pk}/change/",
                  {"name": segment.name, "kind": "static", "members": [member.pk], "max_size": ""})

    segment.refresh_from_db()
    assert (segment.kind, segment.rules, list(segment.members.all())) == ("static", {}, [member])


def test_the_live_count_gives_the_numbers_the_saved_segment_has(marketer, audience):
    query = {"tags_all": "vip", "platforms": ["telegram", "whatsapp"],
             "attribute_name": ["city", "avg_check"], "attribute_value": ["Moscow", "1500"]}

    counted = marketer.get(COUNT, query)

    assert counted.status_code == 200
    assert counted.json() == {"sizes": {"total": 2, "telegram": 1, "whatsapp": 2, "viber": 1},
                              "unknown_tags": [], "warning": "", "summary": "2 people in all"}
    post_segment(marketer, ADD, tags_all=["vip"], platforms=["telegram", "whatsapp"],
                 attribute_name=["city", "avg_check"], attribute_value=["Moscow", "1500"])
    assert selectors.segment_sizes(Segment.objects.get()) == counted.json()["sizes"]


def test_the_live_count_without_a_platform_counts_everybody_and_the_reachable_per_platform(marketer, audience):
    counted = marketer.get(COUNT, {"tags_all": "vip", "attribute_name": "city", "attribute_value": "Moscow"})

    assert counted.json()["sizes"] == {"total": 4, "telegram": 1, "whatsapp": 3, "viber": 2}


def test_a_text_value_in_quotes_counts_the_people_whose_attribute_is_text(marketer, audience):
    counted = marketer.get(COUNT, {"attribute_name": "avg_check", "attribute_value": '"1500"'})

    assert counted.json()["sizes"] == {"total": 1, "telegram": 0, "whatsapp": 1, "viber": 0}


def test_unknown_tags_are_warned_about_live_and_after_saving_and_saved_all_the_same(marketer, audience):
    counted = marketer.get(COUNT, {"tags_all": ["vip", "newyear"], "tags_any": "ghost"})
    assert counted.status_code == 200
    assert counted.json()["sizes"] == {"total": 0, "telegram": 0, "whatsapp": 0, "viber": 0}
    assert counted.json()["unknown_tags"] == ["ghost", "newyear"]

    Tag.objects.create(name="ghost")  # a tag nobody carries is as unknown as one that does not exist
    response = post_segment(marketer, ADD, tags_all=["vip", "newyear"], tags_any=["ghost"])

    messages = [str(m) for m in response.context["messages"]]
    assert "No subscriber has tag “ghost”, “newyear” yet; the segment counts nobody for it until someone does." \
        in messages
    assert Segment.objects.get().rules["tags_all"] == ["newyear", "vip"]


def test_known_tags_raise_no_warning(marketer, audience):
    response = post_segment(marketer, ADD, tags_all=["vip"])

    assert not [m for m in response.context["messages"] if "No subscriber has tag" in str(m)]
    assert marketer.get(COUNT, {"tags_all": "vip"}).json()["unknown_tags"] == []


@pytest.mark.parametrize(("query", "part", "message"), [
    ({"platforms": "sms"}, "platforms", "“sms” is not a platform; choose from telegram, whatsapp, viber."),
    ({"attribute_name": "", "attribute_value": "Moscow"}, "attributes", "Attribute row 1 has a value but no name."),
    ({"attribute_name": "city", "attribute_value": ""}, "attributes",
     'Attribute “city” needs a value (write "" to match empty text).'),
    ({"attribute_name": ["city", "city"], "attribute_value": ["Moscow", "Kazan"]}, "attributes",
     "Attribute “city” is given twice."),
    ({"attribute_name": ["city", "avg_check"], "attribute_value": "Moscow"}, "attributes",
     "Each attribute row needs a name and a value field."),
    ({"tags_any": "x" * 51}, "tags_any", "Tag “" + "x" * 50 + "…” is longer than 50 characters."),
])
def test_bad_input_to_the_count_gets_a_400_naming_the_part(marketer, query, part, message):
    response = marketer.get(COUNT, query)

    assert response.status_code == 400
    assert response.json() == {"errors": {part: [message]}}


def test_bad_builder_input_in_the_form_is_refused_and_nothing_is_saved(marketer):
    response = post_segment(marketer, ADD, tags_all=["vip"], platforms=["sms"])

    assert response.status_code == 200
    assert "“sms” is not a platform; choose from telegram, whatsapp, viber." in html.unescape(response.content.decode())
    assert Segment.objects.count() == 0


@pytest.mark.parametrize(("parts", "message"), [
    ({"tags_all": ["vip\x00"]}, "A tag name cannot contain a null character."),
    ({"attribute_name": ["city"], "attribute_value": ["Mos\x00cow"]}, "Attribute row 1 contains a null character."),
    ({"attribute_name": ["city"], "attribute_value": []}, "Each attribute row needs a name and a value field."),
])
def test_a_null_character_or_a_half_row_in_the_form_is_refused(marketer, parts, message):
    response = post_segment(marketer, ADD, **parts)

    assert response.status_code == 200
    assert message in html.unescape(response.content.decode())
    assert Segment.objects.count() == 0


def test_rules_on_a_static_segment_are_refused_as_before(marketer):
    response = marketer.post(ADD, {"name": "S", "kind": "static", "max_size": "", "rules__tags_all": "vip"})

    assert "rules are for dynamic segments; static ones list members" in response.content.decode()
    assert Segment.objects.count() == 0


def test_counting_needs_the_view_segment_permission(client, django_user_model, audience):
    clerk = django_user_model.objects.create_user("clerk", password="x-secret-123", is_staff=True)
    client.force_login(clerk)

    refused = client.get(COUNT, {"tags_all": "vip"})

    assert refused.status_code == 403
    assert b'"sizes"' not in refused.content

    clerk.user_permissions.add(Permission.objects.get(codename="view_segment"))
    allowed = client.get(COUNT, {"tags_all": "vip"})
    assert allowed.status_code == 200
    assert allowed.json()["sizes"]["total"] == 5


def test_the_builder_shows_on_the_add_page_with_the_known_tags(marketer, audience):
    SegmentFactory(name="Other")
    page = marketer.get(ADD).content.decode()

    assert '<option value="new"></option><option value="vip"></option>' in page
    assert "tact/segment_builder.js" in page
    assert 'data-count-url="/admin/campaigns/segment/builder/count/"' in page
