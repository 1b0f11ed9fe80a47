"""Viber REST bot API over httpx: broadcast_message, 300 receivers a call."""

from __future__ import annotations

from collections.abc import Sequence

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

BROADCAST_MAX = 300
# developers.viber.com, "Error codes"
RECEIVER_NOT_REGISTERED = 5
NOT_SUBSCRIBED = 6
TOO_MANY_REQUESTS = 12
BAD_AUTH = 2


def error_from(status: int, message: str) -> ChannelError:
    reason = f"Viber {status}: {message}"
    if status == TOO_MANY_REQUESTS:
        return RateLimited(reason, 10.0)  # the limit is counted over 10 s
    if status == NOT_SUBSCRIBED:
        return RecipientGone(reason, "opted_out")
    if status == RECEIVER_NOT_REGISTERED:
        return RecipientGone(reason, "unreachable")
    if status == BAD_AUTH:
        return TemporaryFailure(reason)
    return PermanentFailure(reason)


def is_phone(address: str) -> bool:
    return address.startswith("+")


def _keyboard(buttons: list[dict]) -> dict | None:
    if not buttons:
        return None
    return {
        "Type": "keyboard",
        "DefaultHeight": False,
        "Buttons": [{"ActionType": "open-url", "ActionBody": b["url"], "Text": b["text"], "Columns": 6, "Rows": 1}
                    for b in buttons],
    }


class ViberSession(LoopSession):
    def __init__(self, token: str, api_url: str, sender_name: str, *, timeout: float):
        self._api = api_url.rstrip("/")
        self._headers = {"X-Viber-Auth-Token": token}
        self._sender = {"name": sender_name}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        super().__init__()

    async def _open(self) -> None:
        self._client = httpx.AsyncClient(headers=self._headers, timeout=self._timeout)

    async def _close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, payload: dict) -> dict | ChannelError:
        try:
            response = await self._client.post(f"{self._api}/{method}", json=payload)
            body = response.json()
        except httpx.TimeoutException as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
                return TemporaryFailure(f"Viber: {exc!r}")
            return Uncertain(f"no answer from Viber ({exc!r})")
        except httpx.TransportError as exc:
            return TemporaryFailure(f"Viber network: {exc!r}")
        except ValueError:
            return TemporaryFailure(f"Viber answered HTTP {response.status_code} without JSON")
        if response.status_code >= 500:
            return TemporaryFailure(f"Viber HTTP {response.status_code}")
        if body.get("status") != 0:
            return error_from(body.get("status", -1), body.get("status_message", ""))
        return body

    async def _send_all(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        """One broadcast_message call per 300 people with the same text; per-person failures
        come back in its failed_list."""
        outcomes: dict[int, Outcome] = {}
        by_user: list[OutboundMessage] = []
        for m in messages:
            if is_phone(m.address):
                outcomes[m.delivery_id] = Outcome(m.delivery_id, error=PermanentFailure(
                    "Viber bots reach people by their Viber user id; this subscription has only a phone number"))
            else:
                by_user.append(m)
        groups: dict[tuple, list[OutboundMessage]] = {}
        for m in by_user:
            groups.setdefault((m.text, tuple((b["text"], b["url"]) for b in m.buttons)), []).append(m)
        for group in groups.values():
            for start in range(0, len(group), BROADCAST_MAX):
                part = group[start : start + BROADCAST_MAX]
                payload = {"sender": self._sender, "type": "text", "text": part[0].text,
                           "broadcast_list": [m.address for m in part]}
                if keyboard := _keyboard(part[0].buttons):
                    payload["keyboard"] = keyboard
                answer = await self._call("broadcast_message", payload)
                if isinstance(answer, ChannelError):
                    outcomes.update({m.delivery_id: Outcome(m.delivery_id, error=answer) for m in part})
                    continue
                failed = {f["receiver"]: f for f in answer.get("failed_list") or []}
                token = str(answer.get("message_token", ""))
                for m in part:
                    if m.address in failed:
                        f = failed[m.address]
                        outcomes[m.delivery_id] = Outcome(
                            m.delivery_id, error=error_from(f.get("status", -1), f.get("status_message", "")))
                    else:
                        outcomes[m.delivery_id] = Outcome(m.delivery_id, platform_message_id=token)
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
