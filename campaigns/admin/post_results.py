"""Results of channel posts, as the post's page and the channel's page show them: per
publication its clicks on tracked buttons, its reactions and the channel's subscribers
before → after it (the samples of campaigns/services/channel_results.py)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from ..models import BrandChannel, Post, Publication
from ..services.channel_results import PublicationResult, publication_results
from .dates import viewer_time

CHANNEL_POSTS_SHOWN = 20
DASH = "—"


def _reactions(counts: dict[str, int]) -> str:
    """"👍 12 · 🔥 3 · custom emoji 2", the most frequent first."""
    shown: dict[str, int] = {}
    for key, n in counts.items():
        label = (gettext("custom emoji") if key.startswith("custom:")
                 else gettext("paid (Stars)") if key == "paid" else key)
        shown[label] = shown.get(label, 0) + n
    ordered = sorted(shown.items(), key=lambda item: (-item[1], item[0]))
    return " · ".join(f"{label} {n}" for label, n in ordered if n) or DASH


def _subscribers(result: PublicationResult) -> str:
    if result.before is None and result.after is None:
        return DASH
    before = DASH if result.before is None else str(result.before)
    after = DASH if result.after is None else str(result.after)
    change = "" if result.change is None else f" ({result.change:+d})"
    return f"{before} → {after}{change}"


def _table(publications: list[Publication], *, by_channel: bool, caption: str) -> SafeString:
    heads = (gettext("channel") if by_channel else gettext("post"), gettext("published"), gettext("clicks"),
             gettext("reactions"), gettext("subscribers before → an hour after"))
    head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in heads))
    rows = []
    for result in publication_results(publications):
        publication = result.publication
        name = publication.channel if by_channel else publication.post
        published = (viewer_time(publication.published_at) if publication.published_at
                     else publication.get_status_display())
        rows.append((publication.pk, name, published, result.clicks, _reactions(result.reactions),
                     _subscribers(result)))
    body = format_html_join(
        "", '<tr data-publication="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>', rows)
    return format_html(
        '<table data-post-results><caption style="text-align:left;font-weight:600">{}</caption>'
        "<thead><tr>{}</tr></thead><tbody>{}</tbody></table>", caption, head, body)


def post_results_table(post: Post) -> SafeString | str:
    """The post's results in each of its channels; "" before it has any publication."""
    publications = list(post.publications.select_related("channel", "post").order_by("channel__title", "pk"))
    if not publications:
        return ""
    return _table(publications, by_channel=True, caption=gettext("Results per channel"))


def channel_results_table(channel: BrandChannel) -> SafeString | str:
    """The channel's latest published posts with their results; "" before its first."""
    publications = list(channel.publications.filter(published_at__isnull=False).select_related("channel", "post")
                        .order_by("-published_at", "-pk")[:CHANNEL_POSTS_SHOWN])
    if not publications:
        return ""
    return _table(publications, by_channel=False, caption=gettext("Latest posts and their results"))
