"""How StreamRequest (channels/telegram_http.py) reads an HTTP/1.x answer: no network, the
bytes a server would send, whole or in pieces."""

from __future__ import annotations

import pytest

from channels.telegram_http import BadAnswer, parse_answer

BODY = b'{"ok":true,"result":true}'


def test_a_length_delimited_answer_keeps_the_connection_and_says_where_it_ends() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

    assert parse_answer(raw + b"NEXT") == (200, BODY, True, len(raw))


def test_an_answer_arriving_in_pieces_is_incomplete_until_its_last_byte() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

    assert [parse_answer(raw[:n]) for n in (10, len(raw) - len(BODY), len(raw) - 1)] == [None, None, None]
    assert parse_answer(raw) == (200, BODY, True, len(raw))
    assert parse_answer(raw[:-1], eof=True) is None  # cut short: StreamRequest reports the closed connection


def test_a_chunked_answer_is_joined() -> None:
    raw = (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\n" + BODY[:5] + b"\r\n" + b"%x;ext=1\r\n" % (len(BODY) - 5) + BODY[5:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")

    assert parse_answer(raw) == (400, BODY, True, len(raw))
    assert all(parse_answer(raw[:n]) is None for n in range(len(raw)))


@pytest.mark.parametrize(("head", "keep"), [
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
    (b"HTTP/1.0 200 OK\r\n", False),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", True),
    (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n", True),
])
def test_connection_header_and_version_decide_whether_to_keep_it(head: bytes, keep: bool) -> None:
    raw = head + b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)

    assert parse_answer(raw)[:3] == (200, BODY, keep)


def test_an_answer_without_length_runs_to_the_close_and_is_not_kept() -> None:
    raw = b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\n\r\n<html>502</html>"

    assert parse_answer(raw) is None
    assert parse_answer(raw, eof=True) == (502, b"<html>502</html>", False, len(raw))


def test_no_content_has_no_body() -> None:
    assert parse_answer(b"HTTP/1.1 204 No Content\r\n\r\n") == (204, b"", True, 27)


@pytest.mark.parametrize("raw", [
    b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    b"HTTP/1.1 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"x" * 70_000,
])
def test_what_is_not_http_is_a_bad_answer(raw: bytes) -> None:
    with pytest.raises(BadAnswer):
        parse_answer(raw)
