"""Who sees phone numbers and chat ids whole: users with campaigns.view_address. Everyone
else (the Analyst group) sees them masked (rules.mask_address) in the API, the admin and
exports."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from . import rules
from .models import Subscription

VIEW_ADDRESS = "campaigns.view_address"


def sees_addresses(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    return bool(user is not None and user.is_authenticated and user.has_perm(VIEW_ADDRESS))


def shown_address(subscription: Subscription, *, masked: bool) -> str:
    return rules.mask_address(subscription.platform, subscription.address) if masked else subscription.address


def shown_evidence(evidence: object, subscription: Subscription, *, masked: bool) -> object:
    """Consent evidence (a Telegram user id, a WhatsApp number, a Viber user) as shown."""
    return rules.mask_within(evidence, subscription.platform, subscription.address) if masked else evidence


def hide_address(subscription: Subscription) -> None:
    """Mask the address of an instance that is only shown, never saved (admin pages)."""
    subscription.address = rules.mask_address(subscription.platform, subscription.address)
