"""Writing many ledger rows at once, cheaply: the sender settles a chunk of rows (up to
TACT_MAX_IN_FLIGHT) twice per chunk, and Django's bulk_update builds a CASE WHEN per field
and row, which cost the workers more CPU than the rest of sending together (bench profile,
issue 13). On PostgreSQL one UPDATE ... FROM jsonb_to_recordset(one JSON parameter) does
the same in one statement (a JSON text is the cheapest parameter to pass: arrays of values
are quoted one by one on the client)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from django.db import connection

from ..models import Delivery


def _plain(value: object) -> object:
    """A field's value as JSON gives it to PostgreSQL (which casts it to the column's type)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def deliveries_update(rows: Sequence[Delivery], fields: Sequence[str]) -> int:
    """Save `fields` of each row (as `Delivery.objects.bulk_update(rows, fields)` does, in one
    statement on PostgreSQL); returns the rows updated."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        return Delivery.objects.bulk_update(rows, fields)
    meta = Delivery._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    types = ", ".join(f"{quote(f.column)} {f.db_type(connection)}" for f in columns)
    sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    pairs = [(f.column, f.attname) for f in columns]
    payload = json.dumps([{"id": r.pk, **{column: _plain(getattr(r, attname)) for column, attname in pairs}}
                          for r in rows])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {meta.db_table} AS d SET {sets} FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, {types}) "
            "WHERE d.id = v.id",
            [payload],
        )
        return cursor.rowcount
