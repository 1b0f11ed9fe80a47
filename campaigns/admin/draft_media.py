"""The draft editor's media: a file input and a media URL, checked like the API checks them
(services/media.py), and what the preview shows of the media (a thumbnail or a file name)."""

from __future__ import annotations

import dataclasses

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest

from channels.limits import SNIFF_BYTES, sniff_content_type

from ..models import Draft
from ..services import ServiceError
from ..services import media as media_service

MEDIA_FIELDS = ["media", "media_url"]


class DraftMediaFormMixin:
    """For the draft's ModelForm: an upload wins over a URL; a URL is fetched once when it
    changed; a bad file or a URL that does not answer is an error on its own field."""

    def clean(self) -> dict:
        cleaned = super().clean()  # type: ignore[misc]
        self._media_facts = None
        upload = cleaned.get("media")
        url = cleaned.get("media_url") or ""
        try:
            if isinstance(upload, UploadedFile):
                self._media_facts = media_service.inspect_upload(upload, field="media")
            elif url and ("media_url" in self.changed_data or not self.instance.media_kind):  # type: ignore[attr-defined]
                self._media_facts = media_service.fetch_media_url(url)
        except ServiceError as exc:
            for field, messages in exc.by_field.items():
                self.add_error(field or None, messages)  # type: ignore[attr-defined]
        return cleaned

    def save(self, commit: bool = True) -> Draft:
        draft: Draft = self.instance  # type: ignore[attr-defined]
        old = Draft.objects.filter(pk=draft.pk).values_list("media", flat=True).first() if draft.pk else ""
        upload = self.cleaned_data.get("media")  # type: ignore[attr-defined]
        facts = self._media_facts
        if isinstance(upload, UploadedFile) and facts is not None:
            upload.name = media_service.storage_name(facts)  # the stored name is ours, not the uploader's
        draft = super().save(commit=False)  # type: ignore[misc]
        if isinstance(upload, UploadedFile) and facts is not None:
            draft.media_url = ""
            for name, value in dataclasses.asdict(facts).items():
                setattr(draft, name, value)
        elif facts is not None:  # a new URL
            media_service.draft_media_set_url(draft, draft.media_url, facts)
        elif not draft.media and not draft.media_url:  # cleared
            media_service.draft_media_set_url(draft, "", None)
        if old and old != draft.media.name:
            media_service.discard_on_commit(old)
        if commit:
            draft.save()
        return draft


def _thumbnail(media: dict) -> str:
    if media["kind"] != "image":
        return ""
    if media.get("url"):
        return media["url"]
    return media_service.media_path(media)


def stored_media(draft: Draft | None) -> dict | None:
    """What the preview shows of a saved draft's media."""
    if draft is None:
        return None
    frozen = media_service.media_frozen(draft)
    if frozen is None:
        return None
    return {"kind": frozen["kind"], "name": frozen["name"], "thumbnail": _thumbnail(frozen)}


def posted_media(request: HttpRequest, draft: Draft | None) -> dict | None:
    """What the preview shows for the form as posted: a newly chosen file (its kind from its
    first bytes, no thumbnail before it is saved), the saved media unless cleared, or none."""
    upload = request.FILES.get("media")
    if upload is not None:
        content_type = sniff_content_type(upload.read(SNIFF_BYTES))
        upload.seek(0)
        if content_type is None:
            return None
        kind = media_service.CONTENT_KINDS[content_type].value
        return {"kind": kind, "name": upload.name, "thumbnail": ""}
    if request.POST.get("media-clear"):
        return None
    saved = stored_media(draft)
    url = request.POST.get("media_url", "").strip()
    if url and (draft is None or url != draft.media_url):
        return None  # not fetched yet: the preview shows it once saved
    return saved


def draft_of(request: HttpRequest) -> Draft | None:
    raw = request.GET.get("draft", "")
    return Draft.objects.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 19 else None
