"""Cursor pages for the ledger: /api/deliveries/ holds millions of rows.

A page number means counting every row before it (and the total); a cursor is the last id
seen, so a page costs an index range whatever its depth, and rows written meanwhile (higher
ids) never shift a row into a second page. `page_size` is 1 to 1,000 (100 by default);
anything else, or a cursor we did not make, answers 400 naming the parameter.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

MAX_ID = 2**63 - 1


class LedgerCursorPagination(CursorPagination):
    ordering = ("id",)  # unique and only growing: a stable order while rows are written
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    page_size_query_description = gettext_lazy("Rows per page: 1 to 1000 (default 100).")
    cursor_query_description = gettext_lazy("The `next` or `previous` link's cursor; none for the first page.")

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({self.page_size_query_param: [
                _("a whole number from 1 to %(most)s") % {"most": self.max_page_size}]})
        return size

    def get_ordering(self, request: Request, queryset, view) -> tuple[str, ...]:
        return self.ordering  # never a client's ?ordering: the cursor needs a unique key

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except (NotFound, UnicodeError, ValueError) as exc:
            raise self._bad_cursor() from exc
        if cursor is None:
            return None
        if cursor.position is None:
            if not cursor.offset and not cursor.reverse:  # decodes to nothing: not one of ours
                raise self._bad_cursor()
        elif not cursor.position.isdigit() or int(cursor.position) > MAX_ID:
            raise self._bad_cursor()
        return cursor

    def _bad_cursor(self) -> ValidationError:
        return ValidationError({self.cursor_query_param: [_("not a cursor from a `next` or `previous` link")]})

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
