"""A campaign's Telegram paid broadcast in the admin: the field's help text with what it costs,
and the form's check that Telegram is chosen (campaigns/delivery/paid.py)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext

from channels.limits import TELEGRAM_FREE_PER_SECOND, TELEGRAM_PAID_MAX_PER_SECOND

from ..delivery.paid import paid_rate, stars_cost
from ..services.paid_broadcast import paid_platform_problem

FIELD = "paid_broadcast"
EXAMPLE_RECEIVERS = 10_000


def help_text() -> str:
    """What a paid broadcast does and costs, at this installation's paid ceiling."""
    rate = paid_rate() or TELEGRAM_PAID_MAX_PER_SECOND
    return gettext(
        "Telegram only: up to %(rate)s messages a second (allow_paid_broadcast) instead of the free %(free)s, for "
        "0.1 Telegram Stars per message above the free %(free)s a second; e.g. %(people)s Telegram receivers cost "
        "at most %(stars)s Stars. The forecast shows this campaign's cost; scheduling checks the bot's Stars balance."
    ) % {"rate": f"{rate:g}", "free": TELEGRAM_FREE_PER_SECOND, "people": f"{EXAMPLE_RECEIVERS:,}",
         "stars": f"{stars_cost(EXAMPLE_RECEIVERS, rate):,}"}


def clean_paid_broadcast(form: forms.ModelForm, data: dict) -> None:
    """A paid broadcast without Telegram chosen is an error on the field (when the form has it:
    a scheduled campaign shows it read-only)."""
    if FIELD not in form.fields or "platforms" not in data:  # no platforms: their own error says so
        return
    if problem := paid_platform_problem(bool(data.get(FIELD)), data["platforms"] or []):
        form.add_error(FIELD, problem)
