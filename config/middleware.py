"""Requests that no view can handle answer 400, never 500.

Django passes NUL in a path or query string through to the views: a lookup or search with
it then fails inside psycopg (PostgreSQL text cannot hold it). Bytes of a query string that
are not UTF-8 (an encoded lone surrogate among them) Django would silently replace. Such a
request is refused here, before any view, filter or admin search sees it. A value out of
the database's range that still reaches a query (DataError, OverflowError) is answered 400
as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)


def request_problem(request: HttpRequest) -> str | None:
    """Why this request's path or query string cannot be handled, or None."""
    # Django has already quoted again the path's bytes that are not UTF-8 ("%FF" matches no
    # route); a NUL it leaves as it is.
    if "\x00" in request.path_info:
        return _("the path contains a NUL character")
    # The query string is still as sent: percent-encoded, its raw bytes as latin-1 (PEP 3333).
    query = unquote_to_bytes(request.META.get("QUERY_STRING", "").encode("latin-1", errors="replace"))
    try:
        text = query.decode("utf-8")  # strict: also refuses encoded surrogates (ED A0 80)
    except UnicodeDecodeError as exc:
        return _("the query string is not valid UTF-8 (byte %(byte)s at %(at)s)") % {
            "byte": f"0x{query[exc.start]:02X}", "at": exc.start}
    if "\x00" in text:
        return _("the query string contains a NUL character")
    return None


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")


class BadInputMiddleware:
    """400 for NUL in the path or query string, bytes of the query string that are not
    UTF-8, and a value a view passed to the database out of its range."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with translation.override(None):  # the log in English
            problem = request_problem(request)
        if problem is not None:
            log.info("refused %s request: %s", request.method, problem)
            # LocaleMiddleware comes after this one: the answer in the language the request asks for.
            with translation.override(translation.get_language_from_request(request)):
                return _bad_request(request, request_problem(request))
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DataError | OverflowError):
            log.warning("value out of range answered 400 (%s %s): %s", request.method, request.path_info,
                        type(exception).__name__)
            return _bad_request(request, _("a value is out of the range that can be stored"))
        return None
