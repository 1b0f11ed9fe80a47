"""What a channel post carries: its frozen buttons, each URL button leading through
{TACT_PUBLIC_URL}/r/<token> when the post tracks its buttons. One message reaches everyone
in the channel, so the token names the publication (the post in that channel), not a person."""

from __future__ import annotations

from django.utils.text import slugify

from .. import links
from ..models import Post, Publication


def post_slug(post: Post) -> str:
    """The post's utm_campaign: its name (or its draft's title) as a slug."""
    return slugify(post.name or post.draft.title, allow_unicode=False) or f"post-{post.pk}"


def post_links(post: Post) -> list[str]:
    """The URLs a post tracks, in link-index order: its URL buttons (copy buttons are no links)."""
    return links.tracked_links(list(post.content_buttons or []), "", track_buttons=post.content_track_links,
                               track_body=False)


def post_buttons(publication: Publication) -> list[dict]:
    """The post's frozen buttons as published in this publication's channel: with tracking on,
    the i-th URL button leads through a token of (publication, i)."""
    buttons = list(publication.post.content_buttons or [])
    if not publication.post.content_track_links:
        return buttons
    out, link = [], 0
    for button in buttons:
        if button.get("url") and link < links.MAX_LINKS:  # the order post_links counts in
            token = links.post_token_make(publication_id=publication.pk, link=link)
            button = {**button, "url": links.tracked_url(token)}
            link += 1
        out.append(button)
    return out
