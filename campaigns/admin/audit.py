"""The audit log in the admin: who did what to what, when, before and after; read only."""

from __future__ import annotations

from typing import Any

import auditlog.admin  # noqa: F401  (registers auditlog's own page first, so that ours replaces it)
from auditlog.models import LogEntry
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy
from unfold.admin import ModelAdmin

from ..audit import VERB_BY_ACTION, VERBS

admin.site.unregister(LogEntry)

ACTION_BY_VERB = {verb: action for action, verb in VERB_BY_ACTION.items()}


class VerbFilter(admin.SimpleListFilter):
    title = gettext_lazy("verb")
    parameter_name = "verb"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(verb, verb) for verb in VERBS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[LogEntry]) -> QuerySet[LogEntry]:
        verb = self.value()
        if verb is None:
            return queryset
        named = Q(additional_data__verb=verb)
        if verb in ACTION_BY_VERB:  # auditlog's own entries name no verb: their action says it
            unnamed = Q(additional_data__isnull=True) | ~Q(additional_data__has_key="verb")
            named |= Q(action=ACTION_BY_VERB[verb]) & unnamed
        return queryset.filter(named)


def verb_of(entry: LogEntry) -> str:
    """The entry's verb: the one `audit_record` named, or auditlog's action as a verb."""
    data = entry.additional_data
    if isinstance(data, dict) and data.get("verb"):
        return str(data["verb"])
    return VERB_BY_ACTION.get(entry.action, str(entry.action))


def _shown(value: Any) -> str:
    return "—" if value in (None, "None", "") else str(value)


@admin.register(LogEntry)
class AuditLogAdmin(ModelAdmin):
    """Nobody adds, changes or deletes an entry here, superusers included (PostgreSQL refuses too)."""

    list_display = ["timestamp", "actor_shown", "verb", "object_type", "object_repr", "changes_shown"]
    list_filter = [VerbFilter, ("content_type", admin.RelatedOnlyFieldListFilter),
                   ("actor", admin.RelatedOnlyFieldListFilter), "timestamp"]
    date_hierarchy = "timestamp"
    search_fields = ["object_repr", "actor__username", "actor_email"]
    list_select_related = ["actor", "content_type"]
    fields = ["timestamp", "actor_shown", "verb", "object_type", "object_pk", "object_repr", "changes_shown",
              "details", "remote_addr", "cid"]
    readonly_fields = fields
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: LogEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: LogEntry | None = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("actor"), ordering="actor__username")
    def actor_shown(self, obj: LogEntry) -> str:
        if obj.actor is not None:
            return obj.actor.get_username()
        return obj.actor_email or gettext("the system or the person")

    @admin.display(description=gettext_lazy("verb"))
    def verb(self, obj: LogEntry) -> str:
        return verb_of(obj)

    @admin.display(description=gettext_lazy("object type"), ordering="content_type__model")
    def object_type(self, obj: LogEntry) -> str:
        return obj.content_type.name

    @admin.display(description=gettext_lazy("before → after"))
    def changes_shown(self, obj: LogEntry) -> SafeString:
        lines = []
        for field, change in sorted((obj.changes_dict or {}).items()):
            if isinstance(change, dict):  # many-to-many: {"type": "m2m", "operation": "add", "objects": [...]}
                lines.append((field, format_html("{} {}", change.get("operation", ""),
                                                 ", ".join(str(o) for o in change.get("objects", [])))))
            elif isinstance(change, list) and len(change) == 2:
                lines.append((field, format_html("{} → {}", _shown(change[0]), _shown(change[1]))))
            else:
                lines.append((field, _shown(change)))
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: {}", lines)

    @admin.display(description=gettext_lazy("details"))
    def details(self, obj: LogEntry) -> SafeString:
        extra = {k: v for k, v in (obj.additional_data or {}).items() if k != "verb"}
        return format_html_join(mark_safe("<br>"), "{}: {}", sorted((k, _shown(v)) for k, v in extra.items()))
