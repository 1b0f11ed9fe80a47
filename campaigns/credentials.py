"""Sender accounts' credentials, encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256).

The key comes from TACT_CREDENTIALS_KEY: one or more Fernet keys separated by commas; the
first encrypts, all decrypt (so a key can be rotated: put the new one first, run
`manage.py tact_rotate_credentials`, then drop the old one). Without it the key is derived
from DJANGO_SECRET_KEY (HKDF-SHA256), which is enough for the demo; production should set
its own key, so that a leaked SECRET_KEY does not also open the platform tokens.
"""

from __future__ import annotations

import base64
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class CredentialsUnreadable(Exception):
    """The stored credentials cannot be decrypted with any configured key."""


def _derived_key() -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"tact-credentials", info=b"sender-accounts").derive(
        settings.SECRET_KEY.encode()
    )
    return base64.urlsafe_b64encode(raw)


@cache
def _fernet(configured: str, secret_key: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()]
    return MultiFernet([Fernet(k) for k in keys] if keys else [Fernet(_derived_key())])


def fernet() -> MultiFernet:
    return _fernet(settings.TACT_CREDENTIALS_KEY, settings.SECRET_KEY)


def encrypt(values: dict[str, str]) -> str:
    return fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise CredentialsUnreadable(
            "the sender account's credentials cannot be decrypted: TACT_CREDENTIALS_KEY (or DJANGO_SECRET_KEY) "
            "is not the key they were saved with"
        ) from exc


def rotate(token: str) -> str:
    """The same credentials under the first (newest) key."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsUnreadable("no configured key opens these credentials") from exc
