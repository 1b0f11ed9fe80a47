"""WhatsApp Cloud API over httpx: text inside the 24-hour window, an approved template outside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import httpx

from . import transport
from .aio import LoopSession
from .base import (
    AccountRefused,
    ChannelError,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    RecipientLimited,
    TemporaryFailure,
    Uncertain,
    WindowClosed,
)
from .limits import Platform, text_as_sent
from .media import account_key, known_upload, media_bytes, remember_upload, upload_lock

# Meta's error codes (shared/PLATFORMS.md)
AUTH = 190  # the access token is invalid, expired or revoked
THROUGHPUT = 130429  # too many messages from this number
PAIR_RATE = 131056  # too many messages to this person (about one per 6 s)
UNDELIVERABLE = 131026
WINDOW_CLOSED = 131047  # more than 24 hours since the person last wrote: a template is needed
SPAM_LIMIT = 131048  # too many earlier messages blocked or flagged as spam
MARKETING_LIMIT = 131049  # Meta's per-person marketing limit: try again in hours or days
MARKETING_STOPPED = 131050  # the person pressed "Stop promotions"
PAYMENT_ISSUE = 131042
TEMPLATE_PAUSED = 132015
ACCOUNT_CODES = frozenset({AUTH, SPAM_LIMIT, PAYMENT_ISSUE, TEMPLATE_PAUSED})

# httpx errors raised before a byte of the request reached Meta: sending again is safe.


def wa_id(address: str) -> str:
    """WhatsApp's id of a phone: the E.164 digits without the plus."""
    return address.removeprefix("+")


def no_answer(detail: str) -> Uncertain:
    return transport.no_answer("WhatsApp", detail)


def transport_error(exc: httpx.HTTPError) -> ChannelError:
    """An httpx error instead of an answer (channels/transport.py)."""
    return transport.transport_error("WhatsApp", exc)


def error_from(status: int, body: object) -> ChannelError:
    """A Graph API answer that carries no message id, in our terms (shared/PLATFORMS.md).
    `body` is the decoded JSON, None when the answer was not JSON."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    data = error.get("error_data")
    detail = (data.get("details") if isinstance(data, dict) else None) or error.get("message") or ""
    reason = f"WhatsApp {code}: {detail}" if code else f"WhatsApp HTTP {status}" + (f": {detail}" if detail else "")
    if status >= 500:
        return no_answer(f"HTTP {status}" + (f", {code}: {detail}" if code else ""))
    if code in ACCOUNT_CODES or status == 401:
        return AccountRefused(reason)
    if code == THROUGHPUT:
        return RateLimited(reason, 1.0)
    if code == PAIR_RATE:
        return RateLimited(reason, 6.0, per_recipient=True)
    if status == 429:
        return RateLimited(reason, 60.0)  # another of Meta's limits (app or account calls)
    if code == MARKETING_LIMIT:
        return RecipientLimited(reason)
    if code == MARKETING_STOPPED:
        return RecipientGone(reason, "opted_out")
    if code == UNDELIVERABLE:
        return RecipientGone(reason, "unreachable")
    if code == WINDOW_CLOSED:
        return WindowClosed(reason)
    if not code:
        # Not JSON, or JSON without Graph's error: something other than Meta's API answered.
        return no_answer(f"HTTP {status} without a Graph error")
    return PermanentFailure(reason)


def text_payload(message: OutboundMessage) -> dict:
    body = text_as_sent(Platform.WHATSAPP, message.text, message.buttons)
    return {"type": "text", "text": {"preview_url": bool(message.buttons), "body": body}}


def _parameter(variable: dict, value: str) -> dict:
    if variable.get("sub_type") == "copy_code":
        return {"type": "coupon_code", "coupon_code": value}
    parameter = {"type": "text", "text": value}
    if variable.get("name"):
        parameter["parameter_name"] = variable["name"]  # a template with named {{first_name}} variables
    return parameter


def template_payload(template: dict) -> dict:
    """A template message. With `variables` from the sync (campaigns/services/whatsapp_templates.py)
    each parameter goes to its own component (header, body, the n-th button); without them
    (no sync yet) all parameters fill the body, in order."""
    parameters = [str(p) for p in template.get("parameters") or []]
    variables = template.get("variables")
    components: list[dict] = []
    if variables and len(variables) == len(parameters):
        by_place: dict[tuple, list[dict]] = {}
        for variable, value in zip(variables, parameters, strict=True):
            place = (variable.get("component"), variable.get("button"), variable.get("sub_type"))
            by_place.setdefault(place, []).append(_parameter(variable, value))
        for (component, button, sub_type), found in by_place.items():
            if component == "button":
                components.append({"type": "button", "sub_type": sub_type, "index": str(button), "parameters": found})
            else:
                components.append({"type": component, "parameters": found})
    elif parameters:
        components.append({"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]})
    return {
        "type": "template",
        "template": {"name": template["name"], "language": {"code": template["language"]}, "components": components},
    }


# Meta keeps an uploaded media id for 30 days; a day less is safe to reuse.
MEDIA_ID_LIFETIME = timedelta(days=29)


def _media_object(message: OutboundMessage) -> dict:
    media = message.media or {}
    found = {"id": media["id"]} if media.get("id") else {"link": media.get("url") or media.get("public_url")}
    if media.get("kind") == "document" and media.get("name"):
        found["filename"] = media["name"]
    return found


def media_payload(message: OutboundMessage) -> dict:
    """An image, video or document message with the text (and button lines) as caption."""
    kind = message.media["kind"]
    media = _media_object(message)
    caption = text_as_sent(Platform.WHATSAPP, message.text, message.buttons)
    if caption:
        media["caption"] = caption
    return {"type": kind, kind: media}


def with_media_header(payload: dict, message: OutboundMessage) -> dict:
    """A template whose approved header is an image, video or document takes the draft's media there."""
    template = message.template or {}
    media = message.media
    if not media or str(template.get("header") or "").lower() != media["kind"]:
        return payload
    components = [c for c in payload["template"]["components"] if c.get("type") != "header"]
    media_object = {k: v for k, v in _media_object(message).items() if k != "caption"}
    header = {"type": "header", "parameters": [{"type": media["kind"], media["kind"]: media_object}]}
    return {**payload, "template": {**payload["template"], "components": [header, *components]}}


def is_marketing(template: dict) -> bool:
    return str(template.get("category", "")).upper() == "MARKETING"


class WhatsAppSession(LoopSession):
    def __init__(self, token: str, api_url: str, phone_number_id: str, *, max_in_flight: int, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None, marketing_messages: bool = False):
        self._url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._media_url = f"{api_url.rstrip('/')}/{phone_number_id}/media"
        self._account = account_key(phone_number_id)  # media ids belong to this number
        # Meta's Marketing Messages API: MARKETING templates go here when it is on (shared/PLATFORMS.md).
        self._marketing_url = f"{api_url.rstrip('/')}/{phone_number_id}/marketing_messages"
        self._marketing_messages = marketing_messages
        self._headers = {"Authorization": f"Bearer {token}"}
        self._limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._transport = transport  # None: the network (unit tests pass httpx.MockTransport)
        super().__init__()

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(headers=self._headers, limits=self._limits, timeout=self._timeout,
                                         transport=self._transport)

    async def _close(self) -> None:
        await self._client.aclose()

    async def _post(self, message: OutboundMessage, content: dict, *, url: str | None = None) -> Outcome:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id(message.address),
                   **content}
        try:
            response = await self._client.post(url or self._url, json=payload)
        except httpx.HTTPError as exc:
            return Outcome(message.delivery_id, error=transport_error(exc))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and body.get("messages"):
            return Outcome(message.delivery_id, platform_message_id=body["messages"][0]["id"])
        return Outcome(message.delivery_id, error=error_from(response.status_code, body))

    async def _send_one(self, message: OutboundMessage) -> Outcome:
        # Free text inside the 24-hour window; outside it only a template. When our record
        # of the window is stale WhatsApp answers 131047 (WindowClosed) and the engine sends
        # the template again through the rate limiter.
        if message.window_open:
            if message.media:
                return await self._post(message, media_payload(message))
            return await self._post(message, text_payload(message))
        if message.template is None:
            return Outcome(message.delivery_id, error=PermanentFailure(
                "outside WhatsApp's 24-hour window and the draft has no approved template"))
        marketing = self._marketing_messages and is_marketing(message.template)
        return await self._post(message, with_media_header(template_payload(message.template), message),
                                url=self._marketing_url if marketing else None)

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """A stored file is uploaded to /media once per number (the id lives 30 days) and
        every message refers to it by id."""
        stored = next((m.media for m in messages if m.media and m.media.get("path")), None)
        if stored is None:
            return super().send(messages)
        sha256 = stored["sha256"]
        media_id = known_upload("whatsapp", self._account, sha256, max_age=MEDIA_ID_LIFETIME)
        if media_id is None:
            with upload_lock("whatsapp", self._account, sha256):
                media_id = known_upload("whatsapp", self._account, sha256, max_age=MEDIA_ID_LIFETIME)
                if media_id is None:
                    uploaded = self._loop.run_until_complete(self._upload(stored))
                    if isinstance(uploaded, ChannelError):
                        return [Outcome(m.delivery_id, error=uploaded) for m in messages]
                    media_id = remember_upload("whatsapp", self._account, sha256, uploaded, replace=True)
        return super().send([replace(m, media={**m.media, "id": media_id})
                             if m.media and m.media.get("sha256") == sha256 else m for m in messages])

    async def _upload(self, media: dict) -> str | ChannelError:
        """POST /{phone-number-id}/media (multipart): the media id, or why not (nothing was sent)."""
        files = {"file": (media.get("name") or "media", media_bytes(media), media["content_type"])}
        data = {"messaging_product": "whatsapp", "type": media["content_type"]}
        try:
            response = await self._client.post(self._media_url, data=data, files=files)
        except httpx.HTTPError as exc:
            return TemporaryFailure(f"not sent: the file was not uploaded to WhatsApp ({exc!r})")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and body.get("id"):
            return str(body["id"])
        error = error_from(response.status_code, body)
        if isinstance(error, Uncertain):  # an upload without an answer sent nobody anything
            return TemporaryFailure(f"not sent: the file was not uploaded to WhatsApp ({error.reason})")
        return error

    async def _reply(self, address: str, text: str) -> Outcome:
        return await self._post(OutboundMessage(0, address, text), {"type": "text", "text": {"body": text}})


class WhatsAppChannel:
    platform = "whatsapp"
    sandbox = False
    per_request = 1

    def __init__(self, token: str, api_url: str, phone_number_id: str, *, max_in_flight: int = 100,
                 timeout: float = 20.0, marketing_messages: bool = False):
        self._args = (token, api_url, phone_number_id)
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._marketing_messages = marketing_messages

    def open(self) -> WhatsAppSession:
        return WhatsAppSession(*self._args, max_in_flight=self._max_in_flight, timeout=self._timeout,
                               marketing_messages=self._marketing_messages)
