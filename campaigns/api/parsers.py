"""JSON bodies that PostgreSQL and psycopg can store, or a 400 saying where they cannot.

PostgreSQL's text and jsonb refuse U+0000, psycopg cannot encode a lone surrogate
("\\ud800" is valid JSON but no UTF-8 exists for it), and a body nested a thousand levels
deep exhausts Python's recursion while it is parsed or validated. DRF's own field
validators catch NUL and surrogates in plain string fields only; this parser catches them
anywhere (JSON objects' keys, attributes, segment rules), before any view sees the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32


def _surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` as U+XXXX (json.loads joins valid pairs)."""
    for char in text:
        if "\ud800" <= char <= "\udfff":
            return f"U+{ord(char):04X}"
    return None


def _string_problem(text: str, *, key: bool) -> str | None:
    if "\x00" in text:  # "Null characters are not allowed." is DRF's own wording for its field validators
        return _("Null characters are not allowed in a key.") if key else _("Null characters are not allowed.")
    if code := _surrogate(text):
        if key:
            return _("Surrogate characters are not allowed in a key: %(code)s.") % {"code": code}
        return _("Surrogate characters are not allowed: %(code)s.") % {"code": code}
    return None


def _located(problem: str, where: str, path: str) -> str:
    """The problem's sentence with where it is: "... (at rules.city)." or "... (in rules)."."""
    if where == "in":
        return _("%(problem)s (in %(path)s).") % {"problem": problem.removesuffix("."), "path": path}
    return _("%(problem)s (at %(path)s).") % {"problem": problem.removesuffix("."), "path": path}


def body_problem(data: object) -> tuple[str, str] | None:
    """(where, what) for the first value that cannot be stored, or None; `where` is the
    top-level field (or "" for the body itself), `what` names the problem and its path."""
    # An explicit stack: the check itself never recurses, however deep the body.
    stack: list[tuple[object, str, str, int]] = [(data, "", "", 1)]
    while stack:
        value, field, path, depth = stack.pop()
        if isinstance(value, str):
            problem = _string_problem(value, key=False)
            if problem:
                return field, problem if path == field else _located(problem, "at", path)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_DEPTH:
            return field, _("JSON nested deeper than %(max)s levels (at %(path)s).") % {"max": MAX_DEPTH, "path": path}
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                if problem := _string_problem(key, key=True):
                    return field, problem if not path else _located(problem, "in", path)
                child = f"{path}.{key}" if path else key
            else:
                child = f"{path}[{key}]"
            stack.append((item, field or (key if isinstance(key, str) else ""), child[:200], depth + 1))
    return None


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing (400) what could not be stored or safely validated:
    nesting deeper than MAX_DEPTH, NUL and lone surrogates in any key or value."""

    def parse(self, stream: IO[bytes], media_type: str | None = None,
              parser_context: Mapping[str, object] | None = None) -> object:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(
                _("JSON parse error - nested deeper than %(max)s levels.") % {"max": MAX_DEPTH}) from exc
        found = body_problem(data)
        if found is not None:
            field, problem = found
            raise ParseError({field or "non_field_errors": [problem]})
        return data
