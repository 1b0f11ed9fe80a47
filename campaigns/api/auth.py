"""API tokens that expire and can be revoked, and the client address by which both the
token endpoint and the admin login count attempts.

Loaded by DRF's settings while rest_framework.views is still importing: no views here
(the token endpoint is in tokens.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.throttling import BaseThrottle

if TYPE_CHECKING:  # the model is imported when used: this module may load before the apps
    from rest_framework.authtoken.models import Token


def client_ip(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind TACT_PROXY_COUNT proxies the entry they
    appended to X-Forwarded-For (what DRF's throttling uses too)."""
    return BaseThrottle().get_ident(request)


def token_expires_at(token: Token) -> datetime | None:
    """When `token` stops being accepted (None: never, TACT_TOKEN_TTL_HOURS=0)."""
    hours = settings.TACT_TOKEN_TTL_HOURS
    return token.created + timedelta(hours=hours) if hours > 0 else None


def token_expired(token: Token, *, now: datetime | None = None) -> bool:
    expires_at = token_expires_at(token)
    return expires_at is not None and expires_at <= (now or timezone.now())


def token_obtain(*, user: AbstractBaseUser) -> Token:
    """The user's token: the current one, or a new one when there is none or it expired."""
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    if token_expired(token):
        Token.objects.filter(key=token.key).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token


def token_revoke(*, user: AbstractBaseUser) -> int:
    """Delete the user's token; how many were deleted (0 or 1)."""
    from rest_framework.authtoken.models import Token

    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing tokens older than TACT_TOKEN_TTL_HOURS."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Token]:
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            raise AuthenticationFailed(_("token expired"))
        return user, token
