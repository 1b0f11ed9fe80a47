"""GET /r/<token>: a tracked link. No login, no session, no cookie: 302 to the original URL
with UTM parameters; a delivery's click counted once, a channel post's every time; 404 for
anything that is not a valid token."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

from . import links
from .services.channel_results import post_link_click
from .services.clicks import link_click


class _Redirect(HttpResponseRedirect):
    allowed_schemes = ["http", "https"]  # what a draft's buttons and body links may be


@require_safe
def link_redirect(request: HttpRequest, token: str) -> HttpResponse:
    """HEAD (link unfurlers) and GETs of known preview fetchers are redirected but not counted."""
    count = request.method == "GET" and not links.is_preview_agent(request.headers.get("User-Agent", ""))
    url = link_click(token=token, at=timezone.now(), count=count)
    if url is None:  # a channel post's button (campaigns/links.py: a token of its own kind)
        url = post_link_click(token=token, count=count)
    if url is None:
        raise Http404("unknown link")
    response = _Redirect(url)
    add_never_cache_headers(response)  # every click reaches us, none is answered from a cache
    response["Referrer-Policy"] = "no-referrer"  # the token stays ours
    response["X-Robots-Tag"] = "noindex"
    return response
