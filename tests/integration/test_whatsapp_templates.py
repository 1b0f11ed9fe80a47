"""WhatsApp templates: synced from a fake Graph API over HTTP, picked by drafts, required for
people outside the 24-hour window; the sandbox sends them as WhatsApp would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns import delivery, services
from campaigns.models import Campaign, Delivery, Draft, Subscription, WhatsAppTemplate
from campaigns.services.whatsapp_templates import TemplateSyncError, whatsapp_templates_sync
from channels.models import OutboxMessage
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes import whatsapp as whatsapp_fake
from tests.fakes.whatsapp import FakeWhatsApp, WhatsAppConfig

from .test_delivery import _tags, policy

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BLACK_FRIDAY = {"name": "black_friday", "language": "ru", "parameters": ["до -50%", "{{ name }}", "−30%", "bf",
                                                                         "BF2026"]}


@pytest.fixture
def graph(settings):
    """The fake Graph API, 2 templates a page, and the settings pointing at it."""
    with FakeWhatsApp(token="wa-token", config=WhatsAppConfig(templates_page_size=2)) as fake:
        settings.WHATSAPP_ACCESS_TOKEN = "wa-token"
        settings.WHATSAPP_API_URL = fake.base_url
        settings.WHATSAPP_BUSINESS_ACCOUNT_ID = whatsapp_fake.WABA_ID
        yield fake


def _rows() -> dict[tuple[str, str], tuple]:
    return {(t.name, t.language): (t.category, t.status, t.quality, t.remote_id)
            for t in WhatsAppTemplate.objects.all()}


def test_sync_reads_every_page_and_stores_each_template_with_its_variables(graph):
    result = whatsapp_templates_sync(now=NOW)

    assert graph.request_counts()["message_templates"] == 3  # 5 templates, 2 a page
    assert (result.created, result.updated, result.deleted, result.approved) == (5, 0, 0, 3)
    assert _rows() == {
        ("black_friday", "ru"): ("MARKETING", "APPROVED", "GREEN", "1386912450001"),
        ("order_ready", "en_US"): ("UTILITY", "APPROVED", "UNKNOWN", "1386912450002"),
        ("new_collection", "en"): ("MARKETING", "APPROVED", "YELLOW", "1386912450003"),
        ("spring_teaser", "en"): ("MARKETING", "PENDING", "UNKNOWN", "1386912450004"),
        ("win_big", "en"): ("MARKETING", "REJECTED", "UNKNOWN", "1386912450005"),
    }
    black_friday = WhatsAppTemplate.objects.get(name="black_friday")
    assert black_friday.variables == [
        {"component": "header", "index": 1, "example": "до -50%"},
        {"component": "body", "index": 1, "example": "Анна"},
        {"component": "body", "index": 2, "example": "−30%"},
        {"component": "button", "index": 1, "example": "https://shop.example/sale/bf", "button": 0, "sub_type": "url"},
        {"component": "button", "index": 1, "example": "BF2026", "button": 1, "sub_type": "copy_code"},
    ]
    assert black_friday.components == whatsapp_fake.TEMPLATES[0]["components"]
    assert black_friday.synced_at == NOW
    # named variables once each, in the order written; an image header is no text variable
    assert WhatsAppTemplate.objects.get(name="order_ready").variables == [
        {"component": "body", "name": "first_name", "example": "Pablo"},
        {"component": "body", "name": "order_id", "example": "A-1042"},
    ]
    assert WhatsAppTemplate.objects.get(name="new_collection").variables == []


def test_a_second_sync_updates_in_place_and_marks_templates_gone_from_the_account(graph):
    whatsapp_templates_sync(now=NOW)
    changed = [dict(t) for t in whatsapp_fake.TEMPLATES if t["name"] != "win_big"]
    changed[3] = {**changed[3], "status": "APPROVED"}  # spring_teaser approved meanwhile
    graph.configure(templates=changed)
    later = NOW + timedelta(hours=1)

    result = whatsapp_templates_sync(now=later)

    assert (result.created, result.updated, result.deleted, result.approved) == (0, 4, 1, 4)
    assert WhatsAppTemplate.objects.count() == 5
    assert WhatsAppTemplate.objects.get(name="spring_teaser").status == "APPROVED"
    gone = WhatsAppTemplate.objects.get(name="win_big")
    assert (gone.status, gone.synced_at) == ("DELETED", later)


@pytest.mark.parametrize("break_it, kind", [
    (lambda fake, settings: fake.configure(token_revoked=True), "auth"),
    (lambda fake, settings: setattr(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID", "999"), "platform"),
    (lambda fake, settings: setattr(settings, "WHATSAPP_API_URL", "http://127.0.0.1:9/v21.0"), "network"),
    (lambda fake, settings: setattr(settings, "WHATSAPP_BUSINESS_ACCOUNT_ID", ""), "config"),
])
def test_a_failed_sync_changes_nothing(graph, settings, break_it, kind):
    whatsapp_templates_sync(now=NOW)
    before = {t.pk: (t.name, t.status, t.synced_at) for t in WhatsAppTemplate.objects.all()}
    break_it(graph, settings)

    with pytest.raises(TemplateSyncError) as raised:
        whatsapp_templates_sync(now=NOW + timedelta(hours=1))

    assert raised.value.kind == kind
    assert {t.pk: (t.name, t.status, t.synced_at) for t in WhatsAppTemplate.objects.all()} == before


@pytest.fixture
def may_sync(admin_client_api, django_user_model):
    """The marketer's role as campaigns/roles.py gives it: view and sync (change) templates.
    (Granted here: role groups made before the model existed do not have it yet.)"""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.get(username="marketer")
    user.user_permissions.add(*Permission.objects.filter(
        content_type__app_label="campaigns", codename__in=["view_whatsapptemplate", "change_whatsapptemplate"]))
    return admin_client_api


def test_sync_over_the_api_and_its_errors(graph, settings, may_sync):
    admin_client_api = may_sync
    answer = admin_client_api.post("/api/whatsapp-templates/sync/")
    assert (answer.status_code, answer.json()) == (200, {"created": 5, "updated": 0, "deleted": 0, "approved": 3})

    listed = admin_client_api.get("/api/whatsapp-templates/", {"status": "APPROVED"}).json()["results"]
    assert [(t["name"], t["language"], t["category"], t["header"], len(t["variables"])) for t in listed] == [
        ("black_friday", "ru", "MARKETING", "TEXT", 5), ("new_collection", "en", "MARKETING", "IMAGE", 0),
        ("order_ready", "en_US", "UTILITY", "", 2)]

    graph.configure(token_revoked=True)
    refused = admin_client_api.post("/api/whatsapp-templates/sync/")
    assert refused.status_code == 502
    assert "refused the access token" in refused.json()["detail"]
    settings.WHATSAPP_BUSINESS_ACCOUNT_ID = ""
    unset = admin_client_api.post("/api/whatsapp-templates/sync/")
    assert unset.status_code == 409
    assert "WHATSAPP_BUSINESS_ACCOUNT_ID" in unset.json()["detail"]
    assert WhatsAppTemplate.objects.filter(status="APPROVED").count() == 3


def test_a_draft_names_an_approved_synced_template_and_maps_every_variable(graph, admin_client_api):
    # before any sync, any well-formed name is taken (nothing to check it against)
    free = admin_client_api.post("/api/drafts/", {"title": "t", "body": "Hi", "whatsapp_template": {
        "name": "anything", "language": "ru", "parameters": ["x"]}}, format="json")
    assert free.status_code == 201
    whatsapp_templates_sync(now=NOW)
    drafts = Draft.objects.count()

    def post(template: dict):
        return admin_client_api.post("/api/drafts/", {"title": "t", "body": "Hi", "whatsapp_template": template},
                                     format="json")

    unknown = post({"name": "anything", "language": "ru", "parameters": ["x"]})
    assert unknown.status_code == 400
    assert list(unknown.json()["whatsapp_template"]) == ["name"]
    wrong_language = post({"name": "black_friday", "language": "en", "parameters": []})
    assert wrong_language.status_code == 400
    assert "approved in ru" in wrong_language.json()["whatsapp_template"]["language"][0]
    pending = post({"name": "spring_teaser", "language": "en", "parameters": ["Anna"]})
    assert pending.status_code == 400
    assert "PENDING" in pending.json()["whatsapp_template"]["name"][0]
    short = post({**BLACK_FRIDAY, "parameters": BLACK_FRIDAY["parameters"][:4]})
    assert short.status_code == 400
    assert "has 5 variable(s)" in short.json()["whatsapp_template"]["parameters"][0]
    assert "4 given" in short.json()["whatsapp_template"]["parameters"][0]
    blank = post({**BLACK_FRIDAY, "parameters": ["a", "", "b", "c", "d"]})
    assert blank.status_code == 400
    assert "parameters" in blank.json()["whatsapp_template"]
    assert Draft.objects.count() == drafts

    good = post(BLACK_FRIDAY)
    assert good.status_code == 201
    assert good.json()["whatsapp_template"] == BLACK_FRIDAY


def _whatsapp_people(n_inside: int, n_outside: int) -> list[Subscription]:
    subscriptions = []
    for i in range(n_inside + n_outside):
        person = SubscriberFactory()
        person.tags.add(*_tags("wa"))
        subscription = subscribe(person, "whatsapp")
        if i < n_inside:
            Subscription.objects.filter(pk=subscription.pk).update(last_inbound_at=timezone.now() - timedelta(hours=1))
        subscriptions.append(subscription)
    return subscriptions


def _campaign(template: dict | None, send_at: datetime) -> Campaign:
    segment = SegmentFactory(rules={"tags_all": ["wa"], "tags_any": [], "platforms": [], "attributes": {}})
    draft = DraftFactory(body="Only today: −30% on everything", buttons=[], whatsapp_template=template)
    return CampaignFactory(segment=segment, draft=draft, platforms=["whatsapp"], send_at=send_at)


def test_scheduling_without_a_template_is_refused_with_the_number_outside_the_window(admin_client):
    policy()
    _whatsapp_people(n_inside=2, n_outside=3)
    now = timezone.now()
    campaign = _campaign(None, now + timedelta(minutes=5))

    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=campaign, now=now)

    assert refused.value.by_field["draft"] == [
        "3 WhatsApp receiver(s) are outside the 24-hour window at send time and can only get an approved "
        "template, but the draft has none: pick a WhatsApp template"]
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    # the admin's forecast counts the same people
    forecast = delivery.campaign_forecast(campaign=campaign, now=now)
    assert forecast["platforms"]["whatsapp"]["templates_needed"] == 3
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/forecast/").content.decode()
    assert re.search(r"<td>WhatsApp: outside the 24-hour window \(template needed\)</td><td>3</td>", page)
    # two days later even the two who wrote an hour ago are outside it
    later = _campaign(None, now + timedelta(days=2))
    with pytest.raises(services.ServiceError) as refused_later:
        services.campaign_schedule(campaign=later, now=now)
    assert refused_later.value.by_field["draft"][0].startswith("5 WhatsApp receiver(s)")


def test_scheduling_with_a_template_or_everyone_inside_the_window_is_allowed():
    policy()
    _whatsapp_people(n_inside=2, n_outside=0)
    now = timezone.now()
    inside = services.campaign_schedule(campaign=_campaign(None, now + timedelta(minutes=5)), now=now)
    assert inside.status == Campaign.Status.SCHEDULED
    _whatsapp_people(n_inside=0, n_outside=1)
    with_template = _campaign({"name": "black_friday", "language": "ru", "parameters": ["x"]},
                              now + timedelta(minutes=5))
    assert services.campaign_schedule(campaign=with_template, now=now).status == Campaign.Status.SCHEDULED


def test_the_sandbox_records_the_template_outside_the_window_and_no_free_text(graph, settings):
    # WhatsApp has no phone number id: the sandbox serves it, with the synced templates known
    settings.WHATSAPP_PHONE_NUMBER_ID = ""
    whatsapp_templates_sync(now=NOW)
    policy()
    people = _whatsapp_people(n_inside=1, n_outside=2)
    now = timezone.now()
    campaign = _campaign(BLACK_FRIDAY, now + timedelta(seconds=1))
    services.campaign_schedule(campaign=campaign, now=now)
    Campaign.objects.filter(pk=campaign.pk).update(send_at=now - timedelta(seconds=1),
                                                   status=Campaign.Status.RUNNING, started_at=now)

    delivery.campaign_plan(campaign_id=campaign.pk)
    for list_id in campaign.send_lists.values_list("pk", flat=True):
        delivery.list_send(list_id=list_id)

    outbox = {m.address: m for m in OutboxMessage.objects.filter(platform="whatsapp")}
    assert set(outbox) == {p.address for p in people}
    inside, *outside = people
    assert (outbox[inside.address].text, outbox[inside.address].template) == ("Only today: −30% on everything", None)
    for subscription in outside:
        row = outbox[subscription.address]
        assert row.template["name"] == "black_friday"
        assert row.template["category"] == "MARKETING"
        assert row.template["parameters"] == ["до -50%", subscription.subscriber.name, "−30%", "bf", "BF2026"]
        assert "Only today" not in row.text
    assert Delivery.objects.filter(campaign=campaign, status=Delivery.Status.SENT).count() == 3


def test_the_sandbox_refuses_free_text_outside_the_window(settings):
    from channels.base import OutboundMessage, PermanentFailure
    from channels.sandbox import SandboxSession

    outcomes = SandboxSession("whatsapp").send([
        OutboundMessage(delivery_id=None, address="+79990001122", text="Hello", window_open=False),
        OutboundMessage(delivery_id=None, address="+79990001123", text="Hello", window_open=True),
    ])

    assert isinstance(outcomes[0].error, PermanentFailure)
    assert outcomes[1].sent
    assert list(OutboxMessage.objects.values_list("address", "text")) == [("+79990001123", "Hello")]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_a_template_with_a_media_header_needs_media_of_that_kind_on_the_draft(graph, settings, tmp_path):
    """WhatsApp refuses a template whose image/video/document header has no media: scheduling
    refuses it first, naming the template and what is missing."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from campaigns.services.media import draft_media_attach

    settings.MEDIA_ROOT = tmp_path / "media"
    whatsapp_templates_sync(now=NOW)  # new_collection: an IMAGE header, no variables
    WhatsAppTemplate.objects.create(name="promo_video", language="en", category="MARKETING", status="APPROVED",
                                    components=[{"type": "HEADER", "format": "VIDEO"},
                                                {"type": "BODY", "text": "Watch"}], variables=[], synced_at=NOW)
    WhatsAppTemplate.objects.create(name="our_shop", language="en", category="UTILITY", status="APPROVED",
                                    components=[{"type": "HEADER", "format": "LOCATION"},
                                                {"type": "BODY", "text": "Here"}], variables=[], synced_at=NOW)
    policy()
    _whatsapp_people(n_inside=0, n_outside=2)
    now = timezone.now()
    image_template = {"name": "new_collection", "language": "en", "parameters": []}

    # no media at all
    bare = _campaign(image_template, now + timedelta(minutes=5))
    with pytest.raises(services.ServiceError) as refused:
        services.campaign_schedule(campaign=bare, now=now)
    assert refused.value.by_field == {"draft": [
        "WhatsApp template: “new_collection” shows an image in its header, taken from the draft's media, but "
        "the draft has no media: attach an image or pick another template"]}
    assert Campaign.objects.get(pk=bare.pk).status == Campaign.Status.DRAFT

    # an image, but the template wants a video; a location header cannot be filled at all
    video = _campaign({"name": "promo_video", "language": "en", "parameters": []}, now + timedelta(minutes=5))
    draft_media_attach(draft=video.draft, upload=SimpleUploadedFile("p.png", PNG))
    with pytest.raises(services.ServiceError) as wrong_kind:
        services.campaign_schedule(campaign=video, now=now)
    assert wrong_kind.value.by_field["draft"] == [
        "WhatsApp template: “promo_video” shows a video in its header, taken from the draft's media, but the "
        "draft has an image: attach a video or pick another template"]
    location = _campaign({"name": "our_shop", "language": "en", "parameters": []}, now + timedelta(minutes=5))
    with pytest.raises(services.ServiceError) as no_location:
        services.campaign_schedule(campaign=location, now=now)
    assert no_location.value.by_field["draft"] == [
        "WhatsApp template: “our_shop” has a location header, which a draft cannot fill: pick another template"]

    # with the image attached, the image template is scheduled
    draft_media_attach(draft=bare.draft, upload=SimpleUploadedFile("p.png", PNG))
    assert services.campaign_schedule(campaign=bare, now=now).status == Campaign.Status.SCHEDULED
