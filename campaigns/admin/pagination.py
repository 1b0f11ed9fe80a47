"""Pages over the ledger without counting ten million rows on every page.

The delivery list shows 100 rows a page; Django's paginator counts the whole (filtered)
result to number the pages. Unfiltered, on PostgreSQL, that COUNT(*) scans the ledger
(seconds at 10 million rows). Then the planner's row estimate (pg_class.reltuples, kept
by autovacuum's ANALYZE) is used instead, once it is over ESTIMATE_ABOVE rows: the page
says "about N"; a filtered list (one campaign, a status) is counted exactly as before.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and connections[self.object_list.db].vendor == "postgresql":
            with connections[self.object_list.db].cursor() as cursor:
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                               [self.object_list.model._meta.db_table])
                row = cursor.fetchone()
            if row and row[0] and row[0] > ESTIMATE_ABOVE:
                return int(row[0])
        return super().count
