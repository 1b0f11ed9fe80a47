"""Media figures and sniffing (channels/limits.py): pure, no database."""

from __future__ import annotations

import pytest

from channels.limits import MB, caption_length, size_text, sniff_content_type


@pytest.mark.parametrize(("head", "expected"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"GIF89a\x01\x00", "image/gif"),
    (b"\x00\x00\x00\x20ftypisom", "video/mp4"),
    (b"%PDF-1.4\n", "application/pdf"),
    (b"PK\x03\x04 a zip named offer.jpg", None),
    (b"<svg xmlns=", None),
    (b"", None),
])
def test_the_content_type_comes_from_the_first_bytes(head, expected):
    assert sniff_content_type(head) == expected


def test_caption_limits_per_platform_and_kind(settings):
    assert [caption_length("telegram", k) for k in ("image", "video", "document")] == [1024, 1024, 1024]
    assert [caption_length("whatsapp", k) for k in ("image", "video", "document")] == [1024, 1024, 1024]
    # Viber: only a picture carries text; a video or file goes with the text as its own message
    assert [caption_length("viber", k) for k in ("image", "video", "document")] == [768, None, None]


def test_sizes_read_as_people_read_them():
    assert [size_text(5 * MB), size_text(MB + MB // 2), size_text(730 * 1024), size_text(10)] == [
        "5 MB", "1.5 MB", "730 KB", "1 KB"]
