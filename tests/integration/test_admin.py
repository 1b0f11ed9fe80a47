"""The admin as a marketer uses it: pages render what they promise, actions refuse clearly."""

import html
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, ConsentEvent, Segment, Subscriber, Tag
from campaigns.services import import_jobs
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
    assert page.count(f'<div class="tact-notification-text" data-testid="shown">{shown}</div>') == 3
    assert page.count("<dd>125 / 120</dd>") == 3
    assert page.count("5 characters over: the notification cuts the first line at 120 characters.") == 3


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
    started = marketer.post("/admin/campaigns/subscriber/import/", {"file": SimpleUploadedFile("a.csv", csv)})
    assert started.status_code == 302  # to the job's progress page; a worker imports it
    assert Subscriber.objects.count() == 0
    import_jobs.import_job_run(job_id=int(started["Location"].split("/")[-3]))  # a worker's part, in-process here
    page = marketer.get(started["Location"])
    text = page.content.decode()
    assert page.status_code == 200
    assert "Processed 2 of 2 rows." in text
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


def split(marketer, segment: Segment) -> str:
    """Run the admin action "Split into VIP groups" on `segment`; the page's messages as text."""
    answer = marketer.post("/admin/campaigns/segment/", {"action": "split_vip_groups", "_selected_action": [segment.pk]},
                           follow=True)
    assert answer.status_code == 200
    return html.unescape(answer.content.decode())


def groups_of(segment: Segment) -> dict[str, set[int]]:
    """The VIP groups of `segment` by name, with their members."""
    return {g.name: set(g.members.values_list("pk", flat=True))
            for g in Segment.objects.filter(name__startswith=f"{segment.name} — VIP").order_by("name")}


def assert_everyone_in_exactly_one_group(groups: dict[str, set[int]], people: list[Subscriber]) -> None:
    counts = Counter(pk for members in groups.values() for pk in members)
    assert set(counts) == {p.pk for p in people}
    assert set(counts.values()) == {1}


def vip_pool(size: int) -> tuple[Segment, list[Subscriber]]:
    """A static segment of `size` people, created in shuffled order."""
    people = [SubscriberFactory() for _ in range(size)]
    segment = SegmentFactory(name="Best customers", kind=Segment.Kind.STATIC, rules={})
    segment.members.set(random.Random(7).sample(people, len(people)))
    return segment, people


def test_vip_split_run_twice_gives_the_same_groups(marketer):
    # given
    segment, people = vip_pool(23)

    # when
    first_page = split(marketer, segment)
    first = groups_of(segment)
    segments_after_first = list(Segment.objects.order_by("pk").values_list("pk", "name"))
    second_page = split(marketer, segment)

    # then
    assert "Best customers: 23 people in 2 VIP group(s) of 12, 11 (2 created)." in first_page
    assert "Best customers: already split into 2 VIP group(s) of 12, 11; nothing changed." in second_page
    assert groups_of(segment) == first
    assert list(first) == ["Best customers — VIP 1", "Best customers — VIP 2"]
    assert list(Segment.objects.order_by("pk").values_list("pk", "name")) == segments_after_first
    assert_everyone_in_exactly_one_group(groups_of(segment), people)


def test_vip_split_of_a_dynamic_segment_run_twice_gives_the_same_groups(marketer):
    # given: 31 people tagged vip, one who is not
    vip = Tag.objects.create(name="vip")
    people = [SubscriberFactory() for _ in range(31)]
    for person in random.Random(3).sample(people, len(people)):
        person.tags.add(vip)
    SubscriberFactory()
    segment = SegmentFactory(name="VIP Moscow", rules={"tags_all": ["vip"], "tags_any": [], "platforms": [],
                                                       "attributes": {}})

    # when
    split(marketer, segment)
    second_page = split(marketer, segment)

    # then
    assert "VIP Moscow: already split into 3 VIP group(s) of 11, 10, 10; nothing changed." in second_page
    groups = groups_of(segment)
    assert [len(m) for m in groups.values()] == [11, 10, 10]
    assert_everyone_in_exactly_one_group(groups, people)


def test_vip_split_after_newcomers_keeps_everyone_in_their_group(marketer):
    # given: 23 people split into 12 + 11, then 5 more join
    segment, people = vip_pool(23)
    split(marketer, segment)
    before = groups_of(segment)
    newcomers = [SubscriberFactory() for _ in range(5)]
    segment.members.add(*newcomers)

    # when
    page = split(marketer, segment)

    # then: the same two groups, updated in place; nobody moved
    assert "Best customers: 28 people in 2 VIP group(s) of 14, 14 (2 updated)." in page
    after = groups_of(segment)
    assert list(after) == list(before)
    assert all(before[name] <= after[name] for name in before)
    assert_everyone_in_exactly_one_group(after, people + newcomers)
    assert "already split into 2 VIP group(s) of 14, 14" in split(marketer, segment)


def test_vip_split_after_many_newcomers_gives_them_a_group_of_their_own(marketer):
    # given: 23 people split into 12 + 11, then 10 more join (the two groups have room for 7)
    segment, people = vip_pool(23)
    split(marketer, segment)
    before = groups_of(segment)
    newcomers = [SubscriberFactory() for _ in range(10)]
    segment.members.add(*newcomers)

    # when
    page = split(marketer, segment)

    # then
    assert "Best customers: 33 people in 3 VIP group(s) of 12, 11, 10 (1 created)." in page
    after = groups_of(segment)
    assert {name: after[name] for name in before} == before
    assert after["Best customers — VIP 3"] == {p.pk for p in newcomers}
    assert_everyone_in_exactly_one_group(after, people + newcomers)


def test_vip_split_after_people_left_merges_the_groups_in_place(marketer):
    # given: 23 people split into 12 + 11; 8 of the second group leave
    segment, people = vip_pool(23)
    split(marketer, segment)
    first_group = Segment.objects.get(name="Best customers — VIP 1")
    leaving = sorted(groups_of(segment)["Best customers — VIP 2"])[:8]
    segment.members.remove(*leaving)
    staying = [p for p in people if p.pk not in leaving]

    # when
    page = split(marketer, segment)

    # then: one group of 15, the first one, kept; the second one removed
    assert "Best customers: 15 people in 1 VIP group(s) of 15 (1 updated, 1 removed)." in page
    after = groups_of(segment)
    assert list(after) == ["Best customers — VIP 1"]
    assert after["Best customers — VIP 1"] == {p.pk for p in staying}
    assert list(first_group.members.values_list("pk", flat=True).order_by("pk")) == sorted(p.pk for p in staying)
    assert_everyone_in_exactly_one_group(after, staying)


def test_vip_split_refuses_to_change_a_group_a_scheduled_campaign_uses(marketer, db_state):
    # given: the first group is used by a scheduled campaign, and one of its people left
    segment, people = vip_pool(23)
    split(marketer, segment)
    first_group = Segment.objects.get(name="Best customers — VIP 1")
    CampaignFactory(name="Offer A", segment=first_group, status=Campaign.Status.SCHEDULED)
    segment.members.remove(min(groups_of(segment)["Best customers — VIP 1"]))
    before = db_state()
    groups_before = groups_of(segment)

    # when
    page = split(marketer, segment)

    # then
    assert (
        "Best customers: not re-split, nothing changed: “Best customers — VIP 1” would lose 1 person who left the "
        "segment. Groups used by campaigns that will still send keep their people (“Best customers — VIP 1” by "
        "“Offer A” (scheduled)); split again when those campaigns have finished or are cancelled."
    ) in page
    assert db_state() == before
    assert groups_of(segment) == groups_before


@pytest.mark.parametrize("status", [Campaign.Status.SCHEDULED, Campaign.Status.RUNNING])
def test_vip_split_puts_newcomers_into_the_groups_no_campaign_is_sending_to(marketer, status):
    # given: 22 people split into 11 + 11; the first group's campaign is under way; 4 join
    segment, people = vip_pool(22)
    split(marketer, segment)
    CampaignFactory(segment=Segment.objects.get(name="Best customers — VIP 1"), status=status)
    before = groups_of(segment)
    newcomers = [SubscriberFactory() for _ in range(4)]
    segment.members.add(*newcomers)

    # when
    page = split(marketer, segment)

    # then: the first group is untouched; the second takes the newcomers
    assert "Best customers: 26 people in 2 VIP group(s) of 11, 15 (1 updated)." in page
    after = groups_of(segment)
    assert after["Best customers — VIP 1"] == before["Best customers — VIP 1"]
    assert after["Best customers — VIP 2"] == before["Best customers — VIP 2"] | {p.pk for p in newcomers}
    assert_everyone_in_exactly_one_group(after, people + newcomers)


def test_vip_split_repairs_the_duplicate_groups_of_earlier_runs(marketer):
    # given: the groups two earlier runs made, each person in two groups
    segment, people = vip_pool(23)
    ordered = sorted(people, key=lambda p: p.pk)
    for _ in range(2):
        for number, members in ((1, ordered[:12]), (2, ordered[12:])):
            Segment.objects.create(name=f"Best customers — VIP {number}/2", kind=Segment.Kind.STATIC,
                                   max_size=15).members.set(members)

    # when
    page = split(marketer, segment)

    # then
    assert "Best customers: 23 people in 2 VIP group(s) of 12, 11 (2 removed)." in page
    groups = groups_of(segment)
    assert list(groups) == ["Best customers — VIP 1/2", "Best customers — VIP 2/2"]
    assert_everyone_in_exactly_one_group(groups, people)
    assert "already split into 2 VIP group(s) of 12, 11; nothing changed." in split(marketer, segment)


def test_vip_split_of_too_few_people_makes_no_group(marketer, db_state):
    # given
    segment, _ = vip_pool(7)
    before = db_state()

    # when
    page = split(marketer, segment)

    # then
    assert "Best customers: 7 people cannot be split into groups of 10-15: 1 group(s) would need at least 10" in page
    assert db_state() == before


def test_the_consent_history_tells_a_bounce_from_an_opt_out(marketer):
    # given
    anna = SubscriberFactory(name="Anna")
    subscribe(anna, "telegram", "123456789", at=datetime(2026, 11, 1, tzinfo=UTC))
    subscribe(anna, "viber", "+79980001122", at=datetime(2026, 11, 1, tzinfo=UTC))
    services.person_opt_out("telegram", "123456789", consent=services.Consent(source="telegram_stop", text="/stop"))
    services.person_opt_out("viber", "+79980001122", consent=services.Consent(source="viber_failed"),
                            status="unreachable")

    # when
    page = html.unescape(marketer.get(f"/admin/campaigns/subscriber/{anna.pk}/change/").content.decode())

    # then
    assert "<td>Telegram 123456789</td><td>opted out, by the person</td><td>telegram_stop</td>" in page
    assert ("<td>Viber +79980001122</td><td>unreachable (delivery bounce; consent not withdrawn)</td>"
            "<td>viber_failed</td>") in page


def test_adding_a_subscription_with_a_consent_date_of_year_0001_is_refused(marketer, db_state):
    # given
    anna = SubscriberFactory(name="Anna")
    form = {"subscriber": anna.pk, "platform": "telegram", "address": "123456789", "consent_text": "Yes",
            "consent_evidence": "", "consent_events-TOTAL_FORMS": "0", "consent_events-INITIAL_FORMS": "0"}
    before = db_state()

    # when
    refused = marketer.post("/admin/campaigns/subscription/add/", {**form, "consent_at": "0001-01-01 00:00:00"})
    after_refusal = db_state()
    saved = marketer.post("/admin/campaigns/subscription/add/", {**form, "consent_at": "2026-11-01 10:00:00"})

    # then
    assert refused.status_code == 200
    assert ('<ul class="errorlist" id="id_consent_at_error"><li>consent time 1-01-01 is before 2000-01-01</li></ul>'
            in refused.content.decode())
    assert after_refusal == before
    assert saved.status_code == 302
    assert list(ConsentEvent.objects.values_list("subscription__address", "kind", "source", "at")) == [
        ("123456789", "opt_in", "admin:boss", datetime(2026, 11, 1, 10, tzinfo=UTC))
    ]


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
    assert lines[0].startswith("\ufeffid,subscriber,external_id,platform,address,kind,status,source,text")
    assert f",telegram,{subscription.address},opt_in,opted_in,test,\"Yes, send me offers\"," in lines[1]


def test_the_admin_home_says_which_platforms_are_sandboxed(marketer, settings):
    settings.TELEGRAM_BOT_TOKEN = "123456:TOKEN"
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.VIBER_AUTH_TOKEN = ""
    page = marketer.get("/admin/").content.decode()
    assert re.search(r'>Telegram</th><td[^>]*><strong style="color:#1b5e20">live</strong>', page)
    assert "<strong style=\"color:#8a5300\">SANDBOX</strong>: no WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID" in page
    assert "<strong style=\"color:#8a5300\">SANDBOX</strong>: no VIBER_AUTH_TOKEN" in page


def test_a_draft_with_a_malformed_whatsapp_template_is_refused_with_the_expected_shape(marketer):
    page = marketer.post("/admin/campaigns/draft/add/", {
        "title": "BF", "body": "Sale\nmore", "whatsapp_template-name": "", "whatsapp_template-language": "ru",
    })
    assert page.status_code == 200
    assert "Template name: write the approved template&#x27;s name" in page.content.decode()
    from campaigns.models import Draft
    assert Draft.objects.count() == 0
    saved = marketer.post("/admin/campaigns/draft/add/", {
        "title": "BF", "body": "Sale\nmore", "whatsapp_template-name": "black_friday",
        "whatsapp_template-language": "ru", "whatsapp_template-parameter": ["-30%"],
    })
    assert saved.status_code == 302
    assert Draft.objects.get().whatsapp_template == {"name": "black_friday", "language": "ru", "parameters": ["-30%"]}
