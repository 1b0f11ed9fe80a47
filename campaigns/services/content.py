"""Content: what a draft looks like on each platform, and why it cannot go out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from django.utils.translation import gettext as _

from channels.limits import PLATFORMS, caption_length, platform_limits, text_as_sent

from .. import rules


def content_checks(body: str, platforms: Iterable[str] = PLATFORMS, *, buttons: list[dict] | None = None,
                   media_kind: str = "") -> dict[str, dict]:
    """Per platform: what the push notification shows and whether preview and body fit,
    the body measured as the platform receives it (WhatsApp: with the buttons appended).
    With media (`media_kind`), the text is a caption where the platform sends it as one,
    and the caption limit applies instead of the body limit (`caption`: True)."""
    out: dict[str, dict] = {}
    for platform in platforms:
        limits = platform_limits(platform)
        caption = caption_length(platform, media_kind) if media_kind else None
        if caption is not None:
            limits = replace(limits, body_length=min(caption, limits.body_length))
        preview = rules.push_preview(body, limits.preview_length)
        body_check = rules.check_body(text_as_sent(platform, body, buttons or []), limits)
        out[platform] = {
            "push": preview.push,
            "shown": preview.shown,
            "length": preview.length,
            "limit": preview.limit,
            "fits": preview.fits,
            "body_length": body_check.length,
            "body_limit": body_check.limit,
            "body_fits": body_check.fits,
            "caption": caption is not None,
        }
    return out


def content_problems(body: str, platforms: Iterable[str], *, buttons: list[dict] | None = None,
                     media_kind: str = "") -> list[str]:
    """Why this body cannot go out on these platforms, one message per problem."""
    problems = []
    if not body.strip():
        problems.append(_("the message body is empty"))
        return problems
    for platform, check in content_checks(body, platforms, buttons=buttons, media_kind=media_kind).items():
        if not check["fits"]:
            problems.append(
                _("%(platform)s: the push preview (first line) is %(length)s characters, over the limit of %(limit)s")
                % {"platform": platform, "length": check["length"], "limit": check["limit"]}
            )
        if not check["body_fits"] and check["caption"]:
            problems.append(
                _("%(platform)s: the caption (the text sent with the media) is %(length)s characters, "
                  "over the limit of %(limit)s")
                % {"platform": platform, "length": check["body_length"], "limit": check["body_limit"]}
            )
        elif not check["body_fits"]:
            problems.append(
                _("%(platform)s: the message is %(length)s characters, over the limit of %(limit)s")
                % {"platform": platform, "length": check["body_length"], "limit": check["body_limit"]}
            )
    return problems

