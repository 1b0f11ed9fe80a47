"""Segments and drafts in the admin: sizes per platform, VIP groups, push previews."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, gettext_lazy, ngettext
from unfold.admin import ModelAdmin

from channels.limits import PLATFORMS

from .. import rules, selectors, services
from ..models import (
    Draft,
    Segment,
)
from ..services.audience import segment_split_vip
from .common import _ok, _table
from .draft_editor import DraftEditorMixin
from .segment_builder import (
    SegmentRulesField,
    builder_count_view,
    unknown_tags,
    unknown_tags_warning,
)
from .tester_sends import DraftTestSendMixin


class SegmentForm(forms.ModelForm):
    rules = SegmentRulesField()

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
                self.add_error("members", gettext("members are for static segments; dynamic ones use rules"))
        elif data.get("rules"):
            self.add_error("rules", gettext("rules are for dynamic segments; static ones list members"))
        return data


@admin.register(Segment)
class SegmentAdmin(ModelAdmin):
    form = SegmentForm
    list_display = ["name", "kind", "max_size", "size_total", *[f"size_{p}" for p in PLATFORMS]]
    list_filter = ["kind"]
    search_fields = ["name"]
    autocomplete_fields = ["members"]
    radio_fields = {"kind": admin.HORIZONTAL}
    readonly_fields = ["sizes_table"]
    actions = ["split_vip_groups"]

    def get_urls(self):
        return [
            path("builder/count/", self.admin_site.admin_view(lambda request: builder_count_view(self, request)),
                 name="campaigns_segment_builder_count"),
            *super().get_urls(),
        ]

    def save_model(self, request: HttpRequest, obj: Segment, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        missing = unknown_tags(obj.rules) if obj.kind == Segment.Kind.DYNAMIC else []
        if missing:
            self.message_user(request, unknown_tags_warning(missing), messages.WARNING)

    def _sizes(self, obj: Segment) -> dict[str, int]:
        cache = getattr(self, "_size_cache", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.segment_sizes(obj)
            self._size_cache = cache
        return cache[obj.pk]

    def changelist_view(self, request, extra_context=None):
        self._size_cache = {}
        return super().changelist_view(request, extra_context)

    @admin.display(description=gettext_lazy("people"))
    def size_total(self, obj: Segment) -> int:
        return self._sizes(obj)["total"]

    @admin.display(description=gettext_lazy("on telegram"))
    def size_telegram(self, obj: Segment) -> int:
        return self._sizes(obj)["telegram"]

    @admin.display(description=gettext_lazy("on whatsapp"))
    def size_whatsapp(self, obj: Segment) -> int:
        return self._sizes(obj)["whatsapp"]

    @admin.display(description=gettext_lazy("on viber"))
    def size_viber(self, obj: Segment) -> int:
        return self._sizes(obj)["viber"]

    @admin.display(description=gettext_lazy("size per platform"))
    def sizes_table(self, obj: Segment) -> SafeString | str:
        if obj.pk is None:
            return gettext("Shown once the segment is saved.")
        self._size_cache = {}
        sizes = self._sizes(obj)
        rows = [[p, sizes[p]] for p in PLATFORMS]
        over = obj.max_size is not None and sizes["total"] > obj.max_size
        in_all = ngettext("%(total)s person in all", "%(total)s people in all", sizes["total"]) % {"total": sizes["total"]}
        refused = gettext("over max_size %(max_size)s: campaigns will refuse it") % {"max_size": obj.max_size}
        summary = format_html(
            "<p>{}{}</p>", in_all, format_html(" — <strong style='color:#c62828'>{}</strong>", refused) if over else "",
        )
        table = _table([gettext("platform"), gettext("reachable")], rows)
        return format_html("{}{}<p class='help'>{}</p>", summary, table, gettext("Opted-in subscriptions per platform."))

    @admin.action(description=gettext_lazy("Split into VIP groups (static segments of 10-15, nobody in two)"),
                  permissions=["add", "change"])
    def split_vip_groups(self, request: HttpRequest, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            try:
                split = segment_split_vip(
                    segment=segment, min_size=settings.TACT_VIP_GROUP_MIN, max_size=settings.TACT_VIP_GROUP_MAX
                )
            except services.ServiceError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
                continue
            groups = (ngettext("%(n)s VIP group(s) of %(sizes)s", "%(n)s VIP group(s) of %(sizes)s", len(split.groups))
                      % {"n": len(split.groups), "sizes": ", ".join(str(n) for n in split.sizes)}
                      if split.groups else gettext("no VIP group"))
            if not split.changed:
                if split.groups:
                    self.message_user(request, gettext("%(segment)s: already split into %(groups)s; nothing changed.")
                                      % {"segment": segment, "groups": groups})
                else:
                    self.message_user(request, gettext("%(segment)s: nobody in the segment; no VIP groups.")
                                      % {"segment": segment}, messages.WARNING)
                continue
            done = [text % {"n": n} for n, text in (
                (split.created, ngettext("%(n)s created", "%(n)s created", split.created)),
                (split.updated, ngettext("%(n)s updated", "%(n)s updated", split.updated)),
                (split.removed, ngettext("%(n)s removed", "%(n)s removed", split.removed)),
            ) if n]
            message = ngettext("%(segment)s: %(people)s person in %(groups)s (%(done)s).",
                               "%(segment)s: %(people)s people in %(groups)s (%(done)s).", split.people) % {
                "segment": segment, "people": split.people, "groups": groups,
                "done": ", ".join(done) or gettext("emptied")}
            if split.emptied:
                message += " " + gettext("Emptied, kept because a campaign refers to them: %(names)s.") % {
                    "names": ", ".join(split.emptied)}
            self.message_user(request, message)



def _previews_table(body: str) -> SafeString:
    rows = []
    for platform, c in services.content_checks(body).items():
        rows.append([
            platform,
            format_html("<code>{}</code>", c["shown"]),
            format_html("{} / {} {}", c["length"], c["limit"], _ok(c["fits"])),
            format_html("{} / {} {}", c["body_length"], c["body_limit"], _ok(c["body_fits"])),
        ])
    return _table([gettext("platform"), gettext("the push notification shows"), gettext("preview characters"),
                   gettext("message length")], rows)


@admin.register(Draft)
class DraftAdmin(DraftEditorMixin, DraftTestSendMixin, ModelAdmin):
    # The form (button rows, template picker) and the live preview: draft_editor.py.
    list_display = ["title", "opening", "fits_everywhere", "updated_at"]
    search_fields = ["title", "body"]
    readonly_fields = ["live_preview"]
    fields = ["title", "body", "media", "media_url", "buttons", "track_links", "track_body_links", "live_preview",
              "whatsapp_template"]

    def save_model(self, request: HttpRequest, obj: Draft, form, change: bool) -> None:
        super().save_model(request, obj, form, change)  # the admin's change view runs in one transaction
        if change:
            withdrawn = services.campaigns_withdraw_approval(draft=obj, actor=request.user)
            if withdrawn:
                names = ", ".join(gettext("“%(campaign)s”") % {"campaign": c} for c in withdrawn)
                self.message_user(request, gettext("Approval withdrawn, awaiting approval again with the new "
                                                   "content: %(campaigns)s") % {"campaigns": names}, messages.WARNING)

    @admin.display(description=gettext_lazy("push preview"))
    def opening(self, obj: Draft) -> str:
        return rules.first_line(obj.body)

    @admin.display(description=gettext_lazy("fits every platform"), boolean=True)
    def fits_everywhere(self, obj: Draft) -> bool:
        return not services.content_problems(obj.body, PLATFORMS, buttons=obj.buttons)

