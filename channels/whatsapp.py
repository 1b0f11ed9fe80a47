"""WhatsApp Cloud API over httpx: text inside the 24-hour window, an approved template outside."""

from __future__ import annotations

import httpx

from .limits import Platform, text_as_sent
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
    Uncertain,
    WindowClosed,
)

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


def template_payload(template: dict) -> dict:
    components = []
    if template.get("parameters"):
        components.append({"type": "body", "parameters": [{"type": "text", "text": p} for p in template["parameters"]]})
    return {
        "type": "template",
        "template": {"name": template["name"], "language": {"code": template["language"]}, "components": components},
    }


class WhatsAppSession(LoopSession):
    def __init__(self, token: str, api_url: str, phone_number_id: str, *, max_in_flight: int, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
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

    async def _post(self, message: OutboundMessage, content: dict) -> Outcome:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id(message.address),
                   **content}
        try:
            response = await self._client.post(self._url, json=payload)
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
            return await self._post(message, text_payload(message))
        if message.template is None:
            return Outcome(message.delivery_id, error=PermanentFailure(
                "outside WhatsApp's 24-hour window and the draft has no approved template"))
        return await self._post(message, template_payload(message.template))

    async def _reply(self, address: str, text: str) -> Outcome:
        return await self._post(OutboundMessage(0, address, text), {"type": "text", "text": {"body": text}})


class WhatsAppChannel:
    platform = "whatsapp"
    sandbox = False
    per_request = 1

    def __init__(self, token: str, api_url: str, phone_number_id: str, *, max_in_flight: int = 100,
                 timeout: float = 20.0):
        self._args = (token, api_url, phone_number_id)
        self._max_in_flight = max_in_flight
        self._timeout = timeout

    def open(self) -> WhatsAppSession:
        return WhatsAppSession(*self._args, max_in_flight=self._max_in_flight, timeout=self._timeout)
