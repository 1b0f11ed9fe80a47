"""A campaign's coupon pool: codes added whole or not at all, while the campaign is not yet
planned; each delivery gets one code when it is planned (delivery/planning.py). A variant (a
VIP group's offer) may have a pool of its own (delivery/variants.py coupon_passes)."""

from __future__ import annotations

import csv
import io

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from ..models import Campaign, CampaignVariant, CouponCode
from .errors import ServiceError

CODE_MAX = 64  # CouponCode.code
UPLOAD_MAX_CODES = 1_000_000
UPLOAD_MAX_BYTES = 32 * 1024 * 1024
# Codes can still be added until the campaign's ledger is planned.
OPEN = (Campaign.Status.DRAFT, Campaign.Status.AWAITING_APPROVAL, Campaign.Status.SCHEDULED)
_NAMED = 10  # duplicates named in one message at most


def codes_from_csv(data: bytes) -> list[str]:
    """The codes of a CSV file: one a line, an optional header `code`; ServiceError names a bad line."""
    if len(data) > UPLOAD_MAX_BYTES:
        raise ServiceError({"file": [_("the file is over %(n)s MB") % {"n": UPLOAD_MAX_BYTES // (1024 * 1024)}]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ServiceError({"file": [_("the file is not UTF-8 text")]}) from exc
    codes: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len([c for c in cells if c]) > 1:
            raise ServiceError({"file": [_("line %(line)s has more than one value: one code a line")
                                         % {"line": number}]})
        code = next(c for c in cells if c)
        if number == 1 and code.lower() == "code":
            continue
        codes.append(code)
    return codes


def _checked(codes: list[object], field: str) -> list[str]:
    problems = []
    out: list[str] = []
    for number, raw in enumerate(codes, start=1):
        code = str(raw).strip() if isinstance(raw, (str, int)) and not isinstance(raw, bool) else None
        if code is None:
            problems.append(_("code %(n)s is not a text") % {"n": number})
        elif not code:
            problems.append(_("code %(n)s is empty") % {"n": number})
        elif len(code) > CODE_MAX:
            problems.append(_("code %(n)s is over %(max)s characters") % {"n": number, "max": CODE_MAX})
        elif not code.isprintable() or any(c.isspace() for c in code):
            problems.append(_("code %(n)s holds a space or a control character") % {"n": number})
        else:
            out.append(code)
        if len(problems) >= _NAMED:
            break
    if problems:
        raise ServiceError({field: problems})
    if not out:
        raise ServiceError({field: [_("no codes given")]})
    if len(out) > UPLOAD_MAX_CODES:
        raise ServiceError({field: [_("at most %(n)s codes at once") % {"n": UPLOAD_MAX_CODES}]})
    return out


def _named(codes: list[str]) -> str:
    shown = ", ".join(codes[:_NAMED])
    if len(codes) <= _NAMED:
        return shown
    return _("%(codes)s and %(n)s more") % {"codes": shown, "n": len(codes) - _NAMED}


def coupon_variant(campaign: Campaign, raw: object) -> CampaignVariant | None:
    """The variant of `campaign` an upload targets (its id, as JSON or a form gives it; empty:
    the common pool), or ServiceError naming `variant`."""
    if raw in (None, ""):
        return None
    text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
    found = (CampaignVariant.objects.filter(pk=int(text), campaign_id=campaign.pk).first()
             if text.isdigit() and len(text) <= 18 else None)
    if found is None:
        raise ServiceError({"variant": [_("no variant #%(id)s in this campaign") % {"id": str(raw)[:20]}]})
    return found


@transaction.atomic
def coupons_add(*, campaign: Campaign, codes: list[object], field: str = "codes",
                variant: CampaignVariant | None = None) -> int:
    """Add `codes` to the campaign's pool (`variant`: that variant's own pool), all or none.
    ServiceError (by field) names duplicates within the upload or with the campaign's codes,
    and a campaign already planned."""
    codes = _checked(codes, field)
    if variant is not None and variant.campaign_id != campaign.pk:
        raise ServiceError({"variant": [_("no variant #%(id)s in this campaign") % {"id": variant.pk}]})
    # The row lock keeps the campaign from starting (and its codes from being assigned)
    # while the codes are added.
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in OPEN or campaign.planned_at is not None or campaign.planned_through is not None:
        raise ServiceError({"status": [
            _("codes can be added while the campaign is a draft or scheduled; this one is %(status)s")
            % {"status": campaign.status}]})
    seen: set[str] = set()
    twice: list[str] = []
    for code in codes:
        if code in seen and code not in twice:
            twice.append(code)
        seen.add(code)
    if twice:
        raise ServiceError({field: [_("these codes appear more than once in the upload: %(codes)s")
                                    % {"codes": _named(twice)}]})
    existing: list[str] = []
    for start in range(0, len(codes), 5000):
        existing += CouponCode.objects.filter(campaign=campaign, code__in=codes[start:start + 5000]).values_list(
            "code", flat=True)
    if existing:
        raise ServiceError({field: [_("these codes are already in the campaign's pool: %(codes)s")
                                    % {"codes": _named(sorted(existing))}]})
    try:
        with transaction.atomic():
            CouponCode.objects.bulk_create([CouponCode(campaign=campaign, variant=variant, code=c) for c in codes],
                                           batch_size=5000)
    except IntegrityError as exc:  # a concurrent upload added one of them first
        raise ServiceError({field: [_("some of these codes were just added by someone else; upload again")]}) from exc
    return len(codes)


def coupon_counts(campaign: Campaign, variant: CampaignVariant | None = None) -> dict[str, int]:
    """The pool: total codes, assigned to a delivery, free (`variant`: its own pool only)."""
    codes = CouponCode.objects.filter(campaign=campaign)
    if variant is not None:
        codes = codes.filter(variant=variant)
    counts = codes.aggregate(
        total=Count("pk"), assigned=Count("pk", filter=Q(assigned_at__isnull=False)))
    return {"total": counts["total"], "assigned": counts["assigned"], "free": counts["total"] - counts["assigned"]}
