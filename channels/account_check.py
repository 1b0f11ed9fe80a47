"""Does a sender account's credentials work? One harmless read on its platform: Telegram
getMe, WhatsApp the phone number (GET /<phone-number-id>), Viber get_account_info.

Nothing here stores anything; the answer says who the platform says we are, or why it
refused. Secrets never appear in the answer (a vendor's message that repeats one has it
replaced by "…").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from .base import Uncertain
from .viber import answer_from as viber_answer
from .whatsapp import error_from as whatsapp_error


@dataclass(frozen=True)
class AccountCheck:
    ok: bool
    detail: str  # who the platform says the account is, or why it refused


def _api_url(platform: str, credentials: dict[str, str]) -> str:
    return (credentials.get("api_url") or {
        "telegram": settings.TELEGRAM_API_URL, "whatsapp": settings.WHATSAPP_API_URL, "viber": settings.VIBER_API_URL,
    }[platform]).rstrip("/")


def _not_reached(platform: str, exc: httpx.HTTPError) -> AccountCheck:
    return AccountCheck(False, _("%(platform)s not reached (%(error)s)")
                        % {"platform": platform, "error": f"{type(exc).__name__}: {exc}"[:200]})


def _server_error(platform: str, status: int) -> AccountCheck:
    return AccountCheck(False, _("%(platform)s answered HTTP %(status)s; try again later")
                        % {"platform": platform, "status": status})


def _telegram(credentials: dict[str, str], timeout: float) -> AccountCheck:
    from telegram import Bot  # python-telegram-bot: only when a Telegram account is checked
    from telegram.error import TelegramError
    from telegram.request import HTTPXRequest

    from .telegram import error_from as telegram_error

    base_url = _api_url("telegram", credentials).removesuffix("/bot") + "/bot"

    async def me():
        request = HTTPXRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=min(timeout, 10.0),
                               pool_timeout=timeout)
        async with Bot(credentials["token"], base_url=base_url, request=request) as bot:  # getMe, then shutdown
            return bot.bot

    try:
        user = asyncio.run(me())
    except TelegramError as exc:
        error = telegram_error(exc)
        if isinstance(error, Uncertain):  # not "it may have been sent": nothing is sent here
            return AccountCheck(False, _("no answer from Telegram (%(error)s)") % {"error": exc.message[:200]})
        return AccountCheck(False, error.reason)
    return AccountCheck(True, _("Telegram bot @%(username)s (%(name)s, id %(id)s)")
                        % {"username": user.username, "name": user.first_name, "id": user.id})


def _whatsapp(credentials: dict[str, str], timeout: float) -> AccountCheck:
    url = f"{_api_url('whatsapp', credentials)}/{credentials['phone_number_id']}"
    try:
        response = httpx.get(url, params={"fields": "display_phone_number,verified_name"}, timeout=timeout,
                             headers={"Authorization": f"Bearer {credentials['access_token']}"})
    except httpx.HTTPError as exc:
        return _not_reached("WhatsApp", exc)
    if response.status_code >= 500:
        return _server_error("WhatsApp", response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "error" in body:
        return AccountCheck(False, whatsapp_error(response.status_code, body).reason)
    return AccountCheck(True, _("WhatsApp number %(number)s (%(name)s)")
                        % {"number": body.get("display_phone_number") or credentials["phone_number_id"],
                           "name": body.get("verified_name") or "-"})


def _viber(credentials: dict[str, str], timeout: float) -> AccountCheck:
    try:
        response = httpx.post(f"{_api_url('viber', credentials)}/get_account_info", json={}, timeout=timeout,
                              headers={"X-Viber-Auth-Token": credentials["auth_token"]})
    except httpx.HTTPError as exc:
        return _not_reached("Viber", exc)
    if response.status_code >= 500:
        return _server_error("Viber", response.status_code)
    answer = viber_answer(response.status_code, response.content)
    if not isinstance(answer, dict):
        return AccountCheck(False, answer.reason)
    return AccountCheck(True, _("Viber bot %(name)s (%(uri)s)") % {"name": answer.get("name") or "-",
                                                                   "uri": answer.get("uri") or "-"})


CHECKS = {"telegram": _telegram, "whatsapp": _whatsapp, "viber": _viber}


def check_account(platform: str, credentials: dict[str, str], *, secrets: tuple[str, ...] = (),
                  timeout: float = 10.0) -> AccountCheck:
    """Ask the platform whether `credentials` work; `secrets` (their names) are kept out of the answer."""
    try:
        found = CHECKS[platform](credentials, timeout)
    except Exception as exc:  # a vendor surprise: say it rather than fail the page
        found = AccountCheck(False, _("unexpected answer (%(error)s)") % {"error": type(exc).__name__})
    detail = found.detail
    for name in secrets:
        if value := credentials.get(name):
            detail = detail.replace(value, "…")
    return AccountCheck(found.ok, detail)
