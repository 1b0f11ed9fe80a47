"""Viber REST bot API over httpx: broadcast_message, 300 receivers a call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import httpx

from . import transport
from .aio import LoopSession, unexpected
from .base import (
    AccountRefused,
    ChannelError,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    RateLimited,
    RecipientGone,
    Uncertain,
)
from .limits import Platform, text_as_sent

BROADCAST_MAX = 300
# developers.viber.com, "Error codes"
BAD_AUTH = 2
RECEIVER_NOT_REGISTERED = 5
NOT_SUBSCRIBED = 6
TOO_MANY_REQUESTS = 12
BROADCAST_NOT_ALLOWED = 20
FREE_MESSAGES_EXCEEDED = 23
NO_BALANCE = 24
ACCOUNT_STATUSES = frozenset({BAD_AUTH, BROADCAST_NOT_ALLOWED, FREE_MESSAGES_EXCEEDED, NO_BALANCE})

# httpx errors raised before a byte of the request reached Viber: sending again is safe.


def error_from(status: int, message: str) -> ChannelError:
    """A Viber status other than 0 (of a request, or of one receiver in a failed_list)."""
    reason = f"Viber {status}: {message}"
    if status == TOO_MANY_REQUESTS:
        return RateLimited(reason, 10.0)  # the limit is counted over 10 s
    if status in ACCOUNT_STATUSES:
        return AccountRefused(reason)
    if status == NOT_SUBSCRIBED:
        return RecipientGone(reason, "opted_out")
    if status == RECEIVER_NOT_REGISTERED:
        return RecipientGone(reason, "unreachable")
    return PermanentFailure(reason)


def no_answer(detail: str) -> Uncertain:
    return transport.no_answer("Viber", detail)


def transport_error(exc: httpx.HTTPError) -> ChannelError:
    """An httpx error instead of an answer (channels/transport.py)."""
    return transport.transport_error("Viber", exc)


def answer_from(http_status: int, content: bytes) -> dict | ChannelError:
    """Viber's answer to one call: its JSON when it says status 0, else our error. Viber
    answers HTTP 200 with a status; anything else came from something in between."""
    if http_status >= 500:
        return no_answer(f"HTTP {http_status}")
    if http_status == 429:
        return RateLimited(f"Viber HTTP {http_status}", 10.0)
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return no_answer(f"HTTP {http_status} without JSON")
    status = body.get("status")
    if not isinstance(status, int):
        if http_status == 200:
            return no_answer("HTTP 200 without a status")
        return PermanentFailure(f"Viber HTTP {http_status}: {body.get('status_message', '')}")
    if status != 0:
        return error_from(status, str(body.get("status_message", "")))
    return body


def is_phone(address: str) -> bool:
    return address.startswith("+")


def _keyboard(buttons: list[dict]) -> dict | None:
    if not buttons:
        return None
    return {
        "Type": "keyboard",
        "DefaultHeight": False,
        "Buttons": [{"ActionType": "open-url", "ActionBody": b["url"], "Text": b["text"], "Columns": 6, "Rows": 1}
                    for b in links],
    } if (links := [b for b in buttons if "url" in b]) else None


def broadcast_outcomes(part: Sequence[OutboundMessage], answer: dict | ChannelError) -> list[Outcome]:
    """One outcome per receiver of a broadcast_message call, from its answer: an error of
    the whole call (an ambiguous one included) is every receiver's; otherwise each receiver
    in its failed_list has its own status and the others were sent."""
    if isinstance(answer, ChannelError):
        return [Outcome(m.delivery_id, error=answer) for m in part]
    failed = {f.get("receiver"): f for f in answer.get("failed_list") or [] if isinstance(f, dict)}
    token = str(answer.get("message_token", ""))
    outcomes = []
    for m in part:
        if m.address in failed:
            f = failed[m.address]
            outcomes.append(Outcome(m.delivery_id, error=error_from(f.get("status", -1), f.get("status_message", ""))))
        else:
            outcomes.append(Outcome(m.delivery_id, platform_message_id=token))
    return outcomes


class ViberSession(LoopSession):
    def __init__(self, token: str, api_url: str, sender_name: str, *, timeout: float,
                 transport: httpx.AsyncBaseTransport | None = None):
        self._api = api_url.rstrip("/")
        self._headers = {"X-Viber-Auth-Token": token}
        self._sender = {"name": sender_name}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._transport = transport  # None: the network (unit tests pass httpx.MockTransport)
        super().__init__()

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(headers=self._headers, timeout=self._timeout, transport=self._transport)

    async def _close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, payload: dict) -> dict | ChannelError:
        try:
            response = await self._client.post(f"{self._api}/{method}", json=payload)
        except httpx.HTTPError as exc:
            return transport_error(exc)
        return answer_from(response.status_code, response.content)

    async def _broadcast(self, part: Sequence[OutboundMessage]) -> list[Outcome]:
        payload = {"sender": self._sender, "type": "text", "text": text_as_sent(Platform.VIBER, part[0].text, part[0].buttons),
                   "broadcast_list": [m.address for m in part]}
        if keyboard := _keyboard(part[0].buttons):
            payload["keyboard"] = keyboard
        if part[0].media:
            return await self._broadcast_media(part, payload, part[0].media)
        return broadcast_outcomes(part, await self._call("broadcast_message", payload))

    async def _broadcast_media(self, part: Sequence[OutboundMessage], payload: dict, media: dict) -> list[Outcome]:
        """Viber fetches media by URL (ours is signed, shared/API.md). A picture carries the
        text (768 at most); a video or file carries none, so the text follows as its own
        message to those who got the file."""
        if media["kind"] == "image":
            payload = {**payload, "type": "picture", "media": media["public_url"]}
            return broadcast_outcomes(part, await self._call("broadcast_message", payload))
        file_payload = {"sender": self._sender, "broadcast_list": [m.address for m in part],
                        "type": "video" if media["kind"] == "video" else "file",
                        "media": media["public_url"], "size": media["size"]}
        if media["kind"] != "video":
            file_payload["file_name"] = media.get("name") or "file"
        outcomes = broadcast_outcomes(part, await self._call("broadcast_message", file_payload))
        took = [i for i, o in enumerate(outcomes) if o.sent]
        if not took or not payload.get("text"):
            return outcomes
        got = [part[i] for i in took]
        answer = await self._call("broadcast_message", {**payload, "broadcast_list": [m.address for m in got]})
        for i, outcome in zip(took, broadcast_outcomes(got, answer), strict=True):
            outcomes[i] = outcome
        return outcomes

    async def _send_all(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """One broadcast_message call per 300 people with the same text, all at once;
        per-person failures come back in its failed_list."""
        outcomes: dict[int, Outcome] = {}
        groups: dict[tuple, list[OutboundMessage]] = {}
        for m in messages:
            if is_phone(m.address):
                outcomes[m.delivery_id] = Outcome(m.delivery_id, error=PermanentFailure(
                    "Viber bots reach people by their Viber user id; this subscription has only a phone number"))
            else:
                groups.setdefault((m.text, tuple(tuple(sorted(b.items())) for b in m.buttons)), []).append(m)
        parts = [group[start : start + BROADCAST_MAX]
                 for group in groups.values() for start in range(0, len(group), BROADCAST_MAX)]
        # One call's exception must not lose the outcomes of the others.
        results = await asyncio.gather(*(self._broadcast(part) for part in parts), return_exceptions=True)
        for part, result in zip(parts, results, strict=True):
            if isinstance(result, BaseException):
                error = unexpected(result)
                result = [Outcome(m.delivery_id, error=error) for m in part]
            outcomes.update((o.delivery_id, o) for o in result)
        return [outcomes[m.delivery_id] for m in messages]

    async def _reply(self, address: str, text: str) -> Outcome:
        answer = await self._call("send_message", {"receiver": address, "min_api_version": 1,
                                                   "sender": self._sender, "type": "text", "text": text})
        if isinstance(answer, ChannelError):
            return Outcome(0, error=answer)
        return Outcome(0, platform_message_id=str(answer.get("message_token", "")))


class ViberChannel:
    platform = "viber"
    sandbox = False
    per_request = BROADCAST_MAX

    def __init__(self, token: str, api_url: str, sender_name: str, *, timeout: float = 20.0):
        self._args = (token, api_url, sender_name)
        self._timeout = timeout

    def open(self) -> ViberSession:
        return ViberSession(*self._args, timeout=self._timeout)
