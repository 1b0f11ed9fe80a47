"""Placeholders and coupon pools through the API and the admin, as a marketer uses them:
refusals name what is wrong and save nothing; scheduling measures each person's own text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Campaign, CouponCode, Draft
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)

pytestmark = pytest.mark.django_db
SEND_AT = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def api(admin_client_api, django_user_model):
    # The coupon permissions are in the roles table (campaigns/roles.py); a database whose
    # groups were made before CouponCode existed gets them from the operator (or a migration).
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.get(username="marketer")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_couponcode", "add_couponcode"]))
    admin_client_api.raise_request_exception = False
    return admin_client_api


def _audience(*people: tuple[str, dict, str]) -> list:
    """People tagged `crowd`, each opted in on Telegram: (name, attributes, chat)."""
    from campaigns.models import Tag

    tag, _ = Tag.objects.get_or_create(name="crowd")
    made = []
    for name, attributes, chat in people:
        person = SubscriberFactory(name=name, attributes=attributes)
        person.tags.add(tag)
        subscribe(person, "telegram", chat)
        made.append(person)
    return made


def _campaign(body: str, **draft) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": ["crowd"], "tags_any": [], "platforms": [], "attributes": {}})
    return CampaignFactory(draft=DraftFactory(body=body, **draft), segment=segment, send_at=SEND_AT,
                           platforms=["telegram"])


# --- saving a draft -----------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "expected"), [
    ({"body": "Hi {{ nmae }}!"}, {"body": ["unknown placeholder {{ nmae }}: use {{ name }}, {{ first_name }}, "
                                           "{{ attributes.KEY }} or {{ coupon }}"]}),
    ({"body": "{% if name %}Hi{% endif %}"}, {"body": ["template tags are not allowed: {% if name %}"]}),
    ({"body": "Hi {{ name|upper }}"}, {"body": ['{{ name|upper }}: the only filter allowed is |default:"..."']}),
    ({"body": "Hi", "buttons": [{"text": "Copy", "copy_text": "{{ cupon }}"}]},
     {"buttons": {"0": {"copy_text": ["unknown placeholder {{ cupon }}: use {{ name }}, {{ first_name }}, "
                                      "{{ attributes.KEY }} or {{ coupon }}"]}}}),
    ({"body": "Hi", "buttons": [{"text": "Copy", "url": "https://shop.example/", "copy_text": "{{ coupon }}"}]},
     {"buttons": {"0": {"url": ["give a button either a url or a copy_text (a Telegram copy-to-clipboard button)"]}}}),
    ({"body": "Hi", "whatsapp_template": {"name": "promo", "language": "ru", "parameters": ["ok", "{{ name"]}},
     {"whatsapp_template": {"parameters": {"1": ["unbalanced {{ in “{{ name”: write a placeholder on one line "
                                                 "as {{ name }}"]}}}),
])
def test_a_draft_with_other_template_syntax_is_refused_naming_it(api, payload, expected):
    response = api.post("/api/drafts/", {"title": "Sale", **payload}, format="json")

    assert response.status_code == 400
    assert response.json() == expected
    assert Draft.objects.count() == 0


def test_a_draft_with_placeholders_and_a_copy_button_is_saved(api):
    response = api.post("/api/drafts/", {
        "title": "Sale", "body": 'Привет, {{ first_name|default:"друг" }}! Код: {{ coupon }}',
        "buttons": [{"text": "Copy code", "copy_text": "{{ coupon }}"},
                    {"text": "Shop", "url": "https://shop.example/?code={{ coupon }}"}],
        "whatsapp_template": {"name": "promo", "language": "ru", "parameters": ["{{ first_name }}"]},
    }, format="json")

    assert response.status_code == 201, response.json()
    draft = Draft.objects.get()
    assert draft.buttons == [{"text": "Copy code", "copy_text": "{{ coupon }}"},
                             {"text": "Shop", "url": "https://shop.example/?code={{ coupon }}"}]


def test_the_admin_draft_form_refuses_an_unknown_placeholder(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))

    page = client.post("/admin/campaigns/draft/add/", {"title": "Sale", "body": "Hi {{ frist_name }}"})

    assert page.status_code == 200
    assert "unknown placeholder {{ frist_name }}" in page.content.decode()
    assert Draft.objects.count() == 0


# --- the preview ----------------------------------------------------------------------------


def test_the_preview_renders_for_a_chosen_subscriber_with_the_same_counts(api):
    anna = SubscriberFactory(name="Anna Karenina", attributes={"city": "Moscow"})
    draft = DraftFactory(body='{{ first_name }} from {{ attributes.city|default:"far away" }}', buttons=[
        {"text": "Copy code", "copy_text": "{{ coupon }}"}])

    chosen = api.get(f"/api/drafts/{draft.pk}/preview/?subscriber={anna.pk}").json()
    sample = api.get(f"/api/drafts/{draft.pk}/preview/").json()
    missing = api.get(f"/api/drafts/{draft.pk}/preview/?subscriber=999999")

    telegram = chosen["platforms"]["telegram"]
    assert chosen["subscriber"] == anna.pk
    assert (telegram["body"], telegram["text"], telegram["length"], telegram["body_length"]) == (
        "Anna from Moscow", "Anna from Moscow", 16, 16)
    assert chosen["platforms"]["whatsapp"]["text"] == "Anna from Moscow\nCopy code: SAMPLE-CODE-1234"
    assert chosen["platforms"]["whatsapp"]["body_length"] == len("Anna from Moscow\nCopy code: SAMPLE-CODE-1234")
    assert chosen["platforms"]["viber"]["text"] == "Anna from Moscow\nCopy code: SAMPLE-CODE-1234"
    assert sample["subscriber"] is None
    assert sample["platforms"]["telegram"]["body"] == "Alex from far away"
    assert missing.status_code == 400
    assert missing.json() == {"subscriber": ["no subscriber #999999"]}


def test_the_admin_preview_renders_for_a_subscriber_id_typed_in_it(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    boris = SubscriberFactory(name="Boris Godunov")

    page = client.post("/admin/campaigns/draft/preview/", {
        "body": 'Hi {{ first_name|default:"friend" }}', "buttons-text": [], "buttons-url": [],
        "preview_subscriber": str(boris.pk)})
    by_name = client.post("/admin/campaigns/draft/preview/", {"body": "Hi {{ name }}", "preview_subscriber": "godun"})
    nobody = client.post("/admin/campaigns/draft/preview/", {"body": "Hi", "preview_subscriber": "Nobody"})
    refused = client.post("/admin/campaigns/draft/preview/", {"body": "Hi {{ fist_name }}"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Hi Boris" in text and f"subscriber #{boris.pk} Boris Godunov" in text
    assert "Hi Boris Godunov" in by_name.content.decode()
    assert (nobody.status_code, nobody.json()) == (400, {"errors": {"preview_subscriber": [
        "No subscriber matches “Nobody”."]}})
    assert refused.status_code == 400
    assert "unknown placeholder {{ fist_name }}" in refused.json()["errors"]["body"][0]


# --- coupons --------------------------------------------------------------------------------


def test_codes_are_added_from_a_csv_or_json_and_counted(api):
    campaign = _campaign("Your code: {{ coupon }}")
    csv = SimpleUploadedFile("codes.csv", "code\nAAA-1\n\nBBB-2\r\nCCC-3\n".encode(), content_type="text/csv")

    uploaded = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"file": csv}, format="multipart")
    posted = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["DDD-4", "EEE-5"]}, format="json")
    counts = api.get(f"/api/campaigns/{campaign.pk}/coupons/")

    assert (uploaded.status_code, uploaded.json()) == (201, {"added": 3, "total": 3, "assigned": 0, "free": 3})
    assert (posted.status_code, posted.json()) == (201, {"added": 2, "total": 5, "assigned": 0, "free": 5})
    assert counts.json() == {"total": 5, "assigned": 0, "free": 5}
    assert sorted(CouponCode.objects.values_list("code", flat=True)) == ["AAA-1", "BBB-2", "CCC-3", "DDD-4", "EEE-5"]


def test_duplicate_codes_are_refused_naming_them_and_nothing_is_saved(api):
    campaign = _campaign("Your code: {{ coupon }}")
    api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["AAA-1"]}, format="json")

    within = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["X-1", "X-2", "X-1", "X-3"]}, format="json")
    existing = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["NEW-1", "AAA-1"]}, format="json")
    csv = SimpleUploadedFile("codes.csv", b"Q-1\nQ-2\nQ-1\n", content_type="text/csv")
    in_file = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"file": csv}, format="multipart")

    assert (within.status_code, within.json()) == (
        400, {"codes": ["these codes appear more than once in the upload: X-1"]})
    assert (existing.status_code, existing.json()) == (
        400, {"codes": ["these codes are already in the campaign's pool: AAA-1"]})
    assert (in_file.status_code, in_file.json()) == (
        400, {"file": ["these codes appear more than once in the upload: Q-1"]})
    assert list(CouponCode.objects.values_list("code", flat=True)) == ["AAA-1"]


def test_codes_cannot_be_added_once_the_campaign_runs(api):
    campaign = _campaign("Your code: {{ coupon }}")
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING)

    response = api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["AAA-1"]}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "status": ["codes can be added while the campaign is a draft or scheduled; this one is running"]}
    assert CouponCode.objects.count() == 0


def test_the_admin_adds_pasted_codes_on_the_campaign_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    campaign = _campaign("Your code: {{ coupon }}")

    added = client.post(f"/admin/campaigns/campaign/{campaign.pk}/coupons/", {"codes": "A-1\nB-2\n\nC-3\n"})
    refused = client.post(f"/admin/campaigns/campaign/{campaign.pk}/coupons/", {"codes": "D-4\nA-1\n"})
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    assert added.status_code == 302
    assert refused.status_code == 200
    assert "these codes are already in the campaign&#x27;s pool: A-1" in refused.content.decode()
    assert "3 codes: 0 given, 3 free." in page.content.decode()
    assert CouponCode.objects.count() == 3


# --- scheduling -----------------------------------------------------------------------------


def test_scheduling_is_refused_when_the_pool_is_smaller_than_the_audience(api):
    _audience(("Anna", {}, "1001"), ("Boris", {}, "1002"), ("Clara", {}, "1003"))
    campaign = _campaign("Your code: {{ coupon }}")
    api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["A-1", "B-2"]}, format="json")

    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    assert response.status_code == 400
    assert response.json() == {"coupons": [
        "the message uses {{ coupon }} but the pool has 2 free codes for 3 people: add at least 1 code"]}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_scheduling_measures_each_persons_rendering_and_names_one_example(api):
    long = {"headline": "Big news " + "x" * 120, "story": "y" * 4090}
    people = _audience(("Anna", {}, "1001"), ("Max", long, "1002"), ("Boris", {}, "1003"), ("Mia", long, "1004"))
    campaign = _campaign("Hi {{ first_name }} {{ attributes.headline }}\nSee you {{ attributes.story }}")

    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    assert response.status_code == 400
    assert response.json() == {"draft": [
        f"2 people would exceed Telegram's 120-character push preview (first line): e.g. subscriber #{people[1].pk}",
        f"2 people would exceed Telegram's 4096-character message: e.g. subscriber #{people[1].pk}",
    ]}
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT


def test_a_personalised_draft_that_fits_everyone_is_scheduled(api):
    _audience(("Anna", {"city": "Omsk"}, "1001"), ("", {}, "1002"))
    # typed, the first line is over 120 characters; rendered, it fits everyone
    campaign = _campaign('{{ attributes.city|default:"' + "y" * 30 + '" }} ' + "{{ attributes.x }}" * 6 + "\nBody")

    response = api.post(f"/api/campaigns/{campaign.pk}/schedule/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "scheduled"


# --- planning and the message each person gets ----------------------------------------------


def test_a_person_beyond_the_pool_at_planning_is_skipped_never_sent_an_empty_code(api):
    from campaigns import delivery
    from campaigns.delivery.variants import NO_COUPON
    from campaigns.models import Delivery

    _audience(("Anna", {}, "1001"), ("Boris", {}, "1002"))
    campaign = _campaign("Your code: {{ coupon }}")
    api.post(f"/api/campaigns/{campaign.pk}/coupons/", {"codes": ["A-1", "B-2"]}, format="json")
    assert api.post(f"/api/campaigns/{campaign.pk}/schedule/").status_code == 200
    late = _audience(("Clara", {}, "1003"))[0]  # joins the segment after scheduling

    delivery.campaigns_start_due(now=SEND_AT, enqueue_plan=lambda pk: None)
    delivery.campaign_plan(campaign_id=campaign.pk, now=SEND_AT)

    rows = {d.subscriber.name: d for d in Delivery.objects.filter(campaign=campaign).select_related("subscriber")}
    coded = dict(CouponCode.objects.filter(campaign=campaign).values_list("delivery__subscriber__name", "code"))
    assert sorted(coded) == ["Anna", "Boris"] and sorted(coded.values()) == ["A-1", "B-2"]
    assert (rows["Clara"].subscriber_id, rows["Clara"].status, rows["Clara"].reason) == (late.pk, "skipped", NO_COUPON)
    assert {rows["Anna"].status, rows["Boris"].status} == {"planned"}
    # the ledger shows each delivery's code (none for Clara) and no click yet
    ledger = api.get("/api/deliveries/", {"campaign": campaign.pk})
    assert ledger.status_code == 200, ledger.content
    listed = {r["subscriber"]: (r["coupon"], r["clicked_at"]) for r in ledger.json()["results"]}
    assert listed == {rows["Anna"].subscriber_id: (coded["Anna"], None),
                      rows["Boris"].subscriber_id: (coded["Boris"], None), late.pk: (None, None)}


def test_whatsapp_template_parameters_and_buttons_are_each_persons_own():
    from campaigns.delivery.outbound import campaign_content, outbound_message

    anna = _audience(("Anna Karenina", {"city": "Moscow"}, "1001"))[0]
    campaign = _campaign("Hi {{ first_name }}", buttons=[{"text": "Copy", "copy_text": "{{ coupon }}"}],
                         whatsapp_template={"name": "promo", "language": "ru",
                                            "parameters": ["{{ first_name }}", "{{ coupon }}", "{{ attributes.x|default:\"-\" }}"]})
    campaign.content_body, campaign.content_buttons = campaign.draft.body, campaign.draft.buttons
    campaign.content_whatsapp_template = campaign.draft.whatsapp_template

    message = outbound_message(campaign_content(campaign), delivery_id=1, subscription=anna.subscriptions.get(),
                               subscriber=anna, window_open=False, coupon="C-9")

    assert (message.text, message.buttons) == ("Hi Anna", [{"text": "Copy", "copy_text": "C-9"}])
    assert message.template == {"name": "promo", "language": "ru", "parameters": ["Anna", "C-9", "-"]}
