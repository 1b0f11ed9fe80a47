"""VIP offers per group and A/B tests (issue 12): each VIP group receives exactly its own
variant (its text, its coupon pool, its size) through a real worker at the fake Telegram, with
protect_content; overlapping groups are refused; an A/B test sends its test share, holds the
rest until the winner (picked by clicks on the /r/ links, or by the marketer), then sends it."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.delivery import campaign_plan, campaigns_start_due, list_send
from campaigns.delivery.variants import AB_HOLD_UNTIL, WAITING_FOR_WINNER, ab_tests_decide, variant_results
from campaigns.models import Campaign, CampaignVariant, CouponCode, Delivery, Segment, SendList
from campaigns.services import coupons as coupon_service
from campaigns.services import variants as variant_service
from campaigns.services.audience import segment_split_vip
from tests.conftest import DraftFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import Engine, wait_until
from .test_delivery import TOKEN, finished, policy

S = Delivery.Status
PUBLIC = "https://go.tact.example"
RULES = {"tags_all": ["vip"], "tags_any": [], "platforms": [], "attributes": {}}


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.TACT_PUBLIC_URL = PUBLIC


@pytest.fixture
def fake():
    with FakeTelegram() as server:
        yield server


@pytest.fixture
def engine(tmp_path, fake):
    made = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url,
                             "TACT_PUBLIC_URL": PUBLIC})
    yield made
    made.stop()


def people(n: int, *, first_chat: int, tag: str = "vip", seed: int = 7) -> dict[int, int]:
    """n people on Telegram, their chats handed out in a shuffled order: subscriber id -> chat."""
    from campaigns.models import Tag

    chats = list(range(first_chat, first_chat + n))
    random.Random(seed).shuffle(chats)
    label, _ = Tag.objects.get_or_create(name=tag)
    out = {}
    for chat in chats:
        person = SubscriberFactory(timezone="Europe/Moscow")
        person.tags.add(label)
        subscribe(person, "telegram", str(chat))
        out[person.pk] = chat
    return out


def members(group: Segment) -> set[int]:
    return set(group.members.values_list("pk", flat=True))


def soon() -> timezone.datetime:
    return timezone.now() + timedelta(seconds=2)


def schedule(campaign: Campaign) -> Campaign:
    return services.campaign_schedule(campaign=campaign, now=campaign.send_at - timedelta(seconds=5))


# --- VIP offers ----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_vip_group_receives_exactly_its_own_offer_code_and_size_protected(engine, fake):
    # given: 37 VIP customers split into groups of 10-15 (nobody in two); each group its own
    # draft, saying its size and name, and its own coupon pool
    policy()
    chat_of = people(37, first_chat=8100)
    parent = SegmentFactory(name="Best customers", rules=RULES)
    split = segment_split_vip(segment=parent, min_size=10, max_size=15)
    groups = split.groups
    assert len(groups) == 3 and sum(split.sizes) == 37
    assert all(10 <= n <= 15 for n in split.sizes)
    campaign = variant_service.vip_campaign_create(
        name="VIP week", segment=parent, draft=DraftFactory(body="Our VIP offer", buttons=[]),
        platforms=["telegram"], send_at=soon())
    variants = list(campaign.variants.order_by("position"))
    assert [v.segment_id for v in variants] == [g.pk for g in groups]
    assert [v.label for v in variants] == ["VIP 1", "VIP 2", "VIP 3"]
    drafts = [DraftFactory(body=f"Offer {i}: only for {{{{ group_size }}}} of you, {{{{ group_name }}}}. "
                                f"Code {{{{ coupon }}}}", buttons=[]) for i in (1, 2, 3)]
    variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput(f"Circle {i}", drafts[i - 1], group) for i, group in enumerate(groups, start=1)])
    variants = list(campaign.variants.order_by("position"))
    for i, variant in enumerate(variants, start=1):
        coupon_service.coupons_add(campaign=campaign, codes=[f"G{i}-{n:02d}" for n in range(15)], variant=variant)
    campaign = schedule(campaign)
    assert campaign.status == Campaign.Status.SCHEDULED and campaign.protect_content

    # when: a real worker sends it
    engine.start()
    finished(campaign, 90, engine)

    # then: at the fake, each person got exactly one message: their own group's text, size and code
    calls = fake.sent()
    assert Counter(c.chat_id for c in calls) == {chat: 1 for chat in chat_of.values()}
    assert all(c.protect_content for c in calls)
    by_chat = {c.chat_id: c.text for c in calls}
    for i, (group, size) in enumerate(zip(groups, split.sizes, strict=True), start=1):
        for person in members(group):
            text = by_chat[chat_of[person]]
            match = re.fullmatch(rf"Offer {i}: only for {size} of you, Circle {i}\. Code (G{i}-\d\d)", text)
            assert match, text
            coupon = CouponCode.objects.get(code=match.group(1), campaign=campaign)
            assert coupon.variant_id == variants[i - 1].pk and coupon.delivery.subscriber_id == person
    # nobody is in two groups, and the ledger gave everyone their group's variant, in lists per variant
    assert sum(len(members(g)) for g in groups) == len(set().union(*(members(g) for g in groups))) == 37
    owner = {person: v.pk for v, g in zip(variants, groups, strict=True) for person in members(g)}
    rows = list(Delivery.objects.filter(campaign=campaign).select_related("send_list"))
    assert len(rows) == 37 and {r.status for r in rows} == {S.SENT}
    assert all(r.variant_id == owner[r.subscriber_id] == r.send_list.variant_id for r in rows)

    assert [(v["label"], v["planned"], v["sent"]) for v in variant_results(campaign)["variants"]] == [
        (f"Circle {i}", n, n) for i, n in enumerate(split.sizes, start=1)]


@pytest.mark.django_db
def test_vip_groups_that_overlap_or_grew_over_their_max_size_are_refused_and_nothing_is_planned():
    policy()
    ids = list(people(24, first_chat=8300))
    first = Segment.objects.create(name="Club — VIP 1", kind=Segment.Kind.STATIC, max_size=15)
    second = Segment.objects.create(name="Club — VIP 2", kind=Segment.Kind.STATIC, max_size=15)
    first.members.set(ids[:12])
    second.members.set(ids[10:22])  # two people in both
    draft = DraftFactory(body="Just for you", buttons=[])
    campaign = Campaign.objects.create(name="Club", draft=draft, segment=SegmentFactory(rules=RULES),
                                       platforms=["telegram"], send_at=soon(), kind=Campaign.Kind.VIP)
    variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("One", draft, first), variant_service.VariantInput("Two", draft, second)])

    with pytest.raises(services.ServiceError) as refused:
        schedule(campaign)
    assert refused.value.by_field["variants"] == [
        f"2 people are in two VIP groups, e.g. subscriber #{min(ids[10:12])} in “Club — VIP 1” and “Club — VIP 2”: "
        "nobody may be in two groups of one offer"]

    second.members.set(ids[12:24])  # apart now, but the second grew past its max_size
    Segment.objects.filter(pk=second.pk).update(max_size=11)
    with pytest.raises(services.ServiceError) as refused:
        schedule(campaign)
    assert refused.value.by_field["variants"] == [
        "the VIP group “Club — VIP 2” has 12 people, over its max_size of 11"]

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert not SendList.objects.filter(campaign=campaign).exists()


@pytest.mark.django_db
def test_a_vip_group_in_use_cannot_be_resplit():
    policy()
    people(20, first_chat=8400)
    parent = SegmentFactory(name="Loyal", rules=RULES)
    segment_split_vip(segment=parent, min_size=10, max_size=15)
    campaign = schedule(variant_service.vip_campaign_create(
        name="Loyal offer", segment=parent, draft=DraftFactory(body="Hi", buttons=[]), platforms=["telegram"],
        send_at=soon()))
    assert campaign.variants.count() == 2
    people(3, first_chat=8450, seed=8)  # newcomers would make the groups change
    with pytest.raises(services.ServiceError):
        segment_split_vip(segment=parent, min_size=10, max_size=15)


# --- A/B tests ------------------------------------------------------------------------------


def ab_campaign(n: int, *, first_chat: int, share: int = 50, auto: bool = True, wait: int = 30,
                tag: str = "ab") -> tuple[Campaign, dict[int, int], CampaignVariant, CampaignVariant]:
    chat_of = people(n, first_chat=first_chat, tag=tag)
    a = DraftFactory(body="A: 20% off everything", buttons=[{"text": "Shop", "url": "https://shop.example/a"}])
    b = DraftFactory(body="B: a gift with every order", buttons=[{"text": "Shop", "url": "https://shop.example/b"}])
    campaign = Campaign.objects.create(
        name="Spring test", draft=a, segment=SegmentFactory(rules={**RULES, "tags_all": [tag]}), platforms=["telegram"],
        send_at=soon(), kind=Campaign.Kind.AB_TEST, ab_test_share=share, ab_wait_minutes=wait, ab_auto=auto)
    first, second = variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("A", a), variant_service.VariantInput("B", b)])
    return schedule(campaign), chat_of, first, second


def share_sent(campaign: Campaign, n: int) -> bool:
    return Delivery.objects.filter(campaign=campaign, variant__isnull=False, status=S.SENT).count() == n


@pytest.mark.django_db(transaction=True)
def test_an_ab_test_sends_its_share_holds_the_rest_and_sends_the_rest_the_variant_with_more_clicks(engine, fake):
    # given: 40 people, a test share of 50 %: 10 get A, 10 get B, 20 wait for the winner
    policy()
    campaign, chat_of, a, b = ab_campaign(40, first_chat=8500)
    engine.start()
    wait_until(lambda: share_sent(campaign, 20), 90, "the test share to be sent")
    wait_until(lambda: not SendList.objects.filter(campaign=campaign, variant__isnull=False).exclude(
        state=SendList.State.DONE).exists(), 60, "the test lists to settle")

    rows = list(Delivery.objects.filter(campaign=campaign).select_related("subscription"))
    tested = {r.subscriber_id: r for r in rows if r.variant_id is not None}
    rest = [r for r in rows if r.variant_id is None]
    assert Counter(r.variant_id for r in tested.values()) == {a.pk: 10, b.pk: 10}
    assert len(rest) == 20 and {(r.status, r.reason, r.send_after) for r in rest} == {
        (S.HELD, WAITING_FOR_WINNER, AB_HOLD_UNTIL)}
    # at the fake: the test share only, each with its variant's text; nothing of the rest yet
    calls = fake.sent()
    assert len(calls) == 20
    text_of = {a.pk: "A: 20% off everything", b.pk: "B: a gift with every order"}
    assert {c.chat_id: c.text for c in calls} == {chat_of[p]: text_of[r.variant_id] for p, r in tested.items()}
    started = Campaign.objects.get(pk=campaign.pk).started_at
    assert ab_tests_decide(now=started + timedelta(minutes=29)) == []  # too early
    assert Campaign.objects.get(pk=campaign.pk).ab_winner_id is None

    # when: 6 of B's people tap their button, 1 of A's (through /r/, as people do)
    web = Client()
    url_of = {c.chat_id: c.reply_markup["inline_keyboard"][0][0]["url"] for c in calls}
    for variant, taps in ((b, 6), (a, 1)):
        for person in [p for p, r in tested.items() if r.variant_id == variant.pk][:taps]:
            response = web.get(urlsplit(url_of[chat_of[person]]).path)
            assert response.status_code == 302
            assert response["Location"].startswith(f"https://shop.example/{variant.label.lower()}?")
    assert len(fake.sent()) == 20  # still nothing for the rest
    # ... and the wait is over: the decision step (beat's tick) runs with the clock past it
    Campaign.objects.filter(pk=campaign.pk).update(started_at=timezone.now() - timedelta(minutes=31))
    assert ab_tests_decide(now=timezone.now()) == [campaign.pk]

    # then: B won on clicks, and the rest receive B's text
    campaign = Campaign.objects.get(pk=campaign.pk)
    assert campaign.ab_winner_id == b.pk and campaign.ab_decided_at is not None
    campaign = finished(campaign, 90, engine)
    calls = fake.sent()
    assert Counter(c.chat_id for c in calls) == {chat: 1 for chat in chat_of.values()}
    later = {c.chat_id: c.text for c in calls[20:]}
    assert later == {chat_of[r.subscriber_id]: "B: a gift with every order" for r in rest}
    assert set(Delivery.objects.filter(pk__in=[r.pk for r in rest]).values_list("variant_id", "status")) == {
        (b.pk, S.SENT)}
    results = variant_results(campaign)
    assert [(v["label"], v["sent"], v["clicked"]) for v in results["variants"]] == [("A", 10, 1), ("B", 10, 6)]
    assert results["winner"] == b.pk and results["reference"] == b.pk
    assert results["decision"] == "B by click rate: 6 of 10 (60.0%) vs A 1 of 10 (10.0%)"
    assert results["rest"]["sent"] == 20
    diff = results["variants"][0]["difference"]
    assert diff["vs_label"] == "B" and diff["difference"] == pytest.approx(-0.5)


@pytest.mark.django_db(transaction=True)
def test_the_marketer_picks_the_winner_and_automatic_decisions_leave_the_test_alone(engine, fake, admin_client_api):
    policy()
    campaign, chat_of, a, b = ab_campaign(12, first_chat=8600, auto=False, wait=1, tag="ab2")
    engine.start()
    wait_until(lambda: share_sent(campaign, 6), 90, "the test share to be sent")
    started = Campaign.objects.get(pk=campaign.pk).started_at
    assert ab_tests_decide(now=started + timedelta(days=3)) == []  # the marketer picks, not the clock
    assert len(fake.sent()) == 6

    answer = admin_client_api.post(f"/api/campaigns/{campaign.pk}/winner/", {"variant": a.pk}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["ab_winner"] == a.pk
    again = admin_client_api.post(f"/api/campaigns/{campaign.pk}/winner/", {"variant": b.pk}, format="json")
    assert again.status_code == 400 and again.json() == {"variant": ["the winner was picked already: A"]}

    finished(campaign, 90, engine)
    calls = fake.sent()
    assert Counter(c.chat_id for c in calls) == {chat: 1 for chat in chat_of.values()}
    assert Counter(c.text for c in calls[6:]) == {"A: 20% off everything": 6}


# --- the sender never sends the rest before the winner ----------------------------------------


@pytest.mark.django_db
def test_a_row_of_an_ab_test_without_a_variant_is_never_sent_even_when_due(settings, fake):
    settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_API_URL = TOKEN, fake.base_url
    policy()
    campaign, chat_of, a, b = ab_campaign(10, first_chat=8700, tag="ab3")
    campaigns_start_due(now=campaign.send_at, enqueue_plan=lambda pk: None)
    assert campaign_plan(campaign_id=campaign.pk) == 10
    rest = SendList.objects.get(campaign=campaign, variant__isnull=True)
    assert rest.next_due == AB_HOLD_UNTIL and rest.deliveries.count() == 5
    # someone makes its rows due by hand: the sender still sends none of them
    Delivery.objects.filter(send_list=rest).update(status=S.PLANNED, send_after=timezone.now() - timedelta(minutes=1))
    list_send(list_id=rest.pk)
    assert fake.sent() == []
    assert set(Delivery.objects.filter(send_list=rest).values_list("status", flat=True)) == {S.PLANNED}


@pytest.mark.django_db
def test_planning_deals_the_share_at_random_reproducibly_and_lists_never_mix_variants():
    policy()
    people(31, first_chat=8800, tag="ab4")
    a, b, c = (DraftFactory(body=f"{x}: hello", buttons=[]) for x in "ABC")
    campaign = Campaign.objects.create(
        name="Three ways", draft=a, segment=SegmentFactory(rules={**RULES, "tags_all": ["ab4"]}),
        platforms=["telegram"], send_at=soon(), kind=Campaign.Kind.AB_TEST, ab_test_share=60, ab_wait_minutes=60)
    variants = variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput(x, d) for x, d in zip("ABC", (a, b, c), strict=True)])
    schedule(campaign)
    campaigns_start_due(now=campaign.send_at, enqueue_plan=lambda pk: None)
    campaign_plan(campaign_id=campaign.pk)

    rows = list(Delivery.objects.filter(campaign=campaign).select_related("send_list"))
    # 60 % of 31 is 18.6: 19 test, 7/6/6 over A, B, C; 12 wait
    assert Counter(r.variant_id for r in rows) == {variants[0].pk: 7, variants[1].pk: 6, variants[2].pk: 6, None: 12}
    assert all(r.send_list.variant_id == r.variant_id for r in rows)
    frozen = {v.label: v.content_body for v in CampaignVariant.objects.filter(campaign=campaign)}
    assert frozen == {"A": "A: hello", "B": "B: hello", "C": "C: hello"}
    # at random, seeded by the campaign's id: planned again, the same people get the same variants
    dealt = {r.subscriber_id: r.variant_id for r in rows}
    Delivery.objects.filter(campaign=campaign).delete()
    SendList.objects.filter(campaign=campaign).delete()
    Campaign.objects.filter(pk=campaign.pk).update(planned_at=None)
    campaign_plan(campaign_id=campaign.pk)
    assert dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", "variant_id")) == dealt
    assert {pk for pk, v in dealt.items() if v} != set(sorted(dealt)[:19])  # not the audience's first 19


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def api(admin_client_api):
    admin_client_api.raise_request_exception = False
    return admin_client_api


def campaign_payload(**fields) -> dict:
    draft = DraftFactory(body="Hello", buttons=[])
    return {"name": "Test", "draft": draft.pk, "segment": SegmentFactory(rules=RULES).pk, "platforms": ["telegram"],
            "send_at": "2030-01-01T09:00:00Z", **fields}


@pytest.mark.django_db
def test_the_api_refuses_bad_variants_and_settings_naming_the_field(api):
    draft = DraftFactory(body="Hello", buttons=[])
    five = [{"label": x, "draft": draft.pk} for x in "ABCDE"]
    answer = api.post("/api/campaigns/", campaign_payload(kind="ab_test", variants=five), format="json")
    assert answer.status_code == 400 and answer.json() == {"variants": ["an A/B test has 2 to 4 variants, not 5"]}
    answer = api.post("/api/campaigns/", campaign_payload(kind="ab_test", ab_test_share=0), format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["ab_test_share"]
    answer = api.post("/api/campaigns/", campaign_payload(kind="ab_test", ab_test_share=101), format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["ab_test_share"]
    twice = [{"label": "A", "draft": draft.pk}, {"label": "A", "draft": draft.pk}]
    answer = api.post("/api/campaigns/", campaign_payload(kind="ab_test", variants=twice), format="json")
    assert answer.status_code == 400 and answer.json() == {"variants": ["the label “A” is used by two variants"]}
    answer = api.post("/api/campaigns/", campaign_payload(kind="vip", variants=[{"label": "A", "draft": draft.pk}]),
                      format="json")
    assert answer.status_code == 400 and answer.json() == {"variants": ["variant “A” needs its VIP group"]}
    answer = api.post("/api/campaigns/", campaign_payload(variants=[{"label": "A", "draft": 99999999}]),
                      format="json")
    assert answer.status_code == 400 and list(answer.json()["variants"]["0"]) == ["draft"], answer.content
    assert Campaign.objects.count() == 0

    # a draft A/B test without its share or wait is kept, and scheduling names what is missing
    answer = api.post("/api/campaigns/", campaign_payload(kind="ab_test", variants=five[:2]), format="json")
    assert answer.status_code == 201, answer.content
    assert [v["label"] for v in answer.json()["variants"]] == ["A", "B"]
    refused = api.post(f"/api/campaigns/{answer.json()['id']}/schedule/")
    assert refused.status_code == 400
    assert refused.json()["ab_test_share"] == ["say which share of the audience (1-100 %) tests the variants"]
    assert refused.json()["ab_wait_minutes"] == ["say after how many minutes the winner is picked"]


@pytest.mark.django_db
def test_the_api_makes_a_vip_campaign_and_picks_and_reports_winners(api):
    policy()
    people(25, first_chat=8900)
    parent = SegmentFactory(name="Gold", rules=RULES)
    groups = segment_split_vip(segment=parent, min_size=10, max_size=15).groups
    draft = DraftFactory(body="Only for {{ group_size }} of you", buttons=[])
    # one step: a VIP campaign without variants gets one per VIP group of its segment
    answer = api.post("/api/campaigns/", {**campaign_payload(kind="vip", protect_content=True), "segment": parent.pk,
                                          "draft": draft.pk}, format="json")
    assert answer.status_code == 201, answer.content
    assert [(v["label"], v["segment"]) for v in answer.json()["variants"]] == [
        ("VIP 1", groups[0].pk), ("VIP 2", groups[1].pk)]
    vip = Campaign.objects.get(pk=answer.json()["id"])
    # explicit variants, and codes for one group's own pool
    answer = api.patch(f"/api/campaigns/{vip.pk}/", {"variants": [
        {"label": "Gold", "draft": draft.pk, "segment": groups[0].pk},
        {"label": "Silver", "draft": draft.pk, "segment": groups[1].pk}]}, format="json")
    assert answer.status_code == 200 and [v["label"] for v in answer.json()["variants"]] == ["Gold", "Silver"]
    gold = vip.variants.get(label="Gold")
    added = api.post(f"/api/campaigns/{vip.pk}/coupons/", {"codes": ["G-1", "G-2"], "variant": gold.pk}, format="json")
    assert added.status_code == 201 and added.json() == {"added": 2, "total": 2, "assigned": 0, "free": 2}
    wrong = api.post(f"/api/campaigns/{vip.pk}/coupons/", {"codes": ["X-1"], "variant": 99999999}, format="json")
    assert wrong.status_code == 400 and wrong.json() == {"variant": ["no variant #99999999 in this campaign"]}
    assert api.get(f"/api/campaigns/{vip.pk}/coupons/?variant={gold.pk}").json()["total"] == 2

    # a winner only for an A/B test that runs, and only one of its own variants
    answer = api.post(f"/api/campaigns/{vip.pk}/winner/", {"variant": gold.pk}, format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["kind"]
    campaign, _, a, b = ab_campaign(8, first_chat=8950, tag="ab5")
    campaigns_start_due(now=campaign.send_at, enqueue_plan=lambda pk: None)
    campaign_plan(campaign_id=campaign.pk)
    for bad in (99999999, gold.pk, "x", None):
        answer = api.post(f"/api/campaigns/{campaign.pk}/winner/", {"variant": bad}, format="json")
        assert answer.status_code == 400 and list(answer.json()) == ["variant"], (bad, answer.content)
    results = api.get(f"/api/campaigns/{campaign.pk}/variants/").json()
    assert [(v["label"], v["planned"], v["sent"]) for v in results["variants"]] == [("A", 2, 0), ("B", 2, 0)]
    assert results["rest"]["waiting"] == 4 and results["winner"] is None
    answer = api.post(f"/api/campaigns/{campaign.pk}/winner/", {"variant": b.pk}, format="json")
    assert answer.status_code == 200 and answer.json()["ab_winner"] == b.pk
    rest = Delivery.objects.filter(campaign=campaign, send_list__variant__isnull=True)
    assert set(rest.values_list("variant_id", "status")) == {(b.pk, S.PLANNED)}
    assert all(r.send_after <= timezone.now() for r in rest)
    assert SendList.objects.get(campaign=campaign, variant__isnull=True).next_due <= timezone.now()
    results = api.get(f"/api/campaigns/{campaign.pk}/variants/").json()
    assert results["winner"] == b.pk and results["decision"].startswith("B picked by marketer (measured: ")


@pytest.mark.django_db
def test_each_variants_draft_passes_the_campaigns_checks_and_each_pool_must_cover_its_people():
    policy()
    people(24, first_chat=9100, tag="vip")
    parent = SegmentFactory(name="Silver", rules=RULES)
    groups = segment_split_vip(segment=parent, min_size=10, max_size=15).groups
    fine = DraftFactory(body="Your code {{ coupon }}", buttons=[])
    too_long = DraftFactory(body="x" * 200 + "\nrest", buttons=[])
    campaign = variant_service.vip_campaign_create(name="Silver offer", segment=parent, draft=fine,
                                                   platforms=["telegram"], send_at=soon())
    variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("One", fine, groups[0]), variant_service.VariantInput("Two", too_long, groups[1])])
    one = campaign.variants.get(label="One")
    coupon_service.coupons_add(campaign=campaign, codes=[f"S-{n}" for n in range(5)], variant=one)

    with pytest.raises(services.ServiceError) as refused:
        schedule(campaign)

    assert refused.value.by_field["variants"] == [
        "Two: telegram: the push preview (first line) is 200 characters, over the limit of 120"]
    assert refused.value.by_field["coupons"] == [
        "the message uses {{ coupon }} but the pool of “One” has 5 free codes for 12 people: add at least 7 codes"]
    assert not Delivery.objects.filter(campaign=campaign).exists()
