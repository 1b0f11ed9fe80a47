"""A personalised draft checked as each person will receive it, before scheduling.

The audience is streamed in keyset pages (names and attributes only, never whole objects);
each person's text is rendered for the platform they would get it on and measured as that
platform counts it. The coupon pool must cover everyone reachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models.functions import Length
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels.limits import PLATFORMS, text_as_sent

from .. import links, personalise
from ..models import Campaign, CouponCode, Draft, PlatformChoices, Subscriber
from .content import content_checks

BATCH = 2000


def draft_is_personal(draft: Draft) -> bool:
    """The text a person reads depends on who they are (body or buttons hold placeholders)."""
    return any(personalise.has_placeholders(t) for t in [draft.body, *personalise.button_texts(draft.buttons or [])])


@dataclass
class _Over:
    """People whose rendering does not fit, and the first of them."""

    count: int = 0
    example: int | None = None

    def add(self, subscriber_id: int) -> None:
        self.count += 1
        if self.example is None:
            self.example = subscriber_id


@dataclass
class _Tally:
    reachable: int = 0
    empty: _Over = field(default_factory=_Over)
    preview: dict[str, _Over] = field(default_factory=dict)
    body: dict[str, _Over] = field(default_factory=dict)
    limits: dict[tuple[str, str], int] = field(default_factory=dict)
    caption: dict[str, bool] = field(default_factory=dict)


def _people(campaign: Campaign, *, with_values: bool) -> Iterator[list[tuple[int, str, str, dict]]]:
    """The campaign's reachable people in pages: (subscriber id, platform, name, attributes),
    each on the one platform planning would choose for them."""
    from ..delivery.planning import audience_choices  # the engine imports services

    page: list = []
    for choice in audience_choices(campaign):
        if choice.platform is None:
            continue
        page.append(choice)
        if len(page) >= BATCH:
            yield _with_values(page, with_values)
            page = []
    if page:
        yield _with_values(page, with_values)


def _with_values(page: list, with_values: bool) -> list[tuple[int, str, str, dict]]:
    values: dict[int, tuple[str, dict]] = {}
    if with_values:
        values = {pk: (name, attributes) for pk, name, attributes in Subscriber.objects.filter(
            pk__in=[c.subscriber_id for c in page]).values_list("pk", "name", "attributes")}
    return [(c.subscriber_id, c.platform, *values.get(c.subscriber_id, ("", {}))) for c in page]


def _tally(campaign: Campaign, draft: Draft, *, personal: bool) -> _Tally:
    tally = _Tally()
    # Codes are assigned at planning: the longest free code stands in for everyone's.
    longest = (CouponCode.objects.filter(campaign=campaign, assigned_at__isnull=True)
               .order_by(Length("code").desc()).values_list("code", flat=True).first() or "")
    for page in _people(campaign, with_values=personal):
        tally.reachable += len(page)
        if not personal:
            continue
        for subscriber_id, platform, name, attributes in page:
            values = personalise.Values(name=name, attributes=attributes, coupon=longest)
            body = personalise.render(draft.body, values).strip()
            if not body:
                tally.empty.add(subscriber_id)
                continue
            buttons = personalise.render_buttons(draft.buttons or [], values)
            # with tracked links as long as they will be (WhatsApp appends button URLs to the text)
            buttons, body = links.as_measured(buttons, body, track_buttons=draft.track_links,
                                              track_body=draft.track_body_links)
            check = content_checks(body, [platform], buttons=buttons, media_kind=draft.media_kind)[platform]
            tally.limits[(platform, "preview")] = check["limit"]
            tally.limits[(platform, "body")] = check["body_limit"]
            tally.caption[platform] = check.get("caption", False)
            if not check["fits"]:
                tally.preview.setdefault(platform, _Over()).add(subscriber_id)
            if not check["body_fits"]:
                tally.body.setdefault(platform, _Over()).add(subscriber_id)
    return tally


def campaign_personal_problems(campaign: Campaign) -> dict[str, list[str]]:
    """Why a personalised campaign cannot go out as its people would receive it, by field.

    "draft" is present for a personalised draft and replaces the check of the text as typed;
    "coupons" when the draft uses {{ coupon }} and the pool is too small."""
    draft = campaign.draft
    texts = personalise.content_texts(draft.body, draft.buttons or [], draft.whatsapp_template)
    syntax = []
    for text in texts:
        try:
            personalise.check(text)
        except personalise.PlaceholderError as exc:
            syntax.append(str(exc))
    if syntax:
        return {"draft": syntax}
    personal = draft_is_personal(draft)
    coupon = personalise.uses_coupon(texts)
    if not personal and not coupon:
        return {}
    tally = _tally(campaign, draft, personal=personal)
    problems: dict[str, list[str]] = {}
    if personal:
        problems["draft"] = _length_problems(tally)
    if coupon:
        free = CouponCode.objects.filter(campaign=campaign, assigned_at__isnull=True).count()
        if free < tally.reachable:
            missing = tally.reachable - free
            problems["coupons"] = [ngettext(
                "the message uses {{ coupon }} but the pool has %(free)s free codes for %(people)s people: "
                "add at least %(missing)s code",
                "the message uses {{ coupon }} but the pool has %(free)s free codes for %(people)s people: "
                "add at least %(missing)s codes", missing) % {"free": free, "people": tally.reachable, "missing": missing}]
    return problems


def _length_problems(tally: _Tally) -> list[str]:
    names = dict(PlatformChoices.choices)
    problems = []
    if tally.empty.count:
        problems.append(ngettext(
            "%(n)s person would receive an empty message: e.g. subscriber #%(id)s",
            "%(n)s people would receive an empty message: e.g. subscriber #%(id)s", tally.empty.count)
            % {"n": tally.empty.count, "id": tally.empty.example})
    for platform in PLATFORMS:
        name = names.get(platform, platform)
        if over := tally.preview.get(platform):
            problems.append(ngettext(
                "%(n)s person would exceed %(platform)s's %(limit)s-character push preview (first line): "
                "e.g. subscriber #%(id)s",
                "%(n)s people would exceed %(platform)s's %(limit)s-character push preview (first line): "
                "e.g. subscriber #%(id)s", over.count)
                % {"n": over.count, "platform": name, "limit": tally.limits[(platform, "preview")], "id": over.example})
        if over := tally.body.get(platform):
            args = {"n": over.count, "platform": name, "limit": tally.limits[(platform, "body")], "id": over.example}
            if tally.caption.get(platform):
                problems.append(ngettext(
                    "%(n)s person would exceed %(platform)s's %(limit)s-character caption: e.g. subscriber #%(id)s",
                    "%(n)s people would exceed %(platform)s's %(limit)s-character caption: e.g. subscriber #%(id)s",
                    over.count) % args)
            else:
                problems.append(ngettext(
                    "%(n)s person would exceed %(platform)s's %(limit)s-character message: e.g. subscriber #%(id)s",
                    "%(n)s people would exceed %(platform)s's %(limit)s-character message: e.g. subscriber #%(id)s",
                    over.count) % args)
    return problems


def sample_values() -> personalise.Values:
    """A made-up person for the preview when no real subscriber is chosen."""
    return personalise.Values(name=_("Alex Morgan"), attributes={}, coupon="SAMPLE-CODE-1234",
                              group_name=_("VIP 1"), group_size="12")  # a VIP group's, as a VIP offer fills them


def subscriber_values(subscriber: Subscriber, coupon: str = "SAMPLE-CODE-1234") -> personalise.Values:
    return personalise.Values(name=subscriber.name, attributes=subscriber.attributes, coupon=coupon,
                              group_name=_("VIP 1"), group_size="12")


def draft_rendered(draft: Draft, values: personalise.Values, platforms=PLATFORMS) -> dict[str, dict]:
    """Per platform: the draft as this person would receive it (text as sent, buttons, the
    WhatsApp template's parameters) with content_checks' figures for that text."""
    body = personalise.render(draft.body, values)
    buttons = personalise.render_buttons(draft.buttons or [], values)
    out = {}
    for platform, check in content_checks(body, platforms, buttons=buttons, media_kind=draft.media_kind).items():
        out[platform] = {"body": body, "text": text_as_sent(platform, body, buttons), "buttons": buttons, **check}
        if platform == "whatsapp":
            out[platform]["whatsapp_template"] = personalise.render_template(draft.whatsapp_template, values)
    return out
