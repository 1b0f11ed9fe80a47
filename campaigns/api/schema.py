"""The OpenAPI schema: drf-spectacular's, plus the 4xx answers every operation can give.

Declared once here rather than on each view: refusals come from the exception handler
(campaigns/api/errors.py), the parser, the permissions, throttling and the bad-input
middleware, whichever view is asked.
"""

from __future__ import annotations

from django.utils.translation import gettext, gettext_lazy
from drf_spectacular import openapi
from drf_spectacular.plumbing import ComponentRegistry, ResolvedComponent
from drf_spectacular.utils import OpenApiResponse

_DETAIL = {
    "type": "object",
    "description": gettext_lazy("A refusal: `detail` says why (some 404s name the field instead, as 400s do)."),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
_VALIDATION = {
    "type": "object",
    "description": gettext_lazy(
        "Invalid input: each field (`non_field_errors` for the body as a whole, `detail` for a body "
        "that could not be read) maps to a list of messages; a nested object or list nests the same shape."
    ),
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {}},
            {"type": "object", "additionalProperties": True},
            {"type": "string"},
        ]
    },
    "example": {"name": ["This field may not be blank."],
                "attributes": ["Null characters are not allowed (at attributes.note)."]},
}


def field_errors(description: str) -> OpenApiResponse:
    """A refusal whose body names fields, as a 400 does: for a view's own 404 and the like."""
    return OpenApiResponse(response=_VALIDATION, description=description)


_WHY = {
    "400": gettext_lazy("Invalid input (also NUL in the path or query string, or a query string that is not UTF-8)."),
    "401": gettext_lazy("No valid token or session (also an expired or revoked token)."),
    "403": gettext_lazy("Authenticated, without the permission this operation needs."),
    "404": gettext_lazy("No such object, a page past the last one, or a path that matches no route."),
    "409": gettext_lazy("Conflicts with data saved meanwhile, or the object is still in use."),
    "415": gettext_lazy("A request body in a media type this operation does not read."),
    "429": gettext_lazy("Too many requests; `Retry-After` says when to try again."),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class AutoSchema(openapi.AutoSchema):
    """Every operation documents the refusals it can answer, each with a JSON body."""

    def get_operation(self, path: str, path_regex: str, path_prefix: str, method: str,
                      registry: ComponentRegistry) -> dict | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in self._refusals(operation):
            if code not in responses:
                responses[code] = self._refusal(code)
        return operation

    def _refusals(self, operation: dict) -> list[str]:
        codes = ["400"]
        security = operation.get("security") or [{}]
        if {} not in security:  # anonymous callers are refused
            codes += ["401", "403"]
        # A detail path names an object; a paginated list answers 404 for a page past the end.
        if "{" in self.path or (self.method == "GET" and self._get_paginator() is not None):
            codes.append("404")
        if self.method in _WRITES:
            codes.append("409")
        if "requestBody" in operation:
            codes.append("415")
        codes.append("429")
        return codes

    def _refusal(self, code: str) -> dict:
        name, schema = ("ValidationError", _VALIDATION) if code == "400" else ("Error", _DETAIL)
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        self.registry.register_on_missing(component)
        content = {"application/json": {"schema": component.ref}}
        if code == "429":
            wait = {"schema": {"type": "integer"}, "description": gettext("Seconds to wait.")}
            return {"description": _WHY[code], "content": content, "headers": {"Retry-After": wait}}
        return {"description": _WHY[code], "content": content}
