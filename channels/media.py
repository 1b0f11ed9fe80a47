"""Media uploaded once per platform account and reused (Telegram file_id, WhatsApp media id).

Sessions call these from their synchronous `send` (never inside their event loop: the ORM
is synchronous). Whoever uploads first records the id under the unique constraint
(platform, account, sha256); a concurrent uploader keeps the one recorded first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone


def account_key(*parts: str) -> str:
    """Which account of a platform, without keeping its credentials: a hash of them."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def known_upload(platform: str, account: str, sha256: str, *, max_age: timedelta | None = None) -> str | None:
    """The platform's id of this file on this account, if it was uploaded (and is young enough)."""
    from campaigns.models import MediaUpload

    uploads = MediaUpload.objects.filter(platform=platform, account=account, sha256=sha256)
    if max_age is not None:
        uploads = uploads.filter(created_at__gte=timezone.now() - max_age)
    return uploads.values_list("remote_id", flat=True).first()


def remember_upload(platform: str, account: str, sha256: str, remote_id: str, *, replace: bool = False) -> str:
    """Record the id a platform gave an upload; the id recorded first wins (returned).
    `replace`: an expired id is overwritten (WhatsApp media ids live 30 days)."""
    from campaigns.models import MediaUpload

    if replace:
        MediaUpload.objects.filter(platform=platform, account=account, sha256=sha256).delete()
    row, _created = MediaUpload.objects.get_or_create(
        platform=platform, account=account, sha256=sha256, defaults={"remote_id": remote_id})
    return row.remote_id


@contextmanager
def upload_lock(platform: str, account: str, sha256: str) -> Iterator[None]:
    """One uploader at a time for one file on one account, across workers (PostgreSQL
    advisory lock; elsewhere a single worker is assumed)."""
    if connection.vendor != "postgresql":
        yield
        return
    key = int.from_bytes(hashlib.blake2b(f"{platform}:{account}:{sha256}".encode(), digest_size=8).digest(),
                         "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def media_bytes(media: dict) -> bytes:
    """The stored file's bytes (media frozen with a storage `path`)."""
    with default_storage.open(media["path"], "rb") as f:
        return f.read()
