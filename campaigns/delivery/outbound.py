"""What one person receives: a campaign's frozen content (or a draft's, for a test send) made
theirs, as the OutboundMessage a channel sends. One step per function, so each concern reads
on its own: placeholders and the coupon (`personal_text`), tracked links (`tracked_buttons`),
media (`media_for`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.text import slugify

from channels.base import OutboundMessage

from .. import links, personalise
from ..models import Campaign, CampaignVariant, Draft, Subscriber, Subscription
from ..selectors import segment_size
from ..services.whatsapp_templates import (
    template_as_sent,  # its category and variables, from the last sync
)


@dataclass(frozen=True)
class Content:
    """What is sent, as frozen on the campaign when it was scheduled (or read from a draft)."""

    campaign_id: int | None
    slug: str  # utm_campaign
    body: str
    buttons: list[dict]
    whatsapp_template: dict | None
    media: dict | None
    track_links: bool
    track_body_links: bool
    # Telegram: not forwardable or savable (campaign.protect_content).
    protect_content: bool = False
    # A VIP group's offer: {{ group_name }} and {{ group_size }} (empty elsewhere).
    group_name: str = ""
    group_size: str = ""


def campaign_content(campaign: Campaign) -> Content:
    return Content(
        campaign_id=campaign.pk, slug=slugify(campaign.name, allow_unicode=False) or f"campaign-{campaign.pk}",
        body=campaign.content_body, buttons=list(campaign.content_buttons or []),
        whatsapp_template=template_as_sent(campaign.content_whatsapp_template), media=campaign.content_media,
        track_links=campaign.content_track_links, track_body_links=campaign.content_track_body_links,
        protect_content=campaign.protect_content,
    )


def variant_content(variant: CampaignVariant) -> Content:
    """What a variant's people receive: its content frozen at scheduling, under its campaign's
    name (utm_campaign) and settings; a VIP group's variant also fills in {{ group_name }} (the
    variant's label) and {{ group_size }} (how many people the group has)."""
    campaign = variant.campaign
    return Content(
        campaign_id=campaign.pk, slug=slugify(campaign.name, allow_unicode=False) or f"campaign-{campaign.pk}",
        body=variant.content_body, buttons=list(variant.content_buttons or []),
        whatsapp_template=template_as_sent(variant.content_whatsapp_template), media=variant.content_media,
        track_links=variant.content_track_links, track_body_links=variant.content_track_body_links,
        protect_content=campaign.protect_content,
        group_name=variant.label if variant.segment_id else "",
        group_size=str(segment_size(variant.segment)) if variant.segment_id else "",
    )


def draft_content(draft: Draft, *, campaign: Campaign | None = None) -> Content:
    """What the draft would send now (a test send), as campaign_content reads a frozen campaign."""
    from ..services.media import media_frozen  # as in media_for: imported when used

    name = campaign.name if campaign is not None else draft.title
    return Content(
        campaign_id=campaign.pk if campaign is not None else None,
        slug=slugify(name, allow_unicode=False) or f"draft-{draft.pk}",
        body=draft.body, buttons=list(draft.buttons or []), whatsapp_template=template_as_sent(draft.whatsapp_template),
        media=media_frozen(draft), track_links=draft.track_links, track_body_links=draft.track_body_links,
        protect_content=campaign.protect_content if campaign is not None else False,
    )


def personal_values(subscriber: Subscriber, coupon: str = "", content: Content | None = None) -> personalise.Values:
    return personalise.Values(name=subscriber.name, attributes=subscriber.attributes, coupon=coupon,
                              group_name=content.group_name if content else "",
                              group_size=content.group_size if content else "")


def personal_text(text: str, *, subscriber: Subscriber, coupon: str = "", content: Content | None = None) -> str:
    """`text` with this person's placeholders filled in (their group's from `content`)."""
    return personalise.render(text, personal_values(subscriber, coupon, content))


def personal_buttons(buttons: list[dict], *, subscriber: Subscriber, coupon: str = "",
                     content: Content | None = None) -> list[dict]:
    """The buttons with this person's placeholders filled in (text, URL, copy_text)."""
    return personalise.render_buttons(buttons, personal_values(subscriber, coupon, content))


def personal_template(template: dict | None, *, subscriber: Subscriber, coupon: str = "",
                      content: Content | None = None) -> dict | None:
    """The WhatsApp template with this person's placeholders filled into its parameters."""
    return personalise.render_template(template, personal_values(subscriber, coupon, content))


def _tracking(content: Content, delivery_id: int | None) -> bool:
    return delivery_id is not None and content.campaign_id is not None


def _tracked(content: Content, delivery_id: int, link: int, platform: str) -> str:
    return links.tracked_url(links.token_make(campaign_id=content.campaign_id, delivery_id=delivery_id,
                                              link=link, platform=platform))


def tracked_buttons(content: Content, buttons: list[dict], *, delivery_id: int | None, platform: str) -> list[dict]:
    """The buttons as this delivery sends them: with tracking on, each URL button leads through
    {TACT_PUBLIC_URL}/r/<token> (link i: the i-th URL button). A test send (no delivery) and
    copy-to-clipboard buttons keep what they have."""
    if not (_tracking(content, delivery_id) and content.track_links):
        return buttons
    out, link = [], 0
    for button in buttons:
        if button.get("url") and link < links.MAX_LINKS:  # the order links.tracked_links counts in
            button = {**button, "url": _tracked(content, delivery_id, link, platform)}
            link += 1
        out.append(button)
    return out


def tracked_body(content: Content, text: str, *, delivery_id: int | None, platform: str) -> str:
    """The (personalised) text as this delivery sends it: with body tracking on, each http(s)
    link leads through {TACT_PUBLIC_URL}/r/<token>, numbered after the URL buttons."""
    if not (_tracking(content, delivery_id) and content.track_body_links):
        return text
    link = len(links.tracked_links(content.buttons, "", track_buttons=content.track_links, track_body=False))
    parts, done = [], 0
    for start, end in links.body_links(text):
        if link >= links.MAX_LINKS:
            break
        parts += [text[done:start], _tracked(content, delivery_id, link, platform)]
        done, link = end, link + 1
    return "".join(parts) + text[done:]


def delivery_links(content: Content, *, subscriber: Subscriber, coupon: str = "") -> list[str]:
    """The original URLs this person's message tracks, in link-index order (what /r/ redirects to)."""
    return links.tracked_links(
        personal_buttons(content.buttons, subscriber=subscriber, coupon=coupon, content=content),
        personal_text(content.body, subscriber=subscriber, coupon=coupon, content=content),
        track_buttons=content.track_links, track_body=content.track_body_links,
    )


def media_for(content: Content) -> dict | None:
    """The media as the channel sends it: the frozen facts (kind, name, content_type, size,
    sha256, storage path or URL) and `public_url`, where a platform that fetches media by URL
    (Viber) finds it: the original URL, or our signed address of the stored file."""
    if not content.media or not content.media.get("kind"):
        return None
    from ..services.media import media_public_url

    return {**content.media, "public_url": media_public_url(content.media)}


def same_for_everyone(content: Content) -> bool:
    """True when every person receives the very same message: no placeholder and no tracked
    link. Only then may a platform carry many people in one request (a Viber broadcast)."""
    texts = personalise.content_texts(content.body, content.buttons, content.whatsapp_template)
    if any(personalise.has_placeholders(text) for text in texts):
        return False
    return not links.tracked_links(content.buttons, content.body, track_buttons=content.track_links,
                                   track_body=content.track_body_links)


def outbound_message(content: Content, *, delivery_id: int | None, subscription: Subscription, subscriber: Subscriber,
                     window_open: bool, coupon: str = "") -> OutboundMessage:
    """The message one person receives."""
    return OutboundMessage(
        delivery_id=delivery_id, address=subscription.address,
        text=tracked_body(content, personal_text(content.body, subscriber=subscriber, coupon=coupon, content=content),
                          delivery_id=delivery_id, platform=subscription.platform),
        buttons=tracked_buttons(content, personal_buttons(content.buttons, subscriber=subscriber, coupon=coupon,
                                                          content=content),
                                delivery_id=delivery_id, platform=subscription.platform),
        template=personal_template(content.whatsapp_template, subscriber=subscriber, coupon=coupon, content=content),
        window_open=window_open, media=media_for(content), protect_content=content.protect_content,
    )
