"""The campaign page's clicks per tracked link (part of its results)."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext

from .. import selectors
from ..models import Campaign


def link_clicks_table(campaign: Campaign) -> SafeString | str:
    """A table of the campaign's tracked links: URL, clicks, different people; "" without any."""
    rows = selectors.campaign_link_clicks(campaign)
    if not rows:
        return ""
    if any(row["variant"] for row in rows):  # an A/B test or VIP offers: whose link it is
        head = format_html_join("", '<th scope="col">{}</th>', ((h,) for h in (
            gettext("variant"), gettext("link"), gettext("clicks"), gettext("people"))))
        body = format_html_join(
            "", '<tr><td>{}</td><td style="word-break:break-all">{}</td><td>{}</td><td>{}</td></tr>',
            ((row["variant"], row["url"], row["clicks"], row["people"]) for row in rows),
        )
    else:
        head = format_html_join("", '<th scope="col">{}</th>',
                                ((h,) for h in (gettext("link"), gettext("clicks"), gettext("people"))))
        body = format_html_join(
            "", '<tr><td style="word-break:break-all">{}</td><td>{}</td><td>{}</td></tr>',
            ((row["url"], row["clicks"], row["people"]) for row in rows),
        )
    return format_html(
        '<table data-link-clicks><caption style="text-align:left;font-weight:600">{}</caption>'
        "<thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
        gettext("Clicks per link"), head, body,
    )
