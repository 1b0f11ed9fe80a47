"""The segment builder: tag pickers, platform checkboxes and attribute rows instead of typed
JSON, with a live count of the audience before saving. It stores `Segment.rules` exactly as
the API does (rules.validate_segment_rules).

Attribute values are typed as text and read as JSON reads them, because a segment matches an
attribute by JSON equality (selectors.rules_subscribers): `1500` and `2.5` are numbers, `true`
and `false` are true/false, anything else is text. Text that would read as one of those (a
postcode `"01234"` reads as text anyway, but `"1500"` or `"true"`) is written in double quotes.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django import forms
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse, QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from unfold.widgets import BUTTON_CLASSES, CHECKBOX_CLASSES, INPUT_CLASSES

from channels.limits import PLATFORMS

from .. import rules, selectors
from ..models import PlatformChoices, Tag

TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
SECONDARY_BUTTON_CLASSES = ("border border-base-200 bg-white cursor-pointer font-medium px-3 py-2 rounded-default "
                            "text-sm whitespace-nowrap dark:bg-base-900 dark:border-base-700")


class BuilderError(ValueError):
    """Bad builder input; `part` names the rule it is about (tags_all, platforms, attributes...)."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


def attribute_value(text: str) -> str | int | float | bool:
    """The value a typed attribute text stands for: a JSON number, true/false, "quoted" text, or text."""
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if _JSON_NUMBER.fullmatch(text):
        number = json.loads(text)
        if math.isfinite(number):  # 1e999 is no number JSON can store: it stays text
            return number
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    return text


def attribute_text(value: object) -> str:
    """How a stored attribute value is typed in the builder, so that it reads back the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    read = attribute_value(text)
    return text if isinstance(read, str) and read == text else f'"{text}"'


@dataclass
class BuilderInput:
    """What the builder's inputs say, as typed (kept to show the form again after an error)."""

    tags_all: list[str] = field(default_factory=list)
    tags_any: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    rows: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_data(cls, data: QueryDict | Mapping, prefix: str = "") -> BuilderInput:
        def values(part: str) -> list[str]:
            got = data.getlist(prefix + part) if hasattr(data, "getlist") else data.get(prefix + part, [])
            return [str(v) for v in ([got] if isinstance(got, str) else got)]

        def tags(part: str) -> list[str]:
            return [name.strip() for typed in values(part) for name in typed.split(",") if name.strip()]

        names, texts = values("attribute_name"), values("attribute_value")
        if len(names) != len(texts):
            raise BuilderError("attributes", _("Each attribute row needs a name and a value field."))
        rows = [(n.strip(), t.strip()) for n, t in zip(names, texts, strict=True) if n.strip() or t.strip()]
        return cls(tags("tags_all"), tags("tags_any"), values("platforms"), rows)

    @classmethod
    def from_rules(cls, stored: Mapping[str, object]) -> BuilderInput:
        attributes = stored.get("attributes") or {}
        return cls(
            list(stored.get("tags_all") or []), list(stored.get("tags_any") or []),
            list(stored.get("platforms") or []),
            [(str(k), attribute_text(v)) for k, v in attributes.items()] if isinstance(attributes, Mapping) else [],
        )

    def rules(self) -> dict[str, object]:
        """The rules these inputs make, in the stored form ({} when nothing is chosen), or BuilderError."""
        for part in ("tags_all", "tags_any"):
            for name in getattr(self, part):
                if "\x00" in name:
                    raise BuilderError(part, _("A tag name cannot contain a null character."))
                if len(name) > TAG_MAX_LENGTH:
                    raise BuilderError(part, _("Tag “%(tag)s” is longer than %(n)s characters.")
                                       % {"tag": name[:TAG_MAX_LENGTH] + "…", "n": TAG_MAX_LENGTH})
        unknown = [p for p in self.platforms if p not in PLATFORMS]
        if unknown:
            raise BuilderError("platforms", _("“%(platform)s” is not a platform; choose from %(known)s.")
                               % {"platform": unknown[0], "known": ", ".join(PLATFORMS)})
        attributes: dict[str, object] = {}
        for number, (name, text) in enumerate(self.rows, start=1):
            if "\x00" in name or "\x00" in text:
                raise BuilderError("attributes", _("Attribute row %(n)s contains a null character.") % {"n": number})
            if not name:
                raise BuilderError("attributes", _("Attribute row %(n)s has a value but no name.") % {"n": number})
            if not text:
                raise BuilderError("attributes", _('Attribute “%(name)s” needs a value (write "" to match empty text).')
                                   % {"name": name})
            if name in attributes:
                raise BuilderError("attributes", _("Attribute “%(name)s” is given twice.") % {"name": name})
            attributes[name] = attribute_value(text)
        chosen = {"tags_all": self.tags_all, "tags_any": self.tags_any, "platforms": self.platforms,
                  "attributes": attributes}
        if not any(chosen.values()):
            return {}
        try:
            return rules.validate_segment_rules(chosen)
        except ValueError as exc:  # the checks above leave nothing for it to refuse; kept as a guard
            raise BuilderError("rules", str(exc)) from exc


class SegmentBuilderWidget(forms.Widget):
    """Tag pickers, platform checkboxes and attribute rows for `Segment.rules`."""

    template_name = "admin/campaigns/segment/builder.html"

    class Media:
        js = ["tact/segment_builder.js"]

    def value_from_datadict(self, data, files, name: str) -> BuilderInput | BuilderError:
        try:
            return BuilderInput.from_data(data, prefix=f"{name}__")
        except BuilderError as error:
            return error

    def id_for_label(self, id_: str) -> str:
        return ""  # each part has its own label; the field's label names the whole builder

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        # Never "omitted": a static segment sends no builder input (its inputs are disabled),
        # and its rules must then be emptied, not kept from when it was dynamic.
        return False

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        if isinstance(value, BuilderInput):
            typed = value
        elif isinstance(value, Mapping):
            typed = BuilderInput.from_rules(value)
        else:
            typed = BuilderInput()
        labels = dict(PlatformChoices.choices)
        context["builder"] = {
            "tag_parts": [
                ("tags_all", _("Has all of these tags"), _("Type a tag and press Enter; each one is required."),
                 typed.tags_all),
                ("tags_any", _("Has any of these tags"), _("Type a tag and press Enter; one of them is enough."),
                 typed.tags_any),
            ],
            "rows": typed.rows,
            "platforms": [(p, labels.get(p, p), p in typed.platforms) for p in PLATFORMS],
            "known_tags": list(Tag.objects.order_by("name").values_list("name", flat=True)[:2000]),
            "count_url": reverse("admin:campaigns_segment_builder_count"),
            "input_classes": " ".join(INPUT_CLASSES),
            "checkbox_classes": " ".join(CHECKBOX_CLASSES),
            "button_classes": " ".join(BUTTON_CLASSES),
            "secondary_button_classes": SECONDARY_BUTTON_CLASSES,
        }
        return context


class SegmentRulesField(forms.Field):
    """The builder's inputs in, a segment's rules out ({} when nothing is chosen)."""

    widget = SegmentBuilderWidget

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", gettext_lazy("Who is in it"))
        kwargs.setdefault("help_text", gettext_lazy(
            "People who have all of the first tags, any of the second ones, are opted in on one of the "
            "ticked platforms and whose attributes have these values. Leave a part empty to skip it."))
        super().__init__(**kwargs)

    def to_python(self, value: object) -> dict[str, object]:
        if isinstance(value, BuilderError):
            raise forms.ValidationError(value.message, code=value.part)
        if isinstance(value, BuilderInput):
            try:
                return value.rules()
            except BuilderError as error:
                raise forms.ValidationError(error.message, code=error.part) from error
        if isinstance(value, Mapping):
            return dict(value)
        return {}

    def has_changed(self, initial, data) -> bool:
        try:
            return self.to_python(data) != (rules.validate_segment_rules(initial) if initial else {})
        except (forms.ValidationError, ValueError):
            return True


def unknown_tags(segment_rules: Mapping[str, object]) -> list[str]:
    """The rules' tags no subscriber has yet."""
    names = [*(segment_rules.get("tags_all") or []), *(segment_rules.get("tags_any") or [])]
    return selectors.tags_nobody_has(names) if names else []


def unknown_tags_warning(names: list[str]) -> str:
    return _("No subscriber has tag %(tags)s yet; the segment counts nobody for it until someone does.") % {
        "tags": ", ".join(f"“{n}”" for n in names)}


def builder_count_view(model_admin: ModelAdmin, request: HttpRequest) -> JsonResponse:
    """The live count: people in all and reachable per platform for the builder's inputs
    (GET, the same parameters as the form without the `rules__` prefix), and unknown tags."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        segment_rules = BuilderInput.from_data(request.GET).rules()
    except BuilderError as error:
        return JsonResponse({"errors": {error.part: [error.message]}}, status=400)
    sizes = selectors.audience_sizes(selectors.rules_subscribers(segment_rules))
    missing = unknown_tags(segment_rules)
    return JsonResponse({
        "sizes": sizes,
        "unknown_tags": missing,
        "warning": unknown_tags_warning(missing) if missing else "",
        "summary": ngettext("%(total)s person in all", "%(total)s people in all", sizes["total"])
        % {"total": sizes["total"]},
    })
