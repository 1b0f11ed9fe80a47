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
from django.db.models import Q
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

from .. import personalise, services
from ..models import Draft, PlatformChoices, Subscriber
from ..serializers import DraftSerializer
from ..services.personal import sample_values, subscriber_values
from .draft_media import (
    MEDIA_FIELDS,
    DraftMediaFormMixin,
    draft_of,
    posted_media,
    stored_media,
)

TEMPLATES = "admin/campaigns/draft"
PREVIEW_BODY_MAX = 20_000  # above any platform's body limit; longer input is not a draft
PREVIEW_ROWS_MAX = 20  # the preview refuses more rows than anyone types
PREVIEW_SUBSCRIBER = "preview_subscriber"  # the preview's "as which subscriber" field (not a draft field)
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
    return not (row["text"].strip() or row["url"].strip() or row.get("copy_text", "").strip())


def _row_button(row: dict) -> dict:
    """A row as the API takes a button: a link (text, url) or a copy button (text, copy_text)."""
    button = {"text": row["text"]}
    copy_text = row.get("copy_text", "")
    if row["url"].strip() or not copy_text.strip():
        button["url"] = row["url"]
    if copy_text.strip():
        button["copy_text"] = copy_text
    return button


class ButtonRowsWidget(forms.Widget):
    """Rows of (text, URL) posted as repeated `<name>-text` and `<name>-url` inputs."""

    template_name = f"{TEMPLATES}/button_rows.html"

    def value_from_datadict(self, data, files, name: str) -> list[dict]:
        texts, urls = _getlist(data, f"{name}-text"), _getlist(data, f"{name}-url")
        copies = _getlist(data, f"{name}-copy")
        return [{"text": t, "url": u, "copy_text": c} for t, u, c in zip_longest(texts, urls, copies, fillvalue="")]

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return False  # no rows posted means no buttons

    def get_context(self, name, value, attrs):
        return {**super().get_context(name, value, attrs), "classes": CLASSES}

    def format_value(self, value):
        return [{"text": str(b.get("text", "")), "url": str(b.get("url", "")), "copy_text": str(b.get("copy_text", ""))}
                for b in (value or []) if isinstance(b, dict)]


class ButtonRowsField(forms.Field):
    widget = ButtonRowsWidget

    def to_python(self, value) -> list[dict]:
        return [row for row in (value or []) if not _blank(row)]

    def clean(self, value) -> list[dict]:
        rows = list(value or [])
        kept = [(number, row) for number, row in enumerate(rows, start=1) if not _blank(row)]
        checked, errors = _api_check("buttons", [_row_button(row) for _n, row in kept])
        if errors is None:
            return [{key: b[key] for key in ("text", "url", "copy_text") if key in b} for b in checked]
        # Per row: {index: {field: [...]}} (or a list of such dicts in older DRF); else the list's own.
        per_row = dict(enumerate(errors)) if isinstance(errors, list) else errors
        if not (isinstance(per_row, dict) and all(isinstance(e, dict) for e in per_row.values())):
            raise forms.ValidationError(_messages(errors))
        names = {"text": _("text"), "url": _("URL"), "copy_text": _("copy text")}
        raise forms.ValidationError([
            _("Button %(n)s, %(field)s: %(message)s") % {"n": kept[int(i)][0], "field": names.get(key, key), "message": m}
            for i, row_errors in sorted(per_row.items(), key=lambda item: int(item[0]))
            for key, found in row_errors.items() for m in _messages(found)
        ])

    def has_changed(self, initial, data) -> bool:
        return self.to_python(ButtonRowsWidget().format_value(initial)) != self.to_python(data)


# --- WhatsApp template ---------------------------------------------------------------


def _template_key(name: str, language: str) -> str:
    return f"{name}|{language}"


def _synced_choices(current: dict) -> list[dict]:
    """The approved synced templates as the picker offers them, each with its variables; the
    draft's own template first when it is not (or no longer) one of them."""
    from ..models import WhatsAppTemplate
    from ..services.whatsapp_templates import APPROVED, variable_label

    choices = [
        {"key": _template_key(t.name, t.language), "label": f"{t.name} ({t.language}) · {t.category}",
         "variables": [{"label": variable_label(v), "example": v.get("example", "")} for v in t.variables or []]}
        for t in WhatsAppTemplate.objects.filter(status=APPROVED).order_by("name", "language")
    ]
    key = _template_key(current["name"], current["language"])
    if current["name"] and key not in {c["key"] for c in choices}:
        label = _("%(name)s (%(language)s): not an approved synced template") % current
        choices.insert(0, {"key": key, "label": label, "variables": []})
    for choice in choices:
        given = current["parameters"] if choice["key"] == key else []
        for n, variable in enumerate(choice["variables"]):
            variable["value"] = given[n] if n < len(given) else ""
    return choices


class TemplateWidget(forms.Widget):
    """Once templates are synced: a pick among the approved ones and one row per variable
    (a value or placeholder each). Before any sync: a typed name, a language and parameter rows."""

    template_name = f"{TEMPLATES}/whatsapp_template.html"

    def value_from_datadict(self, data, files, name: str) -> dict:
        if f"{name}-pick" in data:
            key = data.get(f"{name}-pick", "")
            template_name, _sep, language = key.partition("|")
            return {"name": template_name, "language": language,
                    "parameters": _getlist(data, f"{name}-variable-{key}") if key else []}
        return {"name": data.get(f"{name}-name", ""), "language": data.get(f"{name}-language", ""),
                "parameters": _getlist(data, f"{name}-parameter")}

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return False

    def format_value(self, value):
        value = value if isinstance(value, dict) else {}
        return {"name": str(value.get("name", "")), "language": str(value.get("language", "")),
                "parameters": [str(p) for p in value.get("parameters") or []]}

    def get_context(self, name, value, attrs):
        from ..services.whatsapp_templates import templates_synced

        context = super().get_context(name, value, attrs)
        context["languages"] = TEMPLATE_LANGUAGES
        context["classes"] = CLASSES
        if templates_synced():
            current = context["widget"]["value"]
            context["picker"] = True
            context["synced"] = _synced_choices(current)
            context["picked"] = _template_key(current["name"], current["language"]) if current["name"] else ""
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


class DraftEditorForm(DraftMediaFormMixin, forms.ModelForm):
    media_url = forms.URLField(
        required=False, max_length=1000, assume_scheme="https", label=gettext_lazy("Media URL"),
        help_text=gettext_lazy("Instead of an upload: the address of the image, video or document. It is fetched "
                               "once when saved to check that it answers and what it is."))
    buttons = ButtonRowsField(
        required=False, label=gettext_lazy("Buttons"),
        help_text=gettext_lazy("Up to 3 buttons under the message: a link (URL), or a copy text such as "
                               "{{ coupon }} for a Telegram button that copies it. WhatsApp free text has no "
                               "buttons (nor Viber copy buttons): each is added to the text as a line “Text: URL”."))
    whatsapp_template = TemplateField(
        required=False, label=gettext_lazy("WhatsApp template"),
        help_text=gettext_lazy("The approved template sent to people outside WhatsApp's 24-hour window. "
                               "Pick one of the approved templates synced from WhatsApp and give each of its "
                               "variables a value or a placeholder such as {{ name }} or {{ coupon }}. Until "
                               "templates are synced, type its name as approved in WhatsApp Manager. "
                               "No template: nothing is sent to people outside the window."))

    class Meta:
        model = Draft
        fields = ["title", "body", "buttons", "whatsapp_template", *MEDIA_FIELDS]
        help_texts = {"body": gettext_lazy(
            "The first line is what a push notification shows. Placeholders: {{ name }}, {{ first_name }}, "
            "{{ attributes.KEY }}, {{ coupon }}, and for a VIP group's offer {{ group_name }} and {{ group_size }} "
            "(“only for {{ group_size }} of you”), each optionally with |default:\"...\" for people without it.")}

    class Media:
        css = {"all": ["tact/draft_preview.css"]}
        js = ["tact/draft_preview.js", "tact/whatsapp_template_picker.js"]

    def clean_body(self) -> str:
        body = _as_saved(self.cleaned_data["body"])
        try:
            personalise.check(body)
        except personalise.PlaceholderError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return body


def _as_saved(body: str) -> str:
    """The body as the form and the API store it: trimmed, with a text area's CRLF line
    breaks (as browsers post them) as LF."""
    return body.strip().replace("\r\n", "\n")


# --- the preview ---------------------------------------------------------------------


def preview_context(body: str, buttons: list[dict], values: personalise.Values | None = None, who: str = "",
                    media: dict | None = None) -> dict:
    """What the preview draws, per platform, as the person of `values` (a made-up sample by
    default) receives it: the numbers are services.content_checks'. PlaceholderError names
    a placeholder that is not allowed."""
    rows = [_row_button({key: str(value).strip() for key, value in b.items()}) for b in buttons if not _blank(b)]
    values = values or sample_values()
    body = personalise.render(body, values)
    rows = personalise.render_buttons(rows, values)
    names = dict(PlatformChoices.choices)
    platforms = []
    for platform, check in services.content_checks(body, PLATFORMS, buttons=rows,
                                                    media_kind=media["kind"] if media else "").items():
        unit = platform_limits(platform).body_unit
        whatsapp = platform == Platform.WHATSAPP
        platforms.append({
            "code": platform,
            "name": names.get(platform, platform),
            "check": check,
            "bubble": text_as_sent(platform, body.strip(), rows),
            "buttons": [] if whatsapp else [r["text"] or r.get("url", "") for r in rows
                                            if platform == Platform.TELEGRAM or "url" in r],
            "buttons_as_lines": whatsapp and bool(rows),
            "utf16": unit is LengthUnit.UTF16,
            "preview_over": check["length"] - check["limit"],
            "body_over": check["body_length"] - check["body_limit"],
        })
    return {"platforms": platforms, "sender": getattr(settings, "VIBER_SENDER_NAME", "") or "Tact",
            "empty": not body.strip(), "who": who or _("a sample person, %(name)s") % {"name": values.name},
            "media": media}


def preview_html(body: str, buttons: list[dict], values: personalise.Values | None = None, who: str = "",
                 media: dict | None = None) -> str:
    return render_to_string(f"{TEMPLATES}/preview.html", preview_context(body, buttons, values, who, media))


def preview_person(request: HttpRequest, raw: str) -> tuple[personalise.Values | None, str, str]:
    """(values, who, error) for the preview's subscriber field: an id, a name or an external
    id (the first match), or empty for the sample."""
    raw = raw.strip().lstrip("#")
    if not raw:
        return None, "", ""
    if not request.user.has_perm("campaigns.view_subscriber"):
        return None, "", _("You may not view subscribers.")
    if raw.isdigit() and len(raw) < 19:
        subscriber = Subscriber.objects.filter(pk=int(raw)).first()
    else:  # a name or an external id: the first match
        subscriber = (Subscriber.objects.filter(erased_at__isnull=True)
                      .filter(Q(external_id=raw[:200]) | Q(name__icontains=raw[:200])).order_by("pk").first())
    if subscriber is None:
        return None, "", _("No subscriber matches “%(query)s”.") % {"query": raw[:40]}
    who = _("subscriber #%(id)s %(name)s") % {"id": subscriber.pk, "name": subscriber.name}
    return subscriber_values(subscriber), who.strip(), ""


def _stored_preview(obj: Draft) -> str:
    try:
        return preview_html(obj.body or "", ButtonRowsWidget().format_value(obj.buttons),
                            media=stored_media(obj if obj.pk else None))
    except personalise.PlaceholderError as exc:
        return render_to_string(f"{TEMPLATES}/preview_problem.html", {"problem": str(exc)})


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
            "url": reverse("admin:campaigns_draft_preview") + (f"?draft={obj.pk}" if obj.pk else ""),
            "subscriber_field": PREVIEW_SUBSCRIBER,
            "fragment": _stored_preview(obj),
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
        copies = request.POST.getlist("buttons-copy")
        if len(texts) != len(urls) or (copies and len(copies) != len(texts)):
            errors["buttons"] = [_("Each button row needs a text and a URL input.")]
        elif len(texts) > PREVIEW_ROWS_MAX:
            errors["buttons"] = [_("At most %(n)s button rows.") % {"n": PREVIEW_ROWS_MAX}]
        values, who, problem = preview_person(request, request.POST.get(PREVIEW_SUBSCRIBER, ""))
        if problem:
            errors[PREVIEW_SUBSCRIBER] = [problem]
        if errors:
            return JsonResponse({"errors": errors}, status=400)
        buttons = ButtonRowsWidget().value_from_datadict(request.POST, None, "buttons")
        try:
            return HttpResponse(preview_html(_as_saved(body), buttons, values, who,
                                             media=posted_media(request, draft_of(request))))
        except personalise.PlaceholderError as exc:
            return JsonResponse({"errors": {"body": [str(exc)]}}, status=400)
