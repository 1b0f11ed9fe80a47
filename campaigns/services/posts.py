"""Channel posts: create, edit until they go out, schedule (freeze the draft, check the
content against each channel's platform and the channel's cadence policy), cancel. Each
transition is one audit entry with its actor, before and after, as for campaigns."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from auditlog.context import disable_auditlog
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import links, personalise
from ..audit import audit_record
from ..cadence import CadencePolicy, cadence_check
from ..models import BrandChannel, Draft, Post, Publication
from .cadence_guard import channel_policy, channel_post_times
from .content import content_problems
from .errors import ServiceError
from .media import media_frozen, media_problems

P = Publication.Status
EDITABLE = (Post.Status.DRAFT, Post.Status.SCHEDULED, Post.Status.PUBLISHING)
CANCELLABLE = (Post.Status.DRAFT, Post.Status.SCHEDULED, Post.Status.PUBLISHING)
SETTINGS = ("name", "draft", "publish_at", "silent", "pin", "protect_content")


def _state(post: Post, *fields: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        if name == "channels":
            out[name] = sorted(post.channels.values_list("pk", flat=True)) if post.pk else []
        elif name == "draft":
            out[name] = post.draft_id
        else:
            out[name] = getattr(post, name)
    return out


def _save(post: Post, *, verb: str, actor: AbstractBaseUser | None, before: dict[str, Any],
          extra: dict[str, Any] | None = None) -> None:
    with disable_auditlog():
        post.save()
    audit_record(post, verb=verb, actor=actor, before=before, after=_state(post, *before), extra=extra)


# --- checks -------------------------------------------------------------------------


def draft_problems(draft: Draft, platforms: Iterable[str]) -> dict[str, list[str]]:
    """Why this draft cannot be posted to channels on these platforms, by field."""
    platforms = sorted(set(platforms))
    problems: dict[str, list[str]] = {}
    texts = [draft.body, *personalise.button_texts(draft.buttons or [])]
    try:
        personal = any(personalise.has_placeholders(text) for text in texts)
    except personalise.PlaceholderError as exc:
        problems.setdefault("draft", []).append(str(exc))
        personal = False
    if personal:
        problems.setdefault("draft", []).append(
            _("a channel post is the same for every subscriber: remove the personalisation placeholders "
              "({{ ... }}) from the text and the buttons"))
    buttons, body = links.as_measured(draft.buttons or [], draft.body, track_buttons=draft.track_links,
                                      track_body=draft.track_body_links)
    content = content_problems(body, platforms, buttons=buttons, media_kind=draft.media_kind)
    if content:
        problems.setdefault("draft", []).extend(content)
    media = media_problems(draft, platforms)
    if media:
        problems["media"] = media
    return problems


def post_problems(post: Post, channels: list[BrandChannel], *, now: datetime) -> dict[str, list[str]]:
    """Everything but the cadence that keeps `post` from being scheduled now, by field."""
    problems: dict[str, list[str]] = {}
    if not channels:
        problems["channels"] = [_("choose at least one channel")]
    for channel in channels:
        if not channel.can_post:
            problems.setdefault("channels", []).append(
                _("Tact cannot post in %(channel)s: %(problem)s")
                % {"channel": channel, "problem": channel.problem or _("the channel was not checked yet")})
    if post.publish_at <= now:
        problems["publish_at"] = [
            _("publish_at %(at)s UTC is in the past (now %(now)s UTC)")
            % {"at": f"{post.publish_at:%Y-%m-%d %H:%M}", "now": f"{now:%Y-%m-%d %H:%M}"}]
    for field, messages in draft_problems(post.draft, {c.platform for c in channels}).items():
        problems.setdefault(field, []).extend(messages)
    return problems


def _slots(post: Post, channels: list[BrandChannel], *, move: bool,
           kept: dict[int, datetime] | None = None) -> dict[int, tuple[datetime, bool]]:
    """Per channel: when its publication goes out and whether silently, by the cadence guard.
    A refusal names the reason and the next allowed slot, unless `move` takes that slot.
    `kept`: per channel, the time its planned publication already has (an edit that leaves
    the time alone keeps a slot the guard moved it to), checked there instead of publish_at."""
    slots: dict[int, tuple[datetime, bool]] = {}
    refused: list[str] = []
    for channel in channels:
        policy = channel_policy(channel)
        others = channel_post_times(channel, exclude_post=post)
        at = (kept or {}).get(channel.pk, post.publish_at)
        try:
            decision = cadence_check(policy, at, silent=post.silent, others=others)
            if not decision.allowed and move and decision.next_slot is not None:
                at = decision.next_slot
                decision = cadence_check(policy, at, silent=post.silent, others=others)
        except OverflowError:  # a slot past the year 9999
            raise ServiceError({"publish_at": [_("publish_at is too far in the future")]}) from None
        if decision.allowed:
            slots[channel.pk] = (at, post.silent or decision.silent)
            continue
        message = _("%(channel)s: %(reason)s") % {"channel": channel, "reason": decision.reason}
        if decision.next_slot is not None:
            message += " " + _("(the next allowed slot is %(at)s; schedule with move to take it)") % {
                "at": _local(decision.next_slot, policy)}
        refused.append(message)
    if refused:
        raise ServiceError({"publish_at": refused})
    return slots


def _local(at: datetime, policy: CadencePolicy) -> str:
    return f"{at.astimezone(policy.tz):%Y-%m-%d %H:%M} ({policy.tz.key})"


def _freeze(post: Post) -> None:
    draft = post.draft
    post.content_body = draft.body
    post.content_buttons = draft.buttons or []
    post.content_media = media_frozen(draft)
    post.content_track_links = draft.track_links


def _plan(post: Post, channels: list[BrandChannel], slots: dict[int, tuple[datetime, bool]]) -> None:
    """One publication per channel still to publish; a channel taken off the post loses its
    planned publication; what is sending or published is left as it is."""
    existing = {p.channel_id: p for p in Publication.objects.select_for_update().filter(post=post)}
    for channel in channels:
        at, silent = slots[channel.pk]
        publication = existing.get(channel.pk)
        if publication is None:
            Publication.objects.create(post=post, channel=channel, publish_after=at, silent=silent)
        elif publication.status in (P.PLANNED, P.CANCELLED):
            publication.status, publication.reason = P.PLANNED, ""
            publication.publish_after, publication.silent = at, silent
            publication.save(update_fields=["status", "reason", "publish_after", "silent", "updated_at"])
    wanted = {c.pk for c in channels}
    for channel_id, publication in existing.items():
        if channel_id not in wanted and publication.status == P.PLANNED:
            publication.status, publication.reason = P.CANCELLED, _("the channel was taken off the post")
            publication.save(update_fields=["status", "reason", "updated_at"])


# --- transitions --------------------------------------------------------------------


@transaction.atomic
def post_create(*, draft: Draft, channels: list[BrandChannel], publish_at: datetime, name: str = "",
                silent: bool = False, pin: bool = False, protect_content: bool = False,
                actor: AbstractBaseUser | None = None) -> Post:
    """A draft post; nothing is checked against the channels until it is scheduled."""
    post = Post(name=name, draft=draft, publish_at=publish_at, silent=silent, pin=pin,
                protect_content=protect_content, created_by=actor if getattr(actor, "is_authenticated", False) else None)
    with disable_auditlog():
        post.save()
    post.channels.set(channels)
    audit_record(post, verb="created", actor=actor, after=_state(post, *SETTINGS, "channels"))
    return post


@transaction.atomic
def post_update(*, post: Post, actor: AbstractBaseUser | None = None, move: bool = False,
                now: datetime | None = None, **changes: Any) -> Post:
    """Change a post until it goes out: a draft freely; a scheduled one is checked again as
    when scheduling, its content frozen anew and its publications not yet sending updated."""
    now = now or timezone.now()
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.status not in EDITABLE:
        raise ServiceError({"status": [_("a %(status)s post cannot be edited") % {"status": post.get_status_display()}]})
    unknown = set(changes) - {*SETTINGS, "channels"}
    if unknown:
        raise ServiceError({field: [_("this field cannot be changed")] for field in sorted(unknown)})
    before = _state(post, *changes)
    channels = changes.pop("channels", None)
    for field, value in changes.items():
        setattr(post, field, value)
    if post.status == Post.Status.DRAFT:
        if channels is not None:
            post.channels.set(channels)
        _save(post, verb="changed", actor=actor, before=before)
        return post
    if post.status == Post.Status.PUBLISHING and not post.publications.filter(status=P.PLANNED).exists():
        raise ServiceError({"status": [_("the post is going out now; it can no longer be edited")]})
    channels = list(BrandChannel.objects.filter(pk__in=[c.pk for c in channels])) if channels is not None \
        else list(post.channels.all())
    pending = [c for c in channels if not post.publications.filter(channel=c).exclude(
        status__in=[P.PLANNED, P.CANCELLED]).exists()]
    # Checked as when scheduling, for the channels it has still to go out in; a time that
    # passed while it was waiting is not the marketer's edit.
    problems = post_problems(post, pending, now=now) if pending else {}
    if not channels:
        problems["channels"] = [_("choose at least one channel")]
    if "publish_at" not in changes:
        problems.pop("publish_at", None)
    if problems:
        raise ServiceError(problems)
    # A time left alone keeps each channel's planned slot (the one the guard may have moved it to).
    kept = {} if "publish_at" in changes else dict(
        post.publications.filter(status=P.PLANNED, channel__in=pending).values_list("channel_id", "publish_after"))
    slots = _slots(post, pending, move=move, kept=kept)
    _freeze(post)
    post.channels.set(channels)
    _plan(post, pending, slots)
    _save(post, verb="changed", actor=actor, before=before)
    return post


@transaction.atomic
def post_schedule(*, post: Post, actor: AbstractBaseUser | None = None, move: bool = False,
                  now: datetime | None = None) -> Post:
    """draft -> scheduled: the draft's content frozen, one publication per channel at its
    slot. ServiceError names each problem by field: placeholders, content over a platform's
    limits, a channel Tact cannot post in, a past time, the cadence guard (with the next
    allowed slot, which `move` takes)."""
    now = now or timezone.now()
    post = Post.objects.select_for_update().select_related("draft").get(pk=post.pk)
    if post.status != Post.Status.DRAFT:
        raise ServiceError({"status": [_("only a draft post can be scheduled; this one is %(status)s")
                                       % {"status": post.get_status_display()}]})
    channels = list(post.channels.select_for_update().order_by("pk"))
    problems = post_problems(post, channels, now=now)
    if problems:
        raise ServiceError(problems)
    slots = _slots(post, channels, move=move)
    before = _state(post, "status")
    _freeze(post)
    post.status = Post.Status.SCHEDULED
    post.scheduled_at = now
    _plan(post, channels, slots)
    moved = {str(pk): at.isoformat() for pk, (at, _silent) in slots.items() if at != post.publish_at}
    _save(post, verb="scheduled", actor=actor, before=before, extra={"moved": moved} if moved else None)
    return post


@transaction.atomic
def post_cancel(*, post: Post, actor: AbstractBaseUser | None = None) -> tuple[Post, list[Publication]]:
    """Cancel every publication still planned; one already sending or published is left as
    it is and returned, so the caller can say so."""
    post = Post.objects.select_for_update().get(pk=post.pk)
    if post.status not in CANCELLABLE:
        raise ServiceError({"status": [_("a %(status)s post cannot be cancelled") % {"status": post.get_status_display()}]})
    now = timezone.now()
    before = _state(post, "status")
    publications = list(post.publications.select_for_update().select_related("channel"))
    left = [p for p in publications if p.status not in (P.PLANNED, P.CANCELLED)]
    post.publications.filter(status=P.PLANNED).update(status=P.CANCELLED, reason=_("post cancelled"), updated_at=now)
    post.status = Post.Status.CANCELLED
    post.cancelled_at = now
    extra = {"left": {str(p.channel_id): p.status for p in left}} if left else None
    _save(post, verb="cancelled", actor=actor, before=before, extra=extra)
    return post, left


def post_left_message(left: list[Publication]) -> str:
    """What a cancel could not take back, in words."""
    return "; ".join(_("%(channel)s: already %(status)s") % {"channel": p.channel, "status": p.get_status_display()}
                     for p in left)
