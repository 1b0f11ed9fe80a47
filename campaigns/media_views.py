"""The public address of a campaign's stored media, for platforms that fetch media by URL
(Viber): /m/<signed token>/<name>, no login, 404 when the token was tampered with."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from .services.media import media_from_token


@require_safe
def media_file(request: HttpRequest, token: str, name: str) -> FileResponse:
    """The stored file, streamed from storage with the content type its bytes showed."""
    found = media_from_token(token)
    if found is None:
        raise Http404
    path, content_type = found
    try:
        handle = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    return response
