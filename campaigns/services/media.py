"""A draft's media: one image, video or document, stored through Django's storage API (or
given by URL), checked per platform before scheduling, frozen into the campaign, and served
to platforms that fetch media by URL (Viber) at a signed, unguessable address."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache

import httpx
from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from channels.limits import (
    ACCEPTED_TYPES,
    CONTENT_KINDS,
    MEDIA_MAX_BYTES,
    SNIFF_BYTES,
    media_limit,
    size_text,
    sniff_content_type,
)

from ..models import Draft
from .errors import ServiceError

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "video/mp4": ".mp4",
              "application/pdf": ".pdf"}
_SALT = "tact.media"
CHUNK = 64 * 1024


@dataclass(frozen=True)
class MediaFacts:
    """What a file is, from its bytes: the fields a draft keeps about its media."""

    media_kind: str
    media_name: str
    media_content_type: str
    media_size: int
    media_sha256: str


def max_bytes() -> int:
    """The largest file stored or fetched (the largest any platform takes, unless set lower)."""
    return getattr(settings, "TACT_MEDIA_MAX_BYTES_STORED", None) or MEDIA_MAX_BYTES


def _facts(head: bytes, size: int, digest: str, name: str, field: str) -> MediaFacts:
    content_type = sniff_content_type(head)
    if content_type is None:
        raise ServiceError({field: [_("this file is not a JPEG, PNG, GIF, MP4 or PDF (accepted: %(types)s); "
                                      "the content decides, not the name") % {"types": ACCEPTED_TYPES}]})
    base = os.path.basename(name.replace("\\", "/")).strip() or f"media{EXTENSIONS[content_type]}"
    return MediaFacts(CONTENT_KINDS[content_type].value, base[:255], content_type, size, digest)


def _too_big(field: str, size: int | None = None) -> ServiceError:
    limit = size_text(max_bytes())
    if size is None:
        return ServiceError({field: [_("the file is larger than %(limit)s, the most any platform takes")
                                     % {"limit": limit}]})
    return ServiceError({field: [_("the file is %(size)s, over the limit of %(limit)s (the most any platform "
                                   "takes)") % {"size": size_text(size), "limit": limit}]})


def inspect_upload(upload: UploadedFile, *, field: str = "file") -> MediaFacts:
    """The facts of an uploaded file, read from its bytes; ServiceError naming `field` when
    it is empty, too big or not a type we send."""
    if upload.size is not None and upload.size > max_bytes():
        raise _too_big(field, upload.size)
    digest, size, head = hashlib.sha256(), 0, b""
    upload.seek(0)
    for chunk in upload.chunks(CHUNK):
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
    upload.seek(0)
    if size == 0:
        raise ServiceError({field: [_("the file is empty")]})
    if size > max_bytes():
        raise _too_big(field, size)
    return _facts(head, size, digest.hexdigest(), upload.name or "", field)


class PrivateAddress(httpx.RequestError):
    """The URL (or a redirect) leads into our own network: not fetched (no request forgery)."""


def _public_only(request: httpx.Request) -> None:
    """Refuse a request to a loopback, private, link-local or reserved address (each hop of a
    redirect is checked), unless TACT_MEDIA_FETCH_PRIVATE allows it (tests, closed networks)."""
    if settings.TACT_MEDIA_FETCH_PRIVATE:
        return
    host = request.url.host
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, request.url.port or 443)}
    except OSError as exc:
        raise httpx.ConnectError(str(exc), request=request) from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global:
            raise PrivateAddress(f"{host} is a private address", request=request)


def fetch_media_url(url: str, *, field: str = "media_url") -> MediaFacts:
    """Fetch `url` once (timeout, size cap) to learn what it serves; ServiceError naming
    `field` when it does not answer 200 with a file we can send, or leads into our own network."""
    digest, size, head = hashlib.sha256(), 0, b""
    timeout = getattr(settings, "TACT_MEDIA_FETCH_TIMEOUT", 10.0)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True, event_hooks={"request": [_public_only]}) as client, \
                client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ServiceError({field: [_("%(url)s answered HTTP %(status)s, not the file")
                                            % {"url": url, "status": response.status_code}]})
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes():
                raise _too_big(field, int(declared))
            for chunk in response.iter_bytes(CHUNK):
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                size += len(chunk)
                if size > max_bytes():
                    raise _too_big(field)
            name = response.url.path.rsplit("/", 1)[-1]
    except PrivateAddress as exc:
        raise ServiceError({field: [_("%(url)s leads to a private network address; give a public address")
                                    % {"url": url}]}) from exc
    except httpx.HTTPError as exc:
        raise ServiceError({field: [_("%(url)s does not answer (%(error)s)")
                                    % {"url": url, "error": type(exc).__name__}]}) from exc
    if size == 0:
        raise ServiceError({field: [_("%(url)s answered with an empty file") % {"url": url}]})
    return _facts(head, size, digest.hexdigest(), name, field)


NO_MEDIA = MediaFacts("", "", "", None, "")  # type: ignore[arg-type]


def _apply(draft: Draft, facts: MediaFacts | None) -> None:
    for name, value in asdict(facts or NO_MEDIA).items():
        setattr(draft, name, value)


def discard_on_commit(name: str) -> None:
    """Delete a stored file once the change that dropped it has committed."""
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


def storage_name(facts: MediaFacts) -> str:
    """A new file's name in storage: random (the uploaded name is not trusted), the type's extension."""
    stem = get_valid_filename(os.path.splitext(facts.media_name)[0])[:40] or "media"
    return f"{stem}-{secrets.token_hex(6)}{EXTENSIONS[facts.media_content_type]}"


def draft_media_set_url(draft: Draft, url: str, facts: MediaFacts | None) -> None:
    """The draft's media becomes `url` (facts fetched from it), or none when `url` is empty."""
    old = draft.media.name
    draft.media = ""
    draft.media_url = url
    _apply(draft, facts)
    discard_on_commit(old)


@transaction.atomic
def draft_media_attach(*, draft: Draft, upload: UploadedFile) -> Draft:
    """Attach an uploaded file to `draft` (POST /api/drafts/{id}/media/)."""
    from .campaigns import campaigns_withdraw_approval

    facts = inspect_upload(upload)
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    stored = ""
    try:
        old = draft.media.name
        draft.media.save(storage_name(facts), upload, save=False)
        stored = draft.media.name
        _apply(draft, facts)
        draft.media_url = ""
        draft.save()
        campaigns_withdraw_approval(draft=draft)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    if old and old != stored:
        discard_on_commit(old)
    return draft


@transaction.atomic
def draft_media_remove(*, draft: Draft) -> Draft:
    """The draft has no media any more (DELETE /api/drafts/{id}/media/)."""
    from .campaigns import campaigns_withdraw_approval

    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    draft_media_set_url(draft, "", None)
    draft.save()
    campaigns_withdraw_approval(draft=draft)
    return draft


# --- checks and freezing -------------------------------------------------------------


def media_frozen(draft: Draft) -> dict | None:
    """What a campaign freezes of its draft's media: kind, name, type, size, sha256, and the
    storage path or the URL."""
    if not draft.media_kind:
        return None
    where = {"path": draft.media.name} if draft.media else {"url": draft.media_url}
    return {"kind": draft.media_kind, "name": draft.media_name, "content_type": draft.media_content_type,
            "size": draft.media_size, "sha256": draft.media_sha256, **where}


def media_problems(draft: Draft, platforms: Iterable[str]) -> list[str]:
    """Why the draft's media cannot go out on these platforms (type, size), one message each."""
    if not draft.media_kind:
        return []
    problems = []
    for platform in platforms:
        limit = media_limit(platform, draft.media_kind, by_url=not draft.media and bool(draft.media_url))
        if draft.media_content_type not in limit.types:
            problems.append(_("%(platform)s does not take a %(type)s file as %(kind)s (it takes %(types)s)") % {
                "platform": platform, "type": draft.media_content_type, "kind": draft.media_kind,
                "types": ", ".join(sorted(limit.types))})
        elif (draft.media_size or 0) > limit.max_bytes:
            problems.append(_("%(platform)s: the %(kind)s is %(size)s, over the limit of %(limit)s") % {
                "platform": platform, "kind": draft.media_kind, "size": size_text(draft.media_size or 0),
                "limit": size_text(limit.max_bytes)})
    return problems


# --- the public address (platforms that fetch media by URL) --------------------------


def media_public_url(media: dict) -> str:
    """Where a platform fetches frozen media: the URL it came from, or our signed address of
    the stored file ({TACT_PUBLIC_URL}/m/<token>/<name>), unguessable and unchangeable."""
    if media.get("url"):
        return media["url"]
    return f"{settings.TACT_PUBLIC_URL}{media_path(media)}"


def media_path(media: dict) -> str:
    """The signed path of a stored file on this server: /m/<token>/<name> (signed once per
    file and key, not once per message: a campaign's messages share one address)."""
    return _signed_path(media["path"], media["content_type"], media.get("name") or "", settings.SECRET_KEY)


@lru_cache(maxsize=256)
def _signed_path(path: str, content_type: str, name: str, key: str) -> str:
    # `key` only keys the cache: a changed SECRET_KEY signs afresh.
    token = signing.dumps({"p": path, "t": content_type}, salt=_SALT)
    try:
        shown = get_valid_filename(name or "media")
    except SuspiciousFileOperation:  # nothing usable left of the name
        shown = "media"
    return f"/m/{token}/{shown}"


def media_from_token(token: str) -> tuple[str, str] | None:
    """(storage path, content type) of a signed token; None when it was tampered with."""
    try:
        data = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), str) or not isinstance(data.get("t"), str):
        return None
    return data["p"], data["t"]
