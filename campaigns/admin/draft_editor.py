"""The draft editor: button rows, a WhatsApp template picker and a live preview, no JSON typed.

Rows are checked by the API's own serializer fields (campaigns/serializers.py), and the
preview's numbers come from services.content_checks, so the admin, the API and the sender
agree on every figure.
"""

from __future__ import annotations

from itertools import zip_longest

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from unfold.widgets import BASE_INPUT_CLASSES

from channels.limits import (
    PLATFORMS,
    LengthUnit,
    Platform,
    platform_limits,
    text_as_sent,
)

from .. import services
from ..models import Draft, PlatformChoices
from ..serializers import DraftSerializer

TEMPLATES = "admin/campaigns/draft"
PREVIEW_BODY_MAX = 20_000  # above any platform's body limit; longer input is not a draft
PREVIEW_ROWS_MAX = 20  # the preview refuses more rows than anyone types
# WhatsApp template languages marketers pick most; any other code can be typed.
TEMPLATE_LANGUAGES = [
    ("ru", gettext_lazy("Russian")), ("en", gettext_lazy("English")), ("en_US", gettext_lazy("English (US)")),
    ("en_GB", gettext_lazy("English (UK)")), ("kk", gettext_lazy("Kazakh")), ("uz", gettext_lazy("Uzbek")),
    ("uk", gettext_lazy("Ukrainian")), ("de", gettext_lazy("German")), ("es", gettext_lazy("Spanish")),
    ("fr", gettext_lazy("French")), ("tr", gettext_lazy("Turkish")), ("ar", gettext_lazy("Arabic")),
]


# unfold's own looks for the inputs and buttons the rows are made of
CLASSES = {
    "input": " ".join(BASE_INPUT_CLASSES),
    "button": "font-medium inline-flex items-center justify-center whitespace-nowrap rounded-default cursor-pointer "
              "px-3 py-2 border border-base-200 bg-white shadow-xs text-important dark:border-base-700 "
              "dark:bg-transparent hover:bg-base-100/80 dark:hover:bg-base-800/80",
}


def _getlist(data, key: str) -> list[str]:
    return data.getlist(key) if hasattr(data, "getlist") else list(data.get(key) or [])


def _api_check(field: str, value: object) -> tuple[object, object]:
    """(validated value, None) or (None, errors) as the API's draft serializer judges `field`."""
    serializer = DraftSerializer(data={field: value}, partial=True)
    if serializer.is_valid():
        return serializer.validated_data.get(field), None
    return None, serializer.errors[field]


def _messages(errors: object) -> list[str]:
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in _messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in _messages(value)]
    return [str(errors)]


# --- buttons -------------------------------------------------------------------------


def _blank(row: dict) -> bool:
    return not (row["text"].strip() or row["url"].strip())


class ButtonRowsWidget(forms.Widget):
    """Rows of (text, URL) posted as repeated `<name>-text` and `<name>-url` inputs."""

    template_name = f"{TEMPLATES}/button_rows.html"

    def value_from_datadict(self, data, files, name: str) -> list[dict]:
        texts, urls = _getlist(data, f"{name}-text"), _getlist(data, f"{name}-url")
        return [{"text": t, "url": u} for t, u in zip_longest(texts, urls, fillvalue="")]

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return False  # no rows posted means no buttons

    def get_context(self, name, value, attrs):
        return {**super().get_context(name, value, attrs), "classes": CLASSES}

    def format_value(self, value):
        return [{"text": str(b.get("text", "")), "url": str(b.get("url", ""))}
                for b in (value or []) if isinstance(b, dict)]


class ButtonRowsField(forms.Field):
    widget = ButtonRowsWidget

    def to_python(self, value) -> list[dict]:
        return [row for row in (value or []) if not _blank(row)]

    def clean(self, value) -> list[dict]:
        rows = list(value or [])
        kept = [(number, row) for number, row in enumerate(rows, start=1) if not _blank(row)]
        checked, errors = _api_check("buttons", [row for _n, row in kept])
        if errors is None:
            return [{"text": b["text"], "url": b["url"]} for b in checked]
        # Per row: {index: {field: [...]}} (or a list of such dicts in older DRF); else the list's own.
        per_row = dict(enumerate(errors)) if isinstance(errors, list) else errors
        if not (isinstance(per_row, dict) and all(isinstance(e, dict) for e in per_row.values())):
            raise forms.ValidationError(_messages(errors))
        names = {"text": _("text"), "url": _("URL")}
        raise forms.ValidationError([
            _("Button %(n)s, %(field)s: %(message)s") % {"n": kept[int(i)][0], "field": names.get(key, key), "message": m}
            for i, row_errors in sorted(per_row.items(), key=lambda item: int(item[0]))
            for key, found in row_errors.items() for m in _messages(found)
        ])

    def has_changed(self, initial, data) -> bool:
        return self.to_python(ButtonRowsWidget().format_value(initial)) != self.to_python(data)


# --- WhatsApp template ---------------------------------------------------------------


class TemplateWidget(forms.Widget):
    """A template's name, language (pick or type) and parameter rows."""

    template_name = f"{TEMPLATES}/whatsapp_template.html"

    def value_from_datadict(self, data, files, name: str) -> dict:
        return {"name": data.get(f"{name}-name", ""), "language": data.get(f"{name}-language", ""),
                "parameters": _getlist(data, f"{name}-parameter")}

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return False

    def format_value(self, value):
        value = value if isinstance(value, dict) else {}
        return {"name": str(value.get("name", "")), "language": str(value.get("language", "")),
                "parameters": [str(p) for p in value.get("parameters") or []]}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["languages"] = TEMPLATE_LANGUAGES
        context["classes"] = CLASSES
        return context


class TemplateField(forms.Field):
    widget = TemplateWidget

    def to_python(self, value) -> dict | None:
        value = TemplateWidget().format_value(value)
        if not value["name"].strip() and not value["language"].strip() and not value["parameters"]:
            return None
        return value

    def clean(self, value) -> dict | None:
        template = self.to_python(value)
        if template is None:
            return None
        if not template["name"].strip():
            raise forms.ValidationError(
                _("Template name: write the approved template's name, or clear language and parameters "
                  "to send no template."))
        checked, errors = _api_check("whatsapp_template", template)
        if errors is None:
            return {"name": checked["name"], "language": checked["language"],
                    "parameters": list(checked["parameters"])}
        names = {"name": _("Template name"), "language": _("Template language")}
        found = []
        for key, problems in (errors.items() if isinstance(errors, dict) else [("", errors)]):
            if key == "parameters" and isinstance(problems, dict):
                found += [_("Parameter %(n)s: %(message)s") % {"n": int(i) + 1, "message": m}
                          for i, p in problems.items() for m in _messages(p)]
            else:
                label = names.get(key, _("Parameters") if key == "parameters" else "")
                found += [_("%(field)s: %(message)s") % {"field": label, "message": m} if label else m
                          for m in _messages(problems)]
        raise forms.ValidationError(found)

    def has_changed(self, initial, data) -> bool:
        return self.to_python(initial) != self.to_python(data)


class DraftEditorForm(forms.ModelForm):
    buttons = ButtonRowsField(
        required=False, label=gettext_lazy("Buttons"),
        help_text=gettext_lazy("Up to 3 link buttons under the message. WhatsApp free text has no buttons: "
                               "each is added to the text as a line “Text: URL”."))
    whatsapp_template = TemplateField(
        required=False, label=gettext_lazy("WhatsApp template"),
        help_text=gettext_lazy("The approved template sent to people outside WhatsApp's 24-hour window. "
                               "Type its name as approved in WhatsApp Manager (the template list arrives "
                               "with the template sync); an empty name means no template."))

    class Meta:
        model = Draft
        fields = ["title", "body", "buttons", "whatsapp_template"]

    class Media:
        css = {"all": ["tact/draft_preview.css"]}
        js = ["tact/draft_preview.js"]

    def clean_body(self) -> str:
        return _as_saved(self.cleaned_data["body"])


def _as_saved(body: str) -> str:
    """The body as the form and the API store it: trimmed, with a text area's CRLF line
    breaks (as browsers post them) as LF."""
    return body.strip().replace("\r\n", "\n")


# --- the preview ---------------------------------------------------------------------


def preview_context(body: str, buttons: list[dict]) -> dict:
    """What the preview draws, per platform: the numbers are services.content_checks'."""
    rows = [{"text": b["text"].strip(), "url": b["url"].strip()} for b in buttons if not _blank(b)]
    names = dict(PlatformChoices.choices)
    platforms = []
    for platform, check in services.content_checks(body, PLATFORMS, buttons=rows).items():
        unit = platform_limits(platform).body_unit
        whatsapp = platform == Platform.WHATSAPP
        platforms.append({
            "code": platform,
            "name": names.get(platform, platform),
            "check": check,
            "bubble": text_as_sent(platform, body.strip(), rows),
            "buttons": [] if whatsapp else [r["text"] or r["url"] for r in rows],
            "buttons_as_lines": whatsapp and bool(rows),
            "utf16": unit is LengthUnit.UTF16,
            "preview_over": check["length"] - check["limit"],
            "body_over": check["body_length"] - check["body_limit"],
        })
    return {"platforms": platforms, "sender": getattr(settings, "VIBER_SENDER_NAME", "") or "Tact",
            "empty": not body.strip()}


def preview_html(body: str, buttons: list[dict]) -> str:
    return render_to_string(f"{TEMPLATES}/preview.html", preview_context(body, buttons))


class DraftEditorMixin:
    """DraftAdmin's editor: the form above and the live preview's view."""

    form = DraftEditorForm

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="campaigns_draft_preview"),
            *super().get_urls(),
        ]

    def live_preview(self, obj: Draft) -> str:
        return render_to_string(f"{TEMPLATES}/preview_region.html", {
            "url": reverse("admin:campaigns_draft_preview"),
            "fragment": preview_html(obj.body or "", ButtonRowsWidget().format_value(obj.buttons)),
        })

    live_preview.short_description = gettext_lazy("Preview")

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The preview fragment for the posted body and button rows; 400 naming the field."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        errors: dict[str, list[str]] = {}
        body = request.POST.get("body")
        if body is None:
            errors["body"] = [_("This field is required.")]
        elif len(body) > PREVIEW_BODY_MAX:
            errors["body"] = [_("At most %(n)s characters.") % {"n": PREVIEW_BODY_MAX}]
        elif "\x00" in body:
            errors["body"] = [_("Null characters are not allowed.")]
        texts, urls = request.POST.getlist("buttons-text"), request.POST.getlist("buttons-url")
        if len(texts) != len(urls):
            errors["buttons"] = [_("Each button row needs a text and a URL input.")]
        elif len(texts) > PREVIEW_ROWS_MAX:
            errors["buttons"] = [_("At most %(n)s button rows.") % {"n": PREVIEW_ROWS_MAX}]
        if errors:
            return JsonResponse({"errors": errors}, status=400)
        buttons = ButtonRowsWidget().value_from_datadict(request.POST, None, "buttons")
        return HttpResponse(preview_html(_as_saved(body), buttons))
