"""A draft's media over the API: upload, media_url, per-platform checks before scheduling,
the caption limit, the frozen copy and the signed public address."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.delivery.outbound import campaign_content, media_for
from campaigns.models import Campaign, Draft
from tests.conftest import CampaignFactory, DraftFactory, SegmentFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG_2MB = b"\xff\xd8\xff\xe0" + b"\x00" * (2 * 1024 * 1024)
GIF = b"GIF89a" + b"\x01" * 500
PDF = b"%PDF-1.7\n" + b"x" * 1000


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TACT_MEDIA_FETCH_PRIVATE = True  # the files are served on 127.0.0.1 here
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
    return settings.MEDIA_ROOT


@pytest.fixture
def api(admin_client_api: APIClient) -> APIClient:
    admin_client_api.raise_request_exception = False
    return admin_client_api


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(api: APIClient, draft: Draft, content: bytes, name: str):
    return api.post(f"/api/drafts/{draft.pk}/media/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


class Serve:
    """A tiny HTTP server on loopback answering GET /<anything> with `content`."""

    def __init__(self, content: bytes, status: int = 200):
        body, code = content, status
        self.requests = 0
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                served.requests += 1
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/files/offer.png"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_an_uploaded_image_is_stored_and_described_from_its_bytes_not_its_name(
        api, media_root, django_capture_on_commit_callbacks):
    draft = DraftFactory(body="Sale today")
    answer = upload(api, draft, PNG, "offer.pdf")  # the name lies; the bytes say PNG
    assert answer.status_code == 200, answer.content
    assert answer.json()["media"] == {"kind": "image", "name": "offer.pdf", "content_type": "image/png",
                                      "size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest(), "source": "upload"}
    draft.refresh_from_db()
    assert default_storage.open(draft.media.name).read() == PNG
    assert draft.media.name.endswith(".png")
    # the preview switches to the caption limit
    assert answer.json()["previews"]["telegram"]["body_limit"] == 1024
    assert answer.json()["previews"]["viber"]["body_limit"] == 768

    # replacing it leaves one file in storage, and DELETE leaves none
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(api, draft, PDF, "terms.pdf").json()["media"]["kind"] == "document"
    assert [p.read_bytes() for p in stored_files(media_root)] == [PDF]
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.delete(f"/api/drafts/{draft.pk}/media/")
    assert answer.status_code == 200 and answer.json()["media"] is None
    assert stored_files(media_root) == []
    draft.refresh_from_db()
    assert (draft.media.name, draft.media_kind, draft.media_size, draft.media_sha256) == ("", "", None, "")


def test_a_file_of_another_type_or_too_big_is_refused_naming_the_field_and_nothing_is_saved(api, media_root, settings):
    draft = DraftFactory(body="Sale today")
    answer = upload(api, draft, b"<html>not an image</html>", "photo.jpg")
    assert answer.status_code == 400
    assert list(answer.json()) == ["file"]
    assert "JPEG, PNG, GIF, MP4, PDF" in answer.json()["file"][0]

    settings.TACT_MEDIA_MAX_BYTES_STORED = 1024 * 1024
    answer = upload(api, draft, JPEG_2MB, "big.jpg")
    assert answer.status_code == 400
    assert answer.json() == {"file": ["the file is 2 MB, over the limit of 1 MB (the most any platform takes)"]}

    assert api.post(f"/api/drafts/{draft.pk}/media/", {}, format="multipart").status_code == 400
    assert stored_files(media_root) == []
    draft.refresh_from_db()
    assert (draft.media.name, draft.media_kind, draft.media_size) == ("", "", None)


def test_a_media_url_into_our_own_network_is_refused_and_nothing_is_fetched(api, settings):
    settings.TACT_MEDIA_FETCH_PRIVATE = False  # the default: no request forgery into our network
    served = Serve(PNG)
    try:
        answer = api.post("/api/drafts/", {"title": "t", "body": "Sale", "media_url": served.url}, format="json")
    finally:
        served.close()
    assert answer.status_code == 400
    assert answer.json() == {"media_url": [f"{served.url} leads to a private network address; give a public address"]}
    assert served.requests == 0
    assert not Draft.objects.exists()


def test_a_media_url_is_fetched_once_on_save_and_one_that_does_not_answer_is_refused(api):
    served = Serve(PNG)
    try:
        answer = api.post("/api/drafts/", {"title": "t", "body": "Sale", "media_url": served.url}, format="json")
        assert answer.status_code == 201, answer.content
        assert answer.json()["media"] == {"kind": "image", "name": "offer.png", "content_type": "image/png",
                                          "size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest(), "source": "url"}
    finally:
        served.close()
    draft = Draft.objects.get(pk=answer.json()["id"])

    # the server is gone now: a new URL that does not answer is refused and nothing changes
    gone = served.url.replace("offer.png", "other.png")
    answer = api.patch(f"/api/drafts/{draft.pk}/", {"media_url": gone, "title": "changed"}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()) == ["media_url"]
    assert gone in answer.json()["media_url"][0] and "does not answer" in answer.json()["media_url"][0]
    draft.refresh_from_db()
    assert (draft.title, draft.media_url, draft.media_kind) == ("t", served.url, "image")

    missing = Serve(b"not found", status=404)
    try:
        answer = api.patch(f"/api/drafts/{draft.pk}/", {"media_url": missing.url}, format="json")
    finally:
        missing.close()
    assert answer.status_code == 400
    assert answer.json() == {"media_url": [f"{missing.url} answered HTTP 404, not the file"]}

    # an empty media_url removes the media
    answer = api.patch(f"/api/drafts/{draft.pk}/", {"media_url": ""}, format="json")
    assert answer.status_code == 200 and answer.json()["media"] is None


def _campaign(draft: Draft, platforms: list[str]) -> Campaign:
    return CampaignFactory(draft=draft, segment=SegmentFactory(), platforms=platforms,
                           send_at=timezone.now() + timedelta(hours=1))


def test_scheduling_checks_type_and_size_per_platform(api):
    draft = DraftFactory(body="Sale today")
    assert upload(api, draft, JPEG_2MB, "big.jpg").status_code == 200
    campaign = _campaign(draft, ["telegram", "whatsapp", "viber"])
    answer = api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    assert answer.status_code == 400
    assert answer.json() == {"media": ["viber: the image is 2 MB, over the limit of 1 MB"]}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.content_media) == (Campaign.Status.DRAFT, None)

    assert upload(api, draft, GIF, "anim.gif").status_code == 200
    answer = api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    assert answer.status_code == 400
    assert answer.json() == {"media": [
        "whatsapp does not take a image/gif file as image (it takes image/jpeg, image/png)",
        "viber does not take a image/gif file as image (it takes image/jpeg, image/png)",
    ]}
    telegram_only = _campaign(draft, ["telegram"])
    assert api.post(f"/api/campaigns/{telegram_only.pk}/schedule/").status_code == 200


def test_with_media_the_caption_limit_applies_instead_of_the_body_limit(api):
    # 1000 letters and 20 emoji: 1020 code points, 1040 UTF-16 units (as Telegram counts)
    body = "Sale\n" + "a" * 995 + "🎁" * 20
    draft = DraftFactory(body=body, buttons=[])
    campaign = _campaign(draft, ["telegram", "whatsapp"])
    assert upload(api, draft, PNG, "p.png").status_code == 200
    answer = api.post(f"/api/campaigns/{campaign.pk}/schedule/")
    assert answer.status_code == 400
    assert answer.json() == {"draft": [
        "telegram: the caption (the text sent with the media) is 1040 characters, over the limit of 1024"]}
    api.delete(f"/api/drafts/{draft.pk}/media/")
    assert api.post(f"/api/campaigns/{campaign.pk}/schedule/").status_code == 200


def test_scheduling_freezes_the_media_and_its_public_address_serves_the_exact_bytes(api, client, settings):
    settings.TACT_PUBLIC_URL = "https://tact.example.com"
    draft = DraftFactory(body="Sale today")
    assert upload(api, draft, PNG, "offer.png").status_code == 200
    draft.refresh_from_db()
    campaign = _campaign(draft, ["viber"])
    assert api.post(f"/api/campaigns/{campaign.pk}/schedule/").status_code == 200
    campaign.refresh_from_db()
    assert campaign.content_media == {"kind": "image", "name": "offer.png", "content_type": "image/png",
                                      "size": len(PNG), "sha256": hashlib.sha256(PNG).hexdigest(),
                                      "path": draft.media.name}

    url = media_for(campaign_content(campaign))["public_url"]
    assert url.startswith("https://tact.example.com/m/") and url.endswith("/offer.png")
    path = url.removeprefix("https://tact.example.com")
    answer = client.get(path)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "image/png"
    assert b"".join(answer.streaming_content) == PNG

    token = path.split("/")[2]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(path.replace(token, tampered)).status_code == 404
    assert client.get("/m/not-a-token/offer.png").status_code == 404


# --- the admin: the draft form's file input and media URL, and the preview ----------------

ADD = "/admin/campaigns/draft/add/"
PREVIEW = "/admin/campaigns/draft/preview/"


@pytest.fixture
def marketer(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", password="x-secret-123"))
    return client


def test_the_admin_form_attaches_a_file_and_the_preview_shows_it_with_the_caption_limit(marketer, media_root):
    page = marketer.get(ADD)
    assert b'enctype="multipart/form-data"' in page.content
    assert b'name="media"' in page.content and b'name="media_url"' in page.content

    answer = marketer.post(ADD, {"title": "Photo offer", "body": "Sale today",
                                 "media": SimpleUploadedFile("photo.jpg", PNG)})
    assert answer.status_code == 302
    draft = Draft.objects.get()
    assert (draft.media_kind, draft.media_content_type, draft.media_size, draft.media_name) == (
        "image", "image/png", len(PNG), "photo.jpg")
    assert default_storage.open(draft.media.name).read() == PNG

    # the change page's preview: a thumbnail served by the signed address, the caption limit
    page = marketer.get(f"/admin/campaigns/draft/{draft.pk}/change/").content.decode()
    thumbnail = re.search(r'<figure class="tact-media"[^>]*><img src="(/m/[^"]+)" alt="photo.jpg">', page)
    assert thumbnail is not None
    assert b"".join(marketer.get(thumbnail.group(1)).streaming_content) == PNG
    assert "Caption (sent with the media)" in page and "10 / 1024" in page

    # the live preview of the same draft (as the editor posts it), and with the file cleared
    fragment = marketer.post(f"{PREVIEW}?draft={draft.pk}", {"body": "Sale today"}).content.decode()
    assert 'alt="photo.jpg"' in fragment and "10 / 768" in fragment
    fragment = marketer.post(f"{PREVIEW}?draft={draft.pk}", {"body": "Sale today", "media-clear": "on"}).content.decode()
    assert "tact-media" not in fragment and "10 / 7000" in fragment
    # a newly chosen document shows its name
    fragment = marketer.post(f"{PREVIEW}?draft={draft.pk}", {
        "body": "Sale today", "media": SimpleUploadedFile("terms.pdf", PDF)}).content.decode()
    assert 'aria-label="terms.pdf"' in fragment and "📎 terms.pdf" in fragment


def test_the_admin_form_refuses_a_wrong_file_or_a_dead_url_on_its_field_and_saves_nothing(marketer, media_root):
    answer = marketer.post(ADD, {"title": "Photo offer", "body": "Sale today",
                                 "media": SimpleUploadedFile("photo.jpg", b"MZ\x90\x00 an executable")})
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors == {"media": [
        "this file is not a JPEG, PNG, GIF, MP4 or PDF (accepted: JPEG, PNG, GIF, MP4, PDF); "
        "the content decides, not the name"]}
    served = Serve(PNG)
    dead = served.url
    served.close()
    answer = marketer.post(ADD, {"title": "Photo offer", "body": "Sale today", "media_url": dead})
    assert answer.status_code == 200
    [message] = answer.context["adminform"].form.errors["media_url"]
    assert message.startswith(f"{dead} does not answer")
    assert Draft.objects.count() == 0
    assert stored_files(media_root) == []


def test_the_fakes_refuse_a_file_id_or_media_id_they_never_gave_out():
    from tests.fakes.telegram import FakeTelegram
    from tests.fakes.whatsapp import PHONE_NUMBER_ID, FakeWhatsApp

    with FakeTelegram() as telegram:
        answer = httpx.post(f"{telegram.base_url}123:T/sendPhoto", data={"chat_id": "7", "photo": "AgACnever"})
        assert (answer.status_code, answer.json()["description"]) == (
            400, "Bad Request: wrong file identifier/HTTP URL specified")
        uploaded = httpx.post(f"{telegram.base_url}123:T/sendPhoto", data={"chat_id": "7"},
                              files={"photo": ("p.png", PNG, "image/png")}).json()["result"]
        file_id = uploaded["photo"][-1]["file_id"]
        answer = httpx.post(f"{telegram.base_url}123:T/sendDocument", data={"chat_id": "7", "document": file_id})
        assert answer.json()["description"] == "Bad Request: can't use file of type Photo as Document"
        assert httpx.post(f"{telegram.base_url}123:T/sendPhoto",
                          data={"chat_id": "8", "photo": file_id}).status_code == 200
        assert [c.extra["file"] for c in telegram.media_sends()] == ["upload", "file_id"]
    with FakeWhatsApp() as whatsapp:
        answer = httpx.post(f"{whatsapp.base_url}/{PHONE_NUMBER_ID}/messages", headers={"Authorization": "Bearer t"},
                            json={"messaging_product": "whatsapp", "to": "79990001122", "type": "image",
                                  "image": {"id": "999"}})
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, 131053)
        assert whatsapp.sent() == []


def test_the_sandbox_records_the_media_it_would_send():
    from channels.base import OutboundMessage
    from channels.models import OutboxMessage
    from channels.sandbox import SandboxChannel

    media = {"kind": "image", "name": "p.png", "content_type": "image/png", "size": 10, "sha256": "ab" * 32,
             "path": "drafts/p.png", "public_url": "https://tact.example.com/m/x/p.png"}
    session = SandboxChannel("viber").open()
    [outcome] = session.send([OutboundMessage(None, "viberUser==", "Sale", media=media)])
    assert outcome.sent
    assert list(OutboxMessage.objects.values_list("platform", "text", "media")) == [("viber", "Sale", media)]
