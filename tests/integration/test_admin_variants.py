"""Variants in the admin: the inline refuses a wrong number of variants with a form error, a VIP
draft gets one variant per VIP group with a button, a running A/B test shows its results per
variant and the marketer picks the winner with a confirmed button (others may not)."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from campaigns import services
from campaigns.delivery import campaign_plan, campaigns_start_due
from campaigns.models import Campaign, CampaignVariant, Delivery, Tag
from campaigns.services import variants as variant_service
from campaigns.services.audience import segment_split_vip
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory, SubscriberFactory, subscribe

from .test_delivery import policy

pytestmark = pytest.mark.django_db

PRESS = {"_form_submitted": "True"}  # unfold's dialog form: the confirmation, posted
K = Campaign.Kind


def admin_as(group: str, username: str = "mia") -> Client:
    user = User.objects.create_user(username, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


class _Form(HTMLParser):
    """The campaign form's fields as a browser would post them."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("id") == "campaign_form":
            self._inside = True
        if not self._inside or not a.get("name") and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(a["name"], []).append(a.get("value") or ("on" if a.get("type") == "checkbox" else ""))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.data.setdefault(self._select, []).append(a.get("value") or "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.data.setdefault(a["name"], []).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        if tag == "select":
            self._select = None
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea][-1] += data


def form_of(page: str) -> dict[str, list[str]]:
    parser = _Form()
    parser.feed(page)
    return parser.data


def variant_rows(drafts: list, labels: str) -> dict[str, object]:
    rows: dict[str, object] = {"variants-TOTAL_FORMS": str(len(labels)), "variants-INITIAL_FORMS": "0"}
    for i, (label, draft) in enumerate(zip(labels, drafts, strict=True)):
        rows |= {f"variants-{i}-label": label, f"variants-{i}-draft": draft.pk, f"variants-{i}-position": i,
                 f"variants-{i}-segment": ""}
    return rows


def test_the_inline_refuses_five_variants_for_an_ab_test_and_saves_two():
    campaign = CampaignFactory(name="Spring", kind=K.AB_TEST, ab_test_share=20, ab_wait_minutes=60)
    client = admin_as("Marketer")
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    form = form_of(page)
    assert form["variants-TOTAL_FORMS"] == ["0"] and form["kind"] == ["ab_test"]
    drafts = [DraftFactory(body=f"{x}: hello") for x in "ABCDE"]

    refused = client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/",
                          {**form, **variant_rows(drafts, "ABCDE"), "_save": "Save"})

    assert refused.status_code == 200
    assert "an A/B test has 2 to 4 variants, not 5" in refused.content.decode()
    assert not CampaignVariant.objects.exists()

    saved = client.post(f"/admin/campaigns/campaign/{campaign.pk}/change/",
                        {**form, **variant_rows(drafts[:2], "AB"), "_save": "Save"})

    assert saved.status_code == 302
    assert list(campaign.variants.order_by("position").values_list("label", "draft_id")) == [
        ("A", drafts[0].pk), ("B", drafts[1].pk)]


def test_a_plain_campaign_has_no_variants_on_its_page_and_a_vip_draft_gets_one_per_group_by_button():
    policy()
    vip = Tag.objects.create(name="vip")
    for _ in range(22):
        person = SubscriberFactory()
        person.tags.add(vip)
        subscribe(person, "telegram")
    parent = SegmentFactory(name="Gold", rules={"tags_all": ["vip"], "tags_any": [], "platforms": [], "attributes": {}})
    groups = segment_split_vip(segment=parent, min_size=10, max_size=15).groups
    plain = CampaignFactory(segment=parent)
    campaign = CampaignFactory(segment=parent, kind=K.VIP)
    client = admin_as("Marketer")

    page = client.get(f"/admin/campaigns/campaign/{plain.pk}/change/").content.decode()
    assert "variants-TOTAL_FORMS" not in page and "/vip-groups/" not in page and "/pick-winner/" not in page
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f"/admin/campaigns/campaign/{campaign.pk}/vip-groups/" in page and "/pick-winner/" not in page
    assert client.get(f"/admin/campaigns/campaign/{campaign.pk}/vip-groups/").status_code != 302  # asks first
    assert not campaign.variants.exists()

    answer = client.post(f"/admin/campaigns/campaign/{campaign.pk}/vip-groups/", PRESS, follow=True)

    assert "2 variants, one per VIP group." in answer.content.decode()
    assert list(campaign.variants.order_by("position").values_list("label", "segment_id", "draft_id")) == [
        ("VIP 1", groups[0].pk, campaign.draft_id), ("VIP 2", groups[1].pk, campaign.draft_id)]
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert form_of(page)["variants-TOTAL_FORMS"] == ["2"]


def running_ab_test() -> tuple[Campaign, CampaignVariant, CampaignVariant]:
    policy()
    ab = Tag.objects.create(name="ab")
    for _ in range(10):
        person = SubscriberFactory()
        person.tags.add(ab)
        subscribe(person, "telegram")
    a, b = DraftFactory(body="A: hello", buttons=[]), DraftFactory(body="B: hello", buttons=[])
    send_at = timezone.now() + timedelta(minutes=5)
    campaign = Campaign.objects.create(
        name="Spring", draft=a, platforms=["telegram"], send_at=send_at, kind=K.AB_TEST, ab_test_share=40,
        ab_wait_minutes=60, ab_auto=False,
        segment=SegmentFactory(rules={"tags_all": ["ab"], "tags_any": [], "platforms": [], "attributes": {}}))
    first, second = variant_service.campaign_variants_set(campaign=campaign, variants=[
        variant_service.VariantInput("A", a), variant_service.VariantInput("B", b)])
    services.campaign_schedule(campaign=campaign, now=send_at - timedelta(minutes=1))
    campaigns_start_due(now=send_at, enqueue_plan=lambda pk: None)
    campaign_plan(campaign_id=campaign.pk)
    return Campaign.objects.get(pk=campaign.pk), first, second


def test_a_running_ab_test_shows_results_per_variant_and_the_marketer_picks_the_winner():
    campaign, a, b = running_ab_test()
    analyst = admin_as("Analyst", "ann")
    page = analyst.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Results per variant" in page and "the rest (the winner)" in page
    assert "Pick the winner with the button above; 6 people wait for it." in page
    assert "/pick-winner/" not in page  # an analyst may look, not decide
    refused = analyst.post(f"/admin/campaigns/campaign/{campaign.pk}/pick-winner/", {**PRESS, "variant": b.pk})
    assert refused.status_code == 403 and Campaign.objects.get(pk=campaign.pk).ab_winner_id is None

    marketer = admin_as("Marketer")
    page = marketer.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert f"/admin/campaigns/campaign/{campaign.pk}/pick-winner/" in page
    answer = marketer.post(f"/admin/campaigns/campaign/{campaign.pk}/pick-winner/", {**PRESS, "variant": b.pk},
                           follow=True)

    assert "the winner goes to the rest." in answer.content.decode()
    campaign.refresh_from_db()
    assert campaign.ab_winner_id == b.pk
    assert set(Delivery.objects.filter(campaign=campaign, send_list__variant__isnull=True).values_list(
        "variant_id", "status")) == {(b.pk, Delivery.Status.PLANNED)}
    page = marketer.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Winner: B, picked at" in page and "B picked by mia" in page
    assert "/pick-winner/" not in page
