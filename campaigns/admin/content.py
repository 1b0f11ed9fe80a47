"""Segments and drafts in the admin: sizes per platform, VIP groups, push previews."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin

from channels.limits import PLATFORMS

from .. import rules, selectors, services
from ..models import (
    Draft,
    Segment,
)
from ..services.audience import segment_split_vip
from .common import _ok, _table


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["name", "kind", "rules", "members", "max_size"]

    def clean(self):
        data = super().clean()
        if data.get("kind") == Segment.Kind.DYNAMIC:
            try:
                data["rules"] = rules.validate_segment_rules(data.get("rules") or {})
            except ValueError as exc:
                self.add_error("rules", str(exc))
            if data.get("members"):
                self.add_error("members", "members are for static segments; dynamic ones use rules")
        elif data.get("rules"):
            self.add_error("rules", "rules are for dynamic segments; static ones list members")
        return data


@admin.register(Segment)
class SegmentAdmin(ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "max_size", "size_total", *[f"size_{p}" for p in PLATFORMS]]
    list_filter = ["kind"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]
    readonly_fields = ["sizes_table"]
    actions = ["split_vip_groups"]

    def _sizes(self, obj: Segment) -> dict[str, int]:
        cache = getattr(self, "_size_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.segment_sizes(obj)
            self._size_cache = cache
        return cache[obj.pk]

    def changelist_view(self, request, extra_context=None):
        self._size_cache = {}
        return super().changelist_view(request, extra_context)

    @admin.display(description="people")
    def size_total(self, obj: Segment) -> int:
        return self._sizes(obj)["total"]

    @admin.display(description="on telegram")
    def size_telegram(self, obj: Segment) -> int:
        return self._sizes(obj)["telegram"]

    @admin.display(description="on whatsapp")
    def size_whatsapp(self, obj: Segment) -> int:
        return self._sizes(obj)["whatsapp"]

    @admin.display(description="on viber")
    def size_viber(self, obj: Segment) -> int:
        return self._sizes(obj)["viber"]

    @admin.display(description="size per platform")
    def sizes_table(self, obj: Segment) -> SafeString | str:
        if obj.pk is None:
            return "Shown once the segment is saved."
        self._size_cache = {}
        sizes = self._sizes(obj)
        rows = [[p, sizes[p]] for p in PLATFORMS]
        over = obj.max_size is not None and sizes["total"] > obj.max_size
        summary = format_html(
            "<p>{} people in all{}</p>", sizes["total"],
            format_html(" — <strong style='color:#c62828'>over max_size {}: campaigns will refuse it</strong>", obj.max_size) if over else "",
        )
        return format_html("{}{}<p class='help'>Opted-in subscriptions per platform.</p>", summary, _table(["platform", "reachable"], rows))

    @admin.action(description="Split into VIP groups (static segments of 10-15, nobody in two)", permissions=["add", "change"])
    def split_vip_groups(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            try:
                split = segment_split_vip(
                    segment=segment, min_size=settings.TACT_VIP_GROUP_MIN, max_size=settings.TACT_VIP_GROUP_MAX
                )
            except services.ServiceError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            groups = (f"{len(split.groups)} VIP group(s) of {', '.join(str(n) for n in split.sizes)}"
                      if split.groups else "no VIP group")
            if not split.changed:
                if split.groups:
                    self.message_user(request, f"{segment}: already split into {groups}; nothing changed.")
                else:
                    self.message_user(request, f"{segment}: nobody in the segment; no VIP groups.", messages.WARNING)
                continue
            done = [f"{n} {what}" for n, what in ((split.created, "created"), (split.updated, "updated"),
                                                  (split.removed, "removed")) if n]
            emptied = (f" Emptied, kept because a campaign refers to them: {', '.join(split.emptied)}."
                       if split.emptied else "")
            self.message_user(request, f"{segment}: {split.people} people in {groups} ({', '.join(done) or 'emptied'})."
                              + emptied)



def _previews_table(body: str) -> SafeString:
    rows = []
    for platform, c in services.content_checks(body).items():
        rows.append([
            platform,
            format_html("<code>{}</code>", c["shown"]),
            format_html("{} / {} {}", c["length"], c["limit"], _ok(c["fits"])),
            format_html("{} / {} {}", c["body_length"], c["body_limit"], _ok(c["body_fits"])),
        ])
    return _table(["platform", "the push notification shows", "preview characters", "message length"], rows)


class DraftForm(forms.ModelForm):
    class Meta:
        model = Draft
        fields = ["title", "body", "buttons", "whatsapp_template"]

    def clean_buttons(self):
        buttons = self.cleaned_data.get("buttons") or []
        if not isinstance(buttons, list) or not all(
            isinstance(b, dict) and set(b) == {"text", "url"} and str(b["url"]).startswith(("https://", "http://"))
            for b in buttons
        ):
            raise forms.ValidationError('buttons are a list of {"text": ..., "url": "https://..."}')
        if len(buttons) > 3:
            raise forms.ValidationError("at most 3 buttons (WhatsApp shows no more)")
        return buttons

    def clean_whatsapp_template(self):
        template = self.cleaned_data.get("whatsapp_template")
        if template in (None, "", {}):
            return None
        if not (isinstance(template, dict) and isinstance(template.get("name"), str) and template["name"]
                and isinstance(template.get("language"), str) and template["language"]
                and isinstance(template.get("parameters", []), list)):
            raise forms.ValidationError(
                'an approved template is {"name": "black_friday", "language": "ru", "parameters": ["-30%"]}'
            )
        return template


@admin.register(Draft)
class DraftAdmin(ModelAdmin):
    form = DraftForm
    list_display = ["title", "opening", "fits_everywhere", "updated_at"]
    search_fields = ["title", "body"]
    readonly_fields = ["previews"]
    fields = ["title", "body", "previews", "buttons", "whatsapp_template"]

    def save_model(self, request: HttpRequest, obj: Draft, form, change: bool) -> None:
        super().save_model(request, obj, form, change)  # the admin's change view runs in one transaction
        if change:
            withdrawn = services.campaigns_withdraw_approval(draft=obj, actor=request.user)
            if withdrawn:
                self.message_user(request, "Approval withdrawn, awaiting approval again with the new content: "
                                  + ", ".join(f"“{c}”" for c in withdrawn), messages.WARNING)

    @admin.display(description="push preview")
    def opening(self, obj: Draft) -> str:
        return rules.first_line(obj.body)

    @admin.display(description="fits every platform", boolean=True)
    def fits_everywhere(self, obj: Draft) -> bool:
        return not services.content_problems(obj.body, PLATFORMS, buttons=obj.buttons)

    @admin.display(description="what each platform shows")
    def previews(self, obj: Draft) -> SafeString | str:
        if not obj.body:
            return "Write the body and save to see the previews."
        problems = services.content_problems(obj.body, PLATFORMS, buttons=obj.buttons)
        errors = format_html_join("", "<li style='color:#c62828'>{}</li>", ((p,) for p in problems))
        return format_html("{}<ul>{}</ul>", _previews_table(obj.body), errors)

