"""The audience: subscribers, their tags and subscriptions, and VIP groups of a segment."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .. import rules, selectors
from ..account_filters import of_account
from ..models import Campaign, CampaignVariant, ConsentEvent, Segment, SenderAccount, Subscriber, Subscription, Tag
from ..rules import PackingError
from .consent import Consent, _record
from .errors import ServiceError

T = TypeVar("T")


def tags_set(*, subscriber: Subscriber, names: Iterable[str]) -> None:
    wanted = sorted({n.strip() for n in names if n.strip()})
    existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    missing = [Tag(name=n) for n in wanted if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=wanted)}
    subscriber.tags.set([existing[n] for n in wanted])


@transaction.atomic
def subscription_add(
    *,
    subscriber: Subscriber,
    platform: str,
    address: str,
    consent: Consent,
    saved_our_number: bool = False,
    account: SenderAccount | None = None,
) -> Subscription:
    """A new opted-in subscription of `account` (None: the platform's default account), with
    the consent that allows it, or ServiceError. The same address may have a subscription
    on each account: each is a consent of its own."""
    if account is not None and account.platform != platform:
        raise ServiceError(_("%(account)s is not a %(platform)s account") % {"account": account, "platform": platform})
    normalized = rules.normalize_address(platform, address, selectors.default_phone_region())
    # The platform as messages name it: with the account's slug when it is not the default one.
    where = platform if account is None else f"{platform} ({account.slug})"
    taken = (Subscription.objects.filter(of_account(account), platform=platform, address=normalized)
             .select_related("subscriber").first())
    if taken is not None:
        raise ServiceError(_("%(platform)s address %(address)s already belongs to %(subscriber)s")
                           % {"platform": where, "address": normalized, "subscriber": taken.subscriber})
    if subscriber.subscriptions.filter(of_account(account), platform=platform).exists():
        raise ServiceError(_("%(subscriber)s already has a %(platform)s subscription")
                           % {"subscriber": subscriber, "platform": where})
    subscription = Subscription.objects.create(
        subscriber=subscriber,
        platform=platform,
        account=account,
        address=normalized,
        status=Subscription.Status.OPTED_IN,
        saved_our_number=saved_our_number,
    )
    _record(subscription, ConsentEvent.Kind.OPT_IN, subscription.status, consent)
    return subscription



# --- VIP groups ----------------------------------------------------------------------

# Campaigns in these states will still send to their segment: its members must not change.
SENDING = (Campaign.Status.AWAITING_APPROVAL, Campaign.Status.SCHEDULED, Campaign.Status.RUNNING,
           Campaign.Status.PAUSED)
_NAME_MAX = Segment._meta.get_field("name").max_length
_VIP_SUFFIX = re.compile(r" — VIP (\d+)(?:/\d+)?")  # "/m" in names made before groups kept their number


@dataclass(frozen=True)
class VipSplit:
    """The VIP groups of a segment after a split, and what the split changed."""

    people: int
    groups: list[Segment]
    sizes: list[int]
    created: int = 0
    updated: int = 0
    removed: int = 0
    emptied: list[str] = field(default_factory=list)  # no longer needed, kept empty: a campaign uses them

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed or self.emptied)


def _vip_base(segment: Segment) -> str:
    return segment.name[: _NAME_MAX - 16]  # room for " — VIP 9999"


def vip_groups(segment: Segment) -> list[tuple[int, Segment]]:
    """The VIP groups split from `segment` (static segments named "<segment> — VIP <n>"),
    with their numbers, in number order."""
    base = _vip_base(segment)
    found = []
    for group in Segment.objects.filter(kind=Segment.Kind.STATIC, name__startswith=f"{base} — VIP ").exclude(
        pk=segment.pk
    ):
        if match := _VIP_SUFFIX.fullmatch(group.name[len(base):]):
            found.append((int(match.group(1)), group))
    return sorted(found, key=lambda numbered: (numbered[0], numbered[1].pk))


def _regroup(
    people: list[T], current: list[list[T]], frozen: set[int], min_size: int, max_size: int, names: list[str]
) -> list[list[T]]:
    """Members of each group after a re-split: one list per group of `current`, same order
    (empty: the group is no longer needed), then one per new group.

    Nobody moves who need not: people who left the segment are removed, newcomers fill the
    groups with room or make groups of their own, and only when the groups cannot stay
    within min_size..max_size are the unfrozen groups packed anew, in their present order,
    so that most people stay together. Frozen groups keep their members exactly; raises
    PackingError when that cannot be (`names` name the groups in its message).
    """
    present = set(people)
    placed: set[T] = set()
    kept: list[list[T]] = []
    for i, members in enumerate(current):
        if i in frozen:
            if gone := [p for p in members if p not in present]:
                raise PackingError(_("“%(group)s” would lose %(people)s who left the segment")
                                   % {"group": names[i], "people": _people(len(gone))})
            if twice := [p for p in members if p in placed]:
                raise PackingError(_("“%(group)s” shares %(people)s with another group that cannot change")
                                   % {"group": names[i], "people": _people(len(twice))})
            kept.append(list(members))
        else:
            kept.append([])
        placed.update(kept[i])
    for i, members in enumerate(current):
        if i not in frozen:
            kept[i] = [p for p in dict.fromkeys(members) if p in present and p not in placed]
            placed.update(kept[i])
    newcomers = [p for p in people if p not in placed]
    active = [i for i in range(len(current)) if i not in frozen and kept[i]]
    spare = [i for i in range(len(current)) if i not in frozen and not kept[i]]

    if all(min_size <= len(kept[i]) <= max_size for i in active):
        if len(newcomers) <= sum(max_size - len(kept[i]) for i in active):
            for person in newcomers:
                smallest = min((i for i in active if len(kept[i]) < max_size), key=lambda i: (len(kept[i]), i))
                kept[smallest].append(person)
            return kept
        try:
            return _assign(kept, spare, rules.pack_vip_groups(newcomers, min_size, max_size))
        except PackingError:
            pass  # the newcomers alone cannot make groups: pack everyone unfrozen anew
    pool = [p for i in active for p in kept[i]] + newcomers
    for i in active:
        kept[i] = []
    return _assign(kept, active + spare, rules.pack_vip_groups(pool, min_size, max_size))


def _assign(kept: list[list[T]], targets: list[int], chunks: list[list[T]]) -> list[list[T]]:
    """Put `chunks` into the groups `targets` (in order), then into new groups."""
    result = list(kept)
    for target, chunk in zip(targets, chunks):
        result[target] = chunk
    return result + chunks[len(targets):]


@transaction.atomic
def segment_split_vip(*, segment: Segment, min_size: int, max_size: int) -> VipSplit:
    """Split the segment's people into static VIP groups of min_size..max_size, nobody in two.

    Idempotent: run again on the same people, it changes nothing. When the people changed,
    the existing groups are updated in place (moving as few people as possible); a group
    used by a scheduled, running or paused campaign is never changed: ServiceError instead.
    """
    segment = Segment.objects.select_for_update().get(pk=segment.pk)  # one split of it at a time
    people = list(selectors.segment_subscribers(segment).order_by("pk").values_list("pk", flat=True))
    numbered = vip_groups(segment)
    groups = [group for _, group in numbered]
    users: dict[int, list[Campaign]] = {}
    for campaign in Campaign.objects.select_for_update().filter(segment__in=groups).order_by("pk"):
        users.setdefault(campaign.segment_id, []).append(campaign)
    # A VIP campaign uses its groups through its variants.
    for variant in CampaignVariant.objects.filter(segment__in=groups).select_related("campaign").order_by("pk"):
        users.setdefault(variant.segment_id, []).append(variant.campaign)
    frozen = {i for i, g in enumerate(groups) if any(c.status in SENDING for c in users.get(g.pk, []))}
    current = [list(g.members.order_by("pk").values_list("pk", flat=True)) for g in groups]
    try:
        wanted = _regroup(people, current, frozen, min_size, max_size, [str(g) for g in groups])
    except PackingError as exc:
        raise ServiceError(_split_refusal(segment, groups, frozen, users, exc)) from exc

    result: list[tuple[Segment, int]] = []
    created = updated = removed = 0
    emptied: list[str] = []
    number = max((n for n, _ in numbered), default=0)
    for i, members in enumerate(wanted):
        if i >= len(groups):
            number += 1
            group = Segment.objects.create(
                name=f"{_vip_base(segment)} — VIP {number}", kind=Segment.Kind.STATIC, max_size=max_size
            )
            group.members.set(members)
            created += 1
        elif not members and groups[i].pk not in users:
            groups[i].delete()  # no longer needed, and no campaign refers to it
            removed += 1
            continue
        else:
            group = groups[i]
            if set(members) != set(current[i]):
                group.members.set(members)
                if members:
                    updated += 1
                else:
                    emptied.append(str(group))  # kept: a campaign refers to it
        if members:
            result.append((group, len(members)))
    return VipSplit(
        people=len(people), groups=[g for g, _ in result], sizes=[n for _, n in result],
        created=created, updated=updated, removed=removed, emptied=emptied,
    )


def _people(n: int) -> str:
    return ngettext("%(n)s person", "%(n)s people", n) % {"n": n}


def _split_refusal(segment: Segment, groups: list[Segment], frozen: set[int], users: dict[int, list[Campaign]],
                   exc: PackingError) -> str:
    if not frozen:
        return f"{segment}: {exc}"
    locked = "; ".join(
        _("“%(group)s” by %(campaigns)s") % {
            "group": groups[i],
            "campaigns": ", ".join(f"“{c}” ({c.status})" for c in users[groups[i].pk] if c.status in SENDING),
        }
        for i in sorted(frozen)
    )
    return _(
        "%(segment)s: not re-split, nothing changed: %(why)s. Groups used by campaigns that will still send keep "
        "their people (%(locked)s); split again when those campaigns have finished or are cancelled."
    ) % {"segment": segment, "why": exc, "locked": locked}
