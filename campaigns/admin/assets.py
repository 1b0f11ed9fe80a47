"""Scripts unfold loads on every admin page (settings.UNFOLD["SCRIPTS"]), each a callback giving its URL."""

from __future__ import annotations

from django.http import HttpRequest
from django.templatetags.static import static


def select2_labels(request: HttpRequest) -> str:
    """Search-as-you-type pickers named by their field's label (select2 leaves an empty one unnamed)."""
    return static("tact/select2_labels.js")
