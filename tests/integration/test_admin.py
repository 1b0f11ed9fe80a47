"""The admin as a marketer uses it: pages render what they promise, actions refuse clearly."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.models import Campaign, ConsentEvent, Segment, Subscriber, Tag
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(client, django_user_model):
    user = django_user_model.objects.create_superuser("boss", password="x-secret-123")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", [
    "subscriber", "subscription", "consentevent", "segment", "draft", "campaign", "delivery", "sendlist", "tag",
])
def test_every_list_page_opens(marketer, model):
    assert marketer.get(f"/admin/campaigns/{model}/").status_code == 200


def test_the_outbox_and_the_policy_pages_open(marketer):
    assert marketer.get("/admin/tact_channels/outboxmessage/").status_code == 200
    policy = marketer.get("/admin/campaigns/frequencypolicy/", follow=True)
    assert policy.status_code == 200
    assert b"max_per_day" in policy.content


def test_a_draft_page_shows_each_platforms_push_preview_cut_and_the_error_when_over(marketer):
    opening = "A" * 118 + " BBBBBB"  # 125 characters
    draft = DraftFactory(body=opening + "\nrest")
    page = marketer.get(f"/admin/campaigns/draft/{draft.pk}/change/").content.decode()
    shown = "A" * 118 + "…"
    assert page.count(f"<code>{shown}</code>") == 3
    assert "telegram: the push preview (first line) is 125 characters, over the limit of 120" in page


def test_subscriber_filters_combine_platform_and_status_of_the_same_subscription(marketer):
    anna = SubscriberFactory(name="Anna")
    subscribe(anna, "telegram")
    out = subscribe(anna, "whatsapp", saved_our_number=True)
    from campaigns import services
    services.subscription_opt_out(subscription=out, consent=services.Consent(source="test"))
    boris = SubscriberFactory(name="Boris")
    subscribe(boris, "whatsapp")
    page = marketer.get("/admin/campaigns/subscriber/?platform=whatsapp&sub_status=opted_in").content.decode()
    assert "Boris" in page and "Anna" not in page


def test_the_csv_import_page_reports_bad_rows_by_line(marketer):
    csv = (
        "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at\n"
        "c1,Anna,Europe/Moscow,ru,vip,telegram,123456,,form,Yes please,2026-11-01T10:00:00Z\n"
        "c2,Boris,Mars/Base,ru,,telegram,654321,,form,Yes please,2026-11-01T10:00:00Z\n"
    ).encode()
    page = marketer.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile("a.csv", csv)})
    text = page.content.decode()
    assert page.status_code == 200
    assert "1 created, 0 updated, 1 refused." in text
    assert "<td>3</td><td>unknown time zone &#x27;Mars/Base&#x27;" in text
    assert Subscriber.objects.count() == 1


def test_schedule_action_refuses_naming_the_platform_and_the_numbers(marketer):
    draft = DraftFactory(body="😀" * 2049)
    campaign = CampaignFactory(draft=draft, platforms=["telegram"], send_at=timezone.now() + timedelta(days=1))
    answer = marketer.post("/admin/campaigns/campaign/", {"action": "schedule", "_selected_action": [campaign.pk]},
                           follow=True)
    text = answer.content.decode()
    assert "telegram: the message is 4098 characters, over the limit of 4096" in text
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_segment_page_shows_size_per_platform_and_vip_split_makes_groups(marketer):
    segment = SegmentFactory(kind=Segment.Kind.STATIC, rules={})
    people = [SubscriberFactory() for _ in range(23)]
    for p in people[:20]:
        subscribe(p, "telegram")
    segment.members.set(people)
    page = marketer.get(f"/admin/campaigns/segment/{segment.pk}/change/").content.decode()
    assert "23 people in all" in page
    assert "<td>telegram</td><td>20</td>" in page

    marketer.post("/admin/campaigns/segment/", {"action": "split_vip_groups", "_selected_action": [segment.pk]})
    groups = Segment.objects.exclude(pk=segment.pk).order_by("name")
    assert [g.members.count() for g in groups] == [12, 11]
    assert not set(groups[0].members.values_list("pk", flat=True)) & set(groups[1].members.values_list("pk", flat=True))
    assert {g.max_size for g in groups} == {15}


def test_forecast_page_shows_the_numbers(marketer):
    for _ in range(3):
        person = SubscriberFactory()
        person.tags.add(Tag.objects.get_or_create(name="x")[0])
        subscribe(person, "telegram")
    segment = SegmentFactory(rules={"tags_all": ["x"], "tags_any": [], "platforms": [], "attributes": {}})
    campaign = CampaignFactory(segment=segment, send_at=datetime(2030, 6, 3, 10, tzinfo=UTC))
    page = marketer.get(f"/admin/campaigns/campaign/{campaign.pk}/forecast/").content.decode()
    assert "<strong>3</strong> will receive it" in page
    assert "<td>telegram</td><td>3</td><td>1</td>" in page


def test_consent_events_cannot_be_edited_or_deleted_in_the_admin(marketer):
    subscription = subscribe(SubscriberFactory(), "telegram")
    event = ConsentEvent.objects.get(subscription=subscription)
    assert marketer.post(f"/admin/campaigns/consentevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConsentEvent.objects.filter(pk=event.pk).exists()
    export = marketer.post("/admin/campaigns/consentevent/", {"action": "export_csv", "_selected_action": [event.pk]})
    assert export["Content-Type"].startswith("text/csv")
    lines = export.content.decode().splitlines()
    assert lines[0].startswith("id,subscriber,external_id,platform,address,kind,status,source,text")
    assert f",telegram,{subscription.address},opt_in,opted_in,test,\"Yes, send me offers\"," in lines[1]


def test_the_admin_home_says_which_platforms_are_sandboxed(marketer, settings):
    settings.TELEGRAM_BOT_TOKEN = "123456:TOKEN"
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.VIBER_AUTH_TOKEN = ""
    page = marketer.get("/admin/").content.decode()
    assert "<th>Telegram</th>\n      <td><strong style=\"color:#2e7d32\">live</strong>" in page
    assert "<strong style=\"color:#b26a00\">SANDBOX</strong>: no WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID" in page
    assert "<strong style=\"color:#b26a00\">SANDBOX</strong>: no VIBER_AUTH_TOKEN" in page


def test_a_draft_with_a_malformed_whatsapp_template_is_refused_with_the_expected_shape(marketer):
    page = marketer.post("/admin/campaigns/draft/add/", {
        "title": "BF", "body": "Sale\nmore", "buttons": "[]", "whatsapp_template": '{"name": ""}',
    })
    assert page.status_code == 200
    assert "an approved template is {&quot;name&quot;: &quot;black_friday&quot;" in page.content.decode()
    from campaigns.models import Draft
    assert Draft.objects.count() == 0
    saved = marketer.post("/admin/campaigns/draft/add/", {
        "title": "BF", "body": "Sale\nmore", "buttons": "[]",
        "whatsapp_template": '{"name": "black_friday", "language": "ru", "parameters": ["-30%"]}',
    })
    assert saved.status_code == 302
    assert Draft.objects.get().whatsapp_template == {"name": "black_friday", "language": "ru", "parameters": ["-30%"]}
