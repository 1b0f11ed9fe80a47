"""WhatsApp Cloud API over httpx: text inside the 24-hour window, an approved template outside."""

from __future__ import annotations

import httpx

from .aio import LoopSession
from .base import (
    ChannelError,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    TemporaryFailure,
    Uncertain,
)

THROUGHPUT = 130429  # too many messages from this number
PAIR_RATE = 131056  # too many messages to this person (about one per 6 s)
UNDELIVERABLE = 131026
WINDOW_CLOSED = 131047  # more than 24 hours since the person last wrote: a template is needed
AUTH = 190


def wa_id(address: str) -> str:
    """WhatsApp's id of a phone: the E.164 digits without the plus."""
    return address.removeprefix("+")


def error_from(status: int, body: dict) -> ChannelError:
    """A Graph API error in our terms (shared/PLATFORMS.md)."""
    error = body.get("error") or {}
    code = error.get("code")
    detail = (error.get("error_data") or {}).get("details") or error.get("message") or f"HTTP {status}"
    reason = f"WhatsApp {code}: {detail}" if code else f"WhatsApp HTTP {status}: {detail}"
    if code == THROUGHPUT:
        return RateLimited(reason, 1.0)
    if code == PAIR_RATE:
        return RateLimited(reason, 6.0, per_recipient=True)
    if code == UNDELIVERABLE:
        return RecipientGone(reason, "unreachable")
    if code == AUTH or status == 401 or status >= 500:
        return TemporaryFailure(reason)  # a bad token or Meta's outage: nothing was sent
    return PermanentFailure(reason)


def text_payload(message: OutboundMessage) -> dict:
    body = message.text
    if message.buttons:
        body += "".join(f"\n{b['text']}: {b['url']}" for b in message.buttons)
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
    def __init__(self, token: str, api_url: str, phone_number_id: str, *, max_in_flight: int, timeout: float):
        self._url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        super().__init__()

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(headers=self._headers, limits=self._limits, timeout=self._timeout)

    async def _close(self) -> None:
        await self._client.aclose()

    async def _post(self, message: OutboundMessage, content: dict) -> Outcome:
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id(message.address),
                   **content}
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                return Outcome(message.delivery_id, error=TemporaryFailure(f"WhatsApp: {exc!r}"))
            return Outcome(message.delivery_id, error=Uncertain(f"no answer from WhatsApp ({exc!r})"))
        except httpx.TransportError as exc:
            return Outcome(message.delivery_id, error=TemporaryFailure(f"WhatsApp network: {exc!r}"))
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and body.get("messages"):
            return Outcome(message.delivery_id, platform_message_id=body["messages"][0]["id"])
        return Outcome(message.delivery_id, error=error_from(response.status_code, body))

    async def _send_one(self, message: OutboundMessage) -> Outcome:
        if not message.window_open:
            if message.template is None:
                return Outcome(message.delivery_id, error=PermanentFailure(
                    "outside WhatsApp's 24-hour window and the draft has no approved template"))
            return await self._post(message, template_payload(message.template))
        outcome = await self._post(message, text_payload(message))
        # Our record of the window can be stale: WhatsApp's word wins, and a template follows.
        if isinstance(outcome.error, PermanentFailure) and outcome.error.reason.startswith(f"WhatsApp {WINDOW_CLOSED}"):
            if message.template is not None:
                return await self._post(message, template_payload(message.template))
        return outcome

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
