"""WhatsApp message templates: synced from the Business account, picked by drafts, required
for the people outside the 24-hour window.

A template that disappears from the account is kept with status DELETED (Meta's own word for
a deleted template): drafts that still name it get a clear refusal, and it is never offered.
A failed sync changes nothing: the whole listing is read before any row is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from channels.whatsapp_templates import TemplateListError, header_format, template_variables, templates_list

from ..models import Campaign, WhatsAppTemplate

APPROVED = "APPROVED"
DELETED = "DELETED"


class TemplateSyncError(Exception):
    """The sync could not run; nothing was changed. `kind`: "config" (no account id or token),
    "auth", "network" or "platform"."""

    def __init__(self, message: str, kind: str):
        self.message = message
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class SyncResult:
    created: int
    updated: int
    deleted: int  # gone from the account since the last sync: now DELETED
    approved: int  # approved templates after the sync


def whatsapp_templates_sync(*, now: datetime | None = None) -> SyncResult:
    """Read every template of WHATSAPP_BUSINESS_ACCOUNT_ID and upsert them by name and
    language; raises TemplateSyncError (nothing changed) when they cannot be read."""
    now = now or timezone.now()
    if not settings.WHATSAPP_BUSINESS_ACCOUNT_ID:
        raise TemplateSyncError(_("WHATSAPP_BUSINESS_ACCOUNT_ID is not set: there is no account to read "
                                  "templates from."), "config")
    if not settings.WHATSAPP_ACCESS_TOKEN:
        raise TemplateSyncError(_("WHATSAPP_ACCESS_TOKEN is not set: WhatsApp cannot be asked for templates."),
                                "config")
    try:
        remote = templates_list(token=settings.WHATSAPP_ACCESS_TOKEN, api_url=settings.WHATSAPP_API_URL,
                                account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID, timeout=settings.TACT_SEND_TIMEOUT)
    except TemplateListError as exc:
        if exc.kind == "auth":
            message = _("WhatsApp refused the access token (%(reason)s); templates were not synced.")
        elif exc.kind == "network":
            message = _("WhatsApp could not be reached (%(reason)s); templates were not synced.")
        else:
            message = _("WhatsApp refused to list the templates (%(reason)s); templates were not synced.")
        raise TemplateSyncError(message % {"reason": exc.reason}, exc.kind) from exc
    created = updated = 0
    with transaction.atomic():
        existing = {(t.name, t.language): t for t in WhatsAppTemplate.objects.select_for_update()}
        seen: set[tuple[str, str]] = set()
        for item in remote:
            key = (item.name, item.language)
            if not item.name or not item.language or key in seen:
                continue
            seen.add(key)
            values = {"category": item.category, "status": item.status, "quality": item.quality,
                      "components": item.components, "variables": template_variables(item.components),
                      "remote_id": item.remote_id, "synced_at": now}
            row = existing.get(key)
            if row is None:
                WhatsAppTemplate.objects.create(name=item.name, language=item.language, **values)
                created += 1
            else:
                for field, value in values.items():
                    setattr(row, field, value)
                row.save()
                updated += 1
        gone = [t.pk for key, t in existing.items() if key not in seen and t.status != DELETED]
        WhatsAppTemplate.objects.filter(pk__in=gone).update(status=DELETED, synced_at=now)
    approved = WhatsAppTemplate.objects.filter(status=APPROVED).count()
    return SyncResult(created=created, updated=updated, deleted=len(gone), approved=approved)


# --- a draft's template ------------------------------------------------------------------


def variable_label(variable: dict) -> str:
    """How a person reads a variable: "body {{1}}", "header {{first_name}}", "button 1 {{1}}"."""
    key = variable.get("name") or variable.get("index")
    where = variable.get("component", "")
    if where == "button":
        where = _("button %(n)s") % {"n": int(variable.get("button", 0)) + 1}
    elif where == "header":
        where = _("header")
    elif where == "body":
        where = _("body")
    return f"{where} {{{{{key}}}}}"


def whatsapp_template_problems(template: dict) -> dict[str, list[str] | dict[int, list[str]]]:
    """Against the synced templates (none synced: nothing to check), what is wrong with a
    draft's {"name", "language", "parameters"}, by its key."""
    if not WhatsAppTemplate.objects.exists():
        # Nothing to check the name against; an empty parameter is refused at its index, as
        # any blank field is (DRF's own message).
        blank = {i: [_("This field may not be blank.")]
                 for i, p in enumerate(template.get("parameters") or []) if not str(p).strip()}
        return {"parameters": blank} if blank else {}
    name, language = template.get("name", ""), template.get("language", "")
    row = WhatsAppTemplate.objects.filter(name=name, language=language).first()
    if row is None:
        languages = sorted(WhatsAppTemplate.objects.filter(name=name, status=APPROVED)
                           .values_list("language", flat=True))
        if languages:
            return {"language": [_("template “%(name)s” is approved in %(languages)s, not in “%(language)s”")
                                 % {"name": name, "languages": ", ".join(languages), "language": language}]}
        return {"name": [_("no synced template is named “%(name)s”; sync the templates or pick an approved one")
                         % {"name": name}]}
    if row.status != APPROVED:
        return {"name": [_("template “%(name)s” (%(language)s) is %(status)s, not APPROVED")
                         % {"name": name, "language": language, "status": row.status or "?"}]}
    parameters = list(template.get("parameters") or [])
    variables = list(row.variables or [])
    if len(parameters) != len(variables):
        return {"parameters": [_("template “%(name)s” has %(expected)s variable(s) (%(labels)s); %(given)s given")
                               % {"name": name, "expected": len(variables), "given": len(parameters),
                                  "labels": ", ".join(variable_label(v) for v in variables) or "-"}]}
    unmapped = [variable_label(v) for v, p in zip(variables, parameters, strict=True) if not str(p).strip()]
    if unmapped:
        return {"parameters": [_("map every template variable to a value or placeholder; left unmapped: "
                                 "%(labels)s") % {"labels": ", ".join(unmapped)}]}
    return {}


def templates_synced() -> bool:
    return WhatsAppTemplate.objects.exists()


def template_as_sent(template: dict | None) -> dict | None:
    """A frozen template with what the adapter needs from the last sync: its category
    (MARKETING goes to /marketing_messages) and where each parameter goes. Looked up at
    send time, so a category Meta changed since scheduling is the one used."""
    if not template:
        return template
    row = (WhatsAppTemplate.objects.filter(name=template.get("name"), language=template.get("language"))
           .values("category", "variables", "components").first())
    if row is None:
        return template
    return {**template, "category": row["category"], "variables": row["variables"],
            "header": header_format(row["components"])}


MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")


def template_header_problems(template: dict, media_kind: str) -> list[str]:
    """A synced template whose approved header is an image, video or document is sent with
    the draft's media there: the draft must have media of that kind (WhatsApp refuses the
    template without it). A location header is not something a draft can fill."""
    components = (WhatsAppTemplate.objects.filter(name=template.get("name"), language=template.get("language"))
                  .values_list("components", flat=True).first())
    header = header_format(components or [])
    names = {"image": _("an image"), "video": _("a video"), "document": _("a document"), "": _("no media")}
    if header in MEDIA_HEADERS and (media_kind or "") != header.lower():
        return [_("“%(name)s” shows %(kind)s in its header, taken from the draft's media, but the draft has "
                  "%(media)s: attach %(kind)s or pick another template")
                % {"name": template.get("name"), "kind": names[header.lower()], "media": names.get(media_kind or "",
                                                                                                 media_kind)}]
    if header == "LOCATION":
        return [_("“%(name)s” has a location header, which a draft cannot fill: pick another template")
                % {"name": template.get("name")}]
    return []


def campaign_template_problems(campaign: Campaign, *, now: datetime) -> dict[str, list[str]]:
    """Scheduling problems of a campaign's WhatsApp template: none set while receivers are
    outside the 24-hour window, or one that no longer matches the synced templates."""
    if "whatsapp" not in campaign.platforms:
        return {}
    template = campaign.draft.whatsapp_template
    if template:
        found = whatsapp_template_problems(template)
        messages = [m for value in found.values() for m in (
            [m for ms in value.values() for m in ms] if isinstance(value, dict) else value)]
        if not found:
            messages = template_header_problems(template, campaign.draft.media_kind)
        return {"draft": [_("WhatsApp template: %(message)s") % {"message": m} for m in messages]} if messages else {}
    from ..delivery.forecast import templates_needed

    needed = templates_needed(campaign=campaign, now=now)
    if not needed:
        return {}
    return {"draft": [_("%(n)s WhatsApp receiver(s) are outside the 24-hour window at send time and can only "
                        "get an approved template, but the draft has none: pick a WhatsApp template")
                      % {"n": needed}]}
