"""A campaign's variants: set them (an A/B test: 2 to 4 drafts; VIP offers: one per VIP group),
check them when the campaign is scheduled, freeze their content, pick an A/B test's winner,
and make a VIP campaign over a segment's groups in one step."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from auditlog.context import disable_auditlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels.limits import PLATFORMS

from .. import links, personalise, selectors, stats
from ..audit import audit_record
from ..models import Campaign, CampaignVariant, CouponCode, Draft, Segment
from .audience import vip_groups
from .content import content_problems
from .errors import ServiceError
from .media import media_frozen, media_problems
from .personal import campaign_personal_problems
from .whatsapp_templates import campaign_template_problems

K = Campaign.Kind
AB_MIN, AB_MAX = 2, 4
LABEL_MAX = CampaignVariant._meta.get_field("label").max_length
# Settings a variant campaign carries beside its variants (copied with them).
SETTINGS = ("kind", "protect_content", "ab_test_share", "ab_wait_minutes", "ab_metric", "ab_auto")


@dataclass(frozen=True)
class VariantInput:
    """A variant as asked for: its label, its draft and (VIP offers) its group."""

    label: str
    draft: Draft
    segment: Segment | None = None


def variants_input_problems(*, kind: str, variants: Sequence[VariantInput]) -> dict[str, list[str]]:
    """What is wrong with these variants for a campaign of `kind`, under "variants"."""
    found: list[str] = []
    n = len(variants)
    if kind == K.STANDARD and n:
        found.append(_("a campaign of one message has no variants: choose the kind “A/B test” or “VIP offers "
                       "per group”"))
    if kind == K.AB_TEST and not AB_MIN <= n <= AB_MAX:
        found.append(_("an A/B test has %(min)s to %(max)s variants, not %(n)s") % {"min": AB_MIN, "max": AB_MAX, "n": n})
    if kind == K.VIP and not n:
        found.append(_("VIP offers need one variant per VIP group; none given (split the segment into VIP groups, "
                       "then add a variant for each)"))
    labels: set[str] = set()
    groups: set[int] = set()
    for i, variant in enumerate(variants, start=1):
        label = variant.label.strip()
        if not label:
            found.append(_("variant %(n)s has no label") % {"n": i})
        elif label in labels:
            found.append(_("the label “%(label)s” is used by two variants") % {"label": label})
        labels.add(label)
        if kind == K.VIP and variant.segment is None:
            found.append(_("variant “%(label)s” needs its VIP group") % {"label": label or i})
        elif kind == K.VIP and variant.segment.pk in groups:
            found.append(_("the VIP group “%(group)s” has two variants") % {"group": variant.segment})
        elif kind == K.AB_TEST and variant.segment is not None:
            found.append(_("variant “%(label)s”: a VIP group is for VIP offers, not for an A/B test (its variants "
                           "are dealt at random)") % {"label": label or i})
        if variant.segment is not None:
            groups.add(variant.segment.pk)
    return {"variants": found} if found else {}


@transaction.atomic
def campaign_variants_set(*, campaign: Campaign, variants: Sequence[VariantInput]) -> list[CampaignVariant]:
    """Make a draft campaign's variants these, in this order (ServiceError otherwise). A variant
    whose label is kept stays the same variant (with its coupon pool); one left out is removed,
    its pool with it."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != Campaign.Status.DRAFT:
        raise ServiceError({"variants": [_("the variants of a %(status)s campaign cannot change")
                                         % {"status": campaign.status}]})
    if problems := variants_input_problems(kind=campaign.kind, variants=variants):
        raise ServiceError(problems)
    existing = {v.label: v for v in CampaignVariant.objects.filter(campaign=campaign)}
    wanted = {v.label.strip() for v in variants}
    CampaignVariant.objects.filter(pk__in=[v.pk for label, v in existing.items() if label not in wanted]).delete()
    kept = []
    for position, given in enumerate(variants):
        variant = existing.get(given.label.strip()) or CampaignVariant(campaign=campaign, label=given.label.strip())
        variant.position, variant.draft, variant.segment = position, given.draft, given.segment
        variant.save()
        kept.append(variant)
    return kept


def campaign_variants(campaign: Campaign) -> list[CampaignVariant]:
    return list(CampaignVariant.objects.filter(campaign_id=campaign.pk).select_related("draft", "segment")
                .order_by("position", "pk"))


# --- scheduling ----------------------------------------------------------------------


def campaign_variant_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """What keeps a campaign's variants from being scheduled, by field: their number and
    groups, the A/B settings, VIP groups that overlap or are over their max_size, each
    variant's draft checked as the campaign's is (placeholders, lengths per platform as each
    person receives it, media, WhatsApp template), and the coupon pools."""
    from ..delivery.variants import READS_REPORTED, vip_overlap  # the engine imports services

    variants = campaign_variants(campaign)
    problems = variants_input_problems(kind=campaign.kind, variants=[
        VariantInput(v.label, v.draft, v.segment) for v in variants])
    if campaign.kind == K.STANDARD:
        return problems
    add = problems.setdefault
    if campaign.kind == K.AB_TEST:
        if campaign.ab_test_share is None:
            add("ab_test_share", []).append(_("say which share of the audience (1-100 %) tests the variants"))
        if campaign.ab_wait_minutes is None:
            add("ab_wait_minutes", []).append(_("say after how many minutes the winner is picked"))
        if campaign.ab_metric == Campaign.AbMetric.READS and not any(p in READS_REPORTED for p in campaign.platforms):
            add("ab_metric", []).append(_("none of the chosen platforms reports reads (Telegram does not): pick the "
                                          "winner by click rate, or add WhatsApp or Viber"))
    if campaign.kind == K.VIP:
        people, example, names = vip_overlap(variants)
        if people:
            add("variants", []).append(ngettext(
                "%(n)s person is in two VIP groups, e.g. subscriber #%(id)s in “%(a)s” and “%(b)s”: nobody may be "
                "in two groups of one offer",
                "%(n)s people are in two VIP groups, e.g. subscriber #%(id)s in “%(a)s” and “%(b)s”: nobody may be "
                "in two groups of one offer", people) % {"n": people, "id": example, "a": names[0], "b": names[1]})
        for variant in variants:
            group = variant.segment
            if group is not None and group.max_size is not None and (size := selectors.segment_size(group)) > group.max_size:
                add("variants", []).append(
                    _("the VIP group “%(group)s” has %(size)s people, over its max_size of %(max_size)s")
                    % {"group": group, "size": size, "max_size": group.max_size})
    if problems:
        return problems  # the drafts are measured against a sound set of variants only
    for variant in variants:
        for message in _draft_problems(_as_campaign(campaign, variant), now=now):
            add("variants", []).append(_("%(label)s: %(problem)s") % {"label": variant.label, "problem": message})
    for message in _coupon_problems(campaign, variants):
        add("coupons", []).append(message)
    return problems


def _as_campaign(campaign: Campaign, variant: CampaignVariant) -> Campaign:
    """The campaign as one variant alone would be: its draft, and (VIP) its group as segment."""
    alone = copy.copy(campaign)  # Django copies the instance's state and cache: `campaign` is untouched
    alone.kind, alone.draft = K.STANDARD, variant.draft
    if variant.segment is not None:
        alone.segment = variant.segment
    return alone


def _draft_problems(alone: Campaign, *, now: datetime) -> list[str]:
    """campaign_problems' checks of the draft, for one variant (coupons: `_coupon_problems`)."""
    draft = alone.draft
    platforms = [p for p in alone.platforms if p in PLATFORMS]
    buttons, body = links.as_measured(draft.buttons or [], draft.body, track_buttons=draft.track_links,
                                      track_body=draft.track_body_links)
    found = content_problems(body, platforms, buttons=buttons, media_kind=draft.media_kind)
    personal = campaign_personal_problems(alone)
    if "draft" in personal:  # a personalised text is measured as each person gets it, not as typed
        found = personal["draft"]
    found += media_problems(draft, platforms)
    for messages in campaign_template_problems(alone, now=now).values():
        found += messages
    return found


def _uses_coupon(draft: Draft) -> bool:
    return personalise.uses_coupon(personalise.content_texts(draft.body, draft.buttons or [], draft.whatsapp_template))


def _reachable(campaign: Campaign) -> int:
    from ..delivery.planning import audience_choices

    return sum(1 for choice in audience_choices(campaign) if choice.platform is not None)


def _coupon_problems(campaign: Campaign, variants: list[CampaignVariant]) -> list[str]:
    """Each pool must cover whoever draws from it (delivery.variants.coupon_passes): a VIP
    group's people, an A/B variant's share, and the remainder (the common pool)."""
    from ..delivery.variants import coupon_passes

    using = [v.pk for v in variants if _uses_coupon(v.draft)]
    if not using:
        return []
    reach: dict[int | None, int] = {}
    if campaign.kind == K.VIP:
        reach = {v.pk: _reachable(_as_campaign(campaign, v)) for v in variants}
    else:
        everyone = _reachable(campaign)
        tested = stats.sample_size(everyone, campaign.ab_test_share or 0)
        reach = dict(zip([v.pk for v in variants], stats.split_sizes(tested, len(variants)), strict=True))
        reach[None] = everyone - tested
    labels = {v.pk: v.label for v in variants}
    problems = []
    for rows_of, pool in coupon_passes(campaign, using=using):
        people = sum(reach.get(pk, 0) for pk in rows_of)
        free = CouponCode.objects.filter(campaign_id=campaign.pk, variant_id=pool, assigned_at__isnull=True).count()
        if free < people:
            name = (_("the pool of “%(label)s”") % {"label": labels[pool]}) if pool is not None else _("the common pool")
            problems.append(ngettext(
                "the message uses {{ coupon }} but %(pool)s has %(free)s free codes for %(people)s people: "
                "add at least %(missing)s code",
                "the message uses {{ coupon }} but %(pool)s has %(free)s free codes for %(people)s people: "
                "add at least %(missing)s codes", people - free)
                % {"pool": name, "free": free, "people": people, "missing": people - free})
    return problems


def variants_freeze(campaign: Campaign) -> None:
    """Freeze each variant's content from its draft (as campaign_schedule freezes the campaign's)."""
    variants = campaign_variants(campaign)
    for variant in variants:
        draft = variant.draft
        variant.content_body, variant.content_buttons = draft.body, draft.buttons
        variant.content_whatsapp_template, variant.content_media = draft.whatsapp_template, media_frozen(draft)
        variant.content_track_links, variant.content_track_body_links = draft.track_links, draft.track_body_links
    CampaignVariant.objects.bulk_update(variants, [
        "content_body", "content_buttons", "content_whatsapp_template", "content_media", "content_track_links",
        "content_track_body_links"])


# --- the winner ----------------------------------------------------------------------


def campaign_pick_winner(*, campaign: Campaign, variant_id: object, actor: AbstractBaseUser | None = None,
                         now: datetime | None = None) -> Campaign:
    """The marketer picks an A/B test's winner: the remainder is sent that variant at once.
    ServiceError (by field) for another kind of campaign, one not sending, a variant of
    another campaign, or a winner picked already."""
    from ..delivery.variants import ab_release, variant_results, winner_by_metric

    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign.pk)
    if campaign.kind != K.AB_TEST:
        raise ServiceError({"kind": [_("only an A/B test has a winner; this campaign is “%(kind)s”")
                                     % {"kind": campaign.get_kind_display()}]})
    if campaign.status not in (Campaign.Status.RUNNING, Campaign.Status.PAUSED):
        raise ServiceError({"status": [_("the winner is picked while the test runs; this campaign is %(status)s")
                                       % {"status": campaign.status}]})
    pk = _as_id(variant_id)
    variant = CampaignVariant.objects.filter(pk=pk, campaign_id=campaign.pk).first() if pk is not None else None
    if variant is None:
        raise ServiceError({"variant": [_("no variant #%(id)s in this campaign") % {"id": str(variant_id)[:20]}]})
    if campaign.ab_winner_id is not None:
        raise ServiceError({"variant": [_("the winner was picked already: %(label)s")
                                        % {"label": campaign.ab_winner.label}]})
    measured = winner_by_metric(campaign, variant_results(campaign))[1]
    who = actor.get_username() if actor is not None and actor.is_authenticated else "the marketer"
    why = f"{variant.label} picked by {who} (measured: {measured})"
    if not ab_release(campaign_id=campaign.pk, variant_id=variant.pk, why=why, now=now, actor=actor):
        campaign.refresh_from_db()
        raise ServiceError({"variant": [_("the winner was picked already: %(label)s")
                                        % {"label": campaign.ab_winner.label if campaign.ab_winner else "-"}]})
    return Campaign.objects.get(pk=campaign.pk)


def _as_id(value: object) -> int | None:
    """An id as given in JSON or a form (7 or "7"), or None for anything else."""
    if isinstance(value, bool):
        return None
    text = str(value).strip() if isinstance(value, (int, str)) else ""
    return int(text) if text.isdigit() and len(text) <= 18 else None


# --- VIP offers in one step ------------------------------------------------------------


@transaction.atomic
def vip_variants_from_groups(*, campaign: Campaign) -> list[CampaignVariant]:
    """A draft campaign becomes VIP offers over its segment's VIP groups: one variant per
    group, labelled "VIP <n>", each with the campaign's draft to start from."""
    campaign = Campaign.objects.select_for_update().select_related("segment", "draft").get(pk=campaign.pk)
    groups = vip_groups(campaign.segment)
    if not groups:
        raise ServiceError({"segment": [_("“%(segment)s” has no VIP groups: split it into VIP groups first "
                                          "(Segments, action “Split into VIP groups”)") % {"segment": campaign.segment}]})
    if campaign.kind != K.VIP:
        Campaign.objects.filter(pk=campaign.pk).update(kind=K.VIP)
        campaign.kind = K.VIP
    return campaign_variants_set(campaign=campaign, variants=[
        VariantInput(f"VIP {number}"[:LABEL_MAX], campaign.draft, group) for number, group in groups])


@transaction.atomic
def vip_campaign_create(*, name: str, segment: Segment, draft: Draft, platforms: list[str], send_at: datetime,
                        actor: AbstractBaseUser | None = None, protect_content: bool = True) -> Campaign:
    """A draft VIP campaign over `segment`'s VIP groups, a variant per group (then give each
    group its own draft and coupon codes, and schedule it)."""
    campaign = Campaign(name=name, segment=segment, draft=draft, platforms=list(platforms), send_at=send_at,
                        kind=K.VIP, protect_content=protect_content,
                        created_by=actor if actor is not None and actor.is_authenticated else None)
    with disable_auditlog():
        campaign.save()
    audit_record(campaign, verb="created", actor=actor, after={"name": name, "kind": K.VIP, "status": campaign.status})
    vip_variants_from_groups(campaign=campaign)
    return campaign


def campaign_variants_copy(*, source: Campaign, target: Campaign) -> None:
    """A duplicate keeps the kind, its settings and the variants (their drafts and groups;
    content is frozen again when the copy is scheduled, and no winner is carried over)."""
    Campaign.objects.filter(pk=target.pk).update(**{field: getattr(source, field) for field in SETTINGS})
    for field in SETTINGS:
        setattr(target, field, getattr(source, field))
    CampaignVariant.objects.bulk_create(
        CampaignVariant(campaign=target, label=v.label, position=v.position, draft_id=v.draft_id,
                        segment_id=v.segment_id)
        for v in CampaignVariant.objects.filter(campaign=source).order_by("position", "pk"))
