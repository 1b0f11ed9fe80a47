"""The brand's Viber Channel through the Channels Post API over httpx: `POST {VIBER_API_URL}/post`
with the channel's own token, "from" the admin who posts (developers.viber.com, Channels Post API)."""

from __future__ import annotations

import logging

import httpx
from django.utils.translation import gettext as _

from .base import AccountRefused, ChannelError, PermanentFailure, RateLimited
from .brand import ChannelCheck, ChannelPost, PostOutcome
from .limits import button_line
from .viber import BAD_AUTH, TOO_MANY_REQUESTS, answer_from, transport_error

log = logging.getLogger(__name__)
# Viber's statuses for a post the channel refuses (developers.viber.com, "Error codes").
NOT_AUTHORIZED = 15  # publicAccountNotAuthorized: "from" is not an admin of the channel
NO_PUBLIC_CHAT = 18  # noPublicChat: the token is a bot's, not a channel's
ADMIN_ROLES = ("superadmin", "admin")


def bot_token_refusal() -> str:
    return _("this is a bot's token, not a channel's")


def token_refused() -> str:
    return _("Viber refused the channel's token")


def _post_error(error: ChannelError) -> ChannelError:
    """A refused post in words a marketer acts on; the channel's own refusals stop posting there."""
    status = _status_of(error.reason)
    if status == BAD_AUTH:
        return AccountRefused(token_refused())
    if status == NO_PUBLIC_CHAT:
        return AccountRefused(bot_token_refusal())
    if status == NOT_AUTHORIZED:
        return AccountRefused(_("the admin id is not an admin of the channel"))
    if status == TOO_MANY_REQUESTS:
        return RateLimited(error.reason, 10.0)
    return error


def _status_of(reason: str) -> int | None:
    """The Viber status in channels/viber.py's reason ("Viber 15: ...")."""
    head = reason.removeprefix("Viber ").partition(":")[0]
    return int(head) if reason.startswith("Viber ") and head.isdigit() else None


def _text(post: ChannelPost) -> str:
    """A channel post carries no keyboard: each button becomes a line "Text: URL"."""
    return post.text + "".join(button_line(b) for b in post.buttons)


class ViberBrandClient:
    """One Viber Channel: its own token (from the channel's Developer Tools) and an admin's id."""

    def __init__(self, token: str, admin_id: str, api_url: str, *, timeout: float = 20.0,
                 transport: httpx.BaseTransport | None = None):
        self._api = api_url.rstrip("/")
        self._admin = admin_id
        self._client_args = {"headers": {"X-Viber-Auth-Token": token},
                             "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0)), "transport": transport}

    def _call(self, method: str, payload: dict) -> dict | ChannelError:
        try:
            with httpx.Client(**self._client_args) as client:
                response = client.post(f"{self._api}/{method}", json=payload)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return answer_from(response.status_code, response.content)

    def _account(self) -> dict | ChannelError:
        return self._call("get_account_info", {})

    def check(self) -> ChannelCheck:
        """get_account_info with the channel's token: a channel (it has a superadmin, as only
        a channel's superadmin gets a token), and the admin id among its admins."""
        info = self._account()
        if isinstance(info, ChannelError):
            return ChannelCheck(problem=_post_error(info).reason)
        title = str(info.get("name") or "")
        subscribers = info.get("subscribers_count")
        subscribers = subscribers if isinstance(subscribers, int) else None
        members = [m for m in info.get("members") or [] if isinstance(m, dict)]
        if not any(m.get("role") == "superadmin" for m in members):
            return ChannelCheck(problem=bot_token_refusal())
        if not any(str(m.get("id")) == self._admin and m.get("role") in ADMIN_ROLES for m in members):
            return ChannelCheck(title, problem=_("the admin id is not an admin of the channel"),
                                subscribers=subscribers)
        return ChannelCheck(title, can_post=True, subscribers=subscribers)

    def publish(self, post: ChannelPost) -> PostOutcome:
        """One post; a video or file carries no text, so the text follows as its own post."""
        base = {"from": self._admin}
        media = post.media
        if media is None:
            return self._post({**base, "type": "text", "text": _text(post)})
        if media["kind"] == "image":
            return self._post({**base, "type": "picture", "text": _text(post), "media": media["public_url"]})
        file_post = {**base, "type": "video" if media["kind"] == "video" else "file",
                     "media": media["public_url"], "size": media["size"]}
        if media["kind"] != "video":
            file_post["file_name"] = media.get("name") or "file"
        outcome = self._post(file_post)
        if outcome.published and _text(post):
            # The file is out: the post counts as published (never posted twice) even if its text is refused.
            text = self._post({**base, "type": "text", "text": _text(post)})
            if not text.published:
                log.warning("a Viber channel post's text was refused after its file: %s", text.error)
        return outcome

    def _post(self, payload: dict) -> PostOutcome:
        answer = self._call("post", payload)
        if isinstance(answer, ChannelError):
            return PostOutcome(error=_post_error(answer))
        return PostOutcome(message_id=str(answer.get("message_token", "")))

    def pin(self, message_id: str) -> ChannelError | None:
        return PermanentFailure(_("Viber's Channels Post API cannot pin a post"))

    def subscriber_count(self) -> int | None:
        info = self._account()
        if isinstance(info, ChannelError):
            return None
        count = info.get("subscribers_count")
        return count if isinstance(count, int) else None
