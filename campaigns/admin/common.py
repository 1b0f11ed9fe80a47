"""Pieces every admin page shares: small HTML tables, the ok/over mark, read-only pages."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from unfold.admin import ModelAdmin


def _table(headers: list[str], rows: list[list[Any]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def _ok(flag: bool, good: str | None = None, bad: str | None = None) -> SafeString:
    colour = "#2e7d32" if flag else "#c62828"
    shown = (good or gettext("ok")) if flag else (bad or gettext("over the limit"))
    return format_html('<strong style="color:{}">{}</strong>', colour, shown)


class ReadOnlyAdmin(ModelAdmin):
    """Records written by the system only (the ledger, consent proof, lists): look, never edit."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

