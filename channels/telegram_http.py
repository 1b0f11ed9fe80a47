"""python-telegram-bot's request layer for sending in bulk: HTTP/1.1 keep-alive on an asyncio
Protocol, without httpx's per-request machinery (httpx cost about 2 ms of CPU per request
here with 100 in flight; this about a tenth of that).

`StreamRequest` is a `telegram.request.BaseRequest`: PTB still builds every call, checks the
status and parses the answer. It carries the calls without files (sendMessage, getMe, a photo
by URL or file_id) in a form-urlencoded body, as HTTPXRequest does; an upload (multipart)
(and a call to another origin: a file download) goes through an HTTPXRequest of its own,
made when first needed. Its errors say, as
HTTPXRequest's do, whether the request can have reached Telegram (channels/telegram.py
`_never_left`):

  not reached        pool timeout (TimedOut "Pool timeout: ..."), connect error or timeout
                     (NetworkError / TimedOut `from` NotSent): safe to send again;
  may have been sent the request was (being) written: write error or timeout, read timeout
                     (TimedOut), reset or close before the whole answer, an answer that is
                     not HTTP (NetworkError): never sent again.

A kept connection the server has closed meanwhile (EOF or anything unasked seen while idle)
is dropped before use, never written to. No proxy: with HTTP(S)_PROXY/ALL_PROXY set for
Telegram's host, `request_for` returns an HTTPXRequest, which honours them.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections import deque
from urllib.parse import urlsplit

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

__all__ = ["NotSent", "StreamRequest", "parse_answer", "request_for"]

MAX_HEAD = 64 * 1024  # bytes of status line and headers accepted in an answer
_POOL_TIMEOUT = ("Pool timeout: All connections in the connection pool are occupied. "
                 "Request was *not* sent to Telegram.")


class NotSent(Exception):
    """The cause of an error raised before any byte of the request was written."""


class BadAnswer(Exception):
    """The server's answer is not HTTP/1.x we can read."""


class _ReadTimeout(Exception):
    pass


def parse_answer(data: bytes | bytearray, *, eof: bool = False) -> tuple[int, bytes, bool, int] | None:
    """One HTTP/1.x answer at the start of `data`: (status, body, keep the connection, bytes
    used), or None while it is incomplete. `eof`: the server has closed its side (an answer
    without a length ends there). Raises BadAnswer for what is not HTTP/1.x."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_HEAD:
            raise BadAnswer(f"no end of the headers in {MAX_HEAD} bytes")
        return None
    lines = bytes(data[:end]).split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    status_text = rest[:3]
    if not version.startswith(b"HTTP/1.") or not status_text.isdigit():
        raise BadAnswer(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
    status = int(status_text)
    length: int | None = None
    chunked = False
    keep = version == b"HTTP/1.1"
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise BadAnswer(f"bad Content-Length {value.strip()[:40]!r}") from None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            value = value.strip().lower()
            keep = value == b"keep-alive" if version == b"HTTP/1.0" else value != b"close"
    start = end + 4
    if status in (204, 304) or 100 <= status < 200:
        return status, b"", keep, start
    if chunked:
        found = _chunked(data, start)
        if found is None:
            return None
        body, used = found
        return status, body, keep, used
    if length is not None:
        if len(data) - start < length:
            return None
        return status, bytes(data[start:start + length]), keep, start + length
    if not eof:  # delimited by the server closing
        return None
    return status, bytes(data[start:]), False, len(data)


def _chunked(data: bytes | bytearray, at: int) -> tuple[bytes, int] | None:
    """A chunked body from `at`: (body, where it ends), or None while incomplete."""
    parts = []
    while True:
        line_end = data.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(bytes(data[at:line_end]).split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadAnswer(f"bad chunk size {bytes(data[at:line_end])[:40]!r}") from None
        at = line_end + 2
        if size == 0:
            while True:  # trailers, up to an empty line
                line_end = data.find(b"\r\n", at)
                if line_end < 0:
                    return None
                empty, at = line_end == at, line_end + 2
                if empty:
                    return b"".join(parts), at
        if len(data) < at + size + 2:
            return None
        parts.append(bytes(data[at:at + size]))
        at += size + 2


class _Connection(asyncio.Protocol):
    """One kept-alive connection: a request written, its answer parsed as the bytes come."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused = False
        self.eof = False
        self.lost = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            self._answer()

    def eof_received(self) -> bool:
        self.eof = True
        if self.waiter is not None and not self.waiter.done():
            self._answer()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            if exc is not None:
                waiter.set_exception(NetworkError(f"ReadError: {exc!r}"))
            else:
                self.eof = True
                self._answer()
        if self.drained is not None and not self.drained.done():
            self.drained.set_exception(NetworkError(f"WriteError: {exc!r}"))

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # -- ours
    def _answer(self) -> None:
        waiter = self.waiter
        assert waiter is not None
        try:
            found = parse_answer(self.buffer, eof=self.eof)
        except BadAnswer as exc:
            waiter.set_exception(NetworkError(f"RemoteProtocolError: {exc}"))
            return
        if found is None:
            if self.eof:
                waiter.set_exception(NetworkError(
                    "RemoteProtocolError: Server disconnected without sending a response." if not self.buffer else
                    f"RemoteProtocolError: the connection closed {len(self.buffer)} bytes into the answer"))
            return
        status, body, keep, used = found
        del self.buffer[:used]
        waiter.set_result((status, body, keep and not self.buffer and not self.eof))

    def _time_out(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(_ReadTimeout())

    def usable(self) -> bool:
        """False once the server closed it (or sent something unasked) while it was idle."""
        return not (self.lost or self.eof or self.buffer or self.transport is None or self.transport.is_closing())

    async def exchange(self, request: bytes, write_timeout: float | None,
                       read_timeout: float | None) -> tuple[int, bytes, bool]:
        """Write the request and read its answer: (status, body, whether to keep the connection)."""
        transport = self.transport
        assert transport is not None
        self.waiter = waiter = self.loop.create_future()
        try:
            transport.write(request)
        except OSError as exc:  # pragma: no cover - the selector transport reports errors through connection_lost
            raise NetworkError(f"WriteError: {exc!r}") from exc
        if self.paused:  # a large body still in the kernel's way: wait, as long as write_timeout
            self.drained = self.loop.create_future()
            try:
                async with asyncio.timeout(write_timeout):
                    await self.drained
            except TimeoutError:
                raise TimedOut("Write timeout: the request may have reached Telegram") from None
        timer = self.loop.call_later(read_timeout, self._time_out) if read_timeout is not None else None
        try:
            return await waiter
        except _ReadTimeout:
            raise TimedOut("Read timeout: no answer from Telegram in time") from None
        finally:
            if timer is not None:
                timer.cancel()
            self.waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _Origin:
    """scheme://host:port and what a request to it needs."""

    __slots__ = ("host", "port", "ssl", "host_header")

    def __init__(self, scheme: str, host: str, port: int | None):
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        default = 443 if scheme == "https" else 80
        self.host, self.port = host, port or default
        self.ssl: ssl.SSLContext | None = _ssl_context() if scheme == "https" else None
        name = f"[{host}]" if ":" in host else host
        self.host_header = (name if self.port == default else f"{name}:{self.port}").encode("idna")


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's own trust store, so that both verify alike
    except ImportError:  # pragma: no cover - httpx requires it
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class StreamRequest(BaseRequest):
    """At most `connection_pool_size` connections to one origin (Telegram), each carrying
    one request at a time and kept open between them."""

    __slots__ = ("_timeouts", "_pool_size", "_idle", "_slots", "_origin", "_paths", "_other", "_open",
                 "_media_write_timeout")

    def __init__(self, *, connection_pool_size: int = 256, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0):
        self._timeouts = {"read": read_timeout, "write": write_timeout, "connect": connect_timeout,
                          "pool": pool_timeout}
        self._pool_size = connection_pool_size
        self._idle: deque[_Connection] = deque()
        self._slots: asyncio.Semaphore | None = None
        self._origin: _Origin | None = None
        self._paths: dict[str, bytes] = {}  # url -> request target, for the origin above
        self._open = False
        self._media_write_timeout = media_write_timeout
        self._other: HTTPXRequest | None = None  # made when first needed (its TLS setup costs ~20 ms)

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        self._slots = asyncio.Semaphore(self._pool_size)  # made on the loop that uses it
        self._open = True

    async def shutdown(self) -> None:
        self._open = False
        while self._idle:
            self._idle.popleft().close()
        if self._other is not None:
            await self._other.shutdown()
            self._other = None

    async def _other_client(self) -> HTTPXRequest:
        """Uploads (multipart: rare, large, streamed by httpx) and any other origin (a file
        download from base_file_url) keep PTB's own client."""
        if self._other is None:
            t = self._timeouts
            other = HTTPXRequest(connection_pool_size=max(1, min(self._pool_size, 8)), read_timeout=t["read"],
                                 write_timeout=t["write"], connect_timeout=t["connect"], pool_timeout=t["pool"],
                                 media_write_timeout=self._media_write_timeout)
            await other.initialize()
            self._other = other
        return self._other

    def _timeout(self, name: str, value: object) -> float | None:
        return self._timeouts[name] if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value  # type: ignore[return-value]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if not self._open or self._slots is None:
            raise RuntimeError("This StreamRequest is not initialized!")
        target = self._target(url)
        if target is None or (request_data is not None and request_data.contains_files):
            other = await self._other_client()  # an upload, or another origin (a file download)
            return await other.do_request(url, method, request_data, read_timeout, write_timeout,
                                          connect_timeout, pool_timeout)
        origin = self._origin
        assert origin is not None
        if request_data is not None and method == "POST":
            body = request_data.url_encoded_parameters().encode()
            head = b"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n" \
                   b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % (
                       method.encode(), target, origin.host_header, self.USER_AGENT.encode(), len(body))
        else:
            body = b""
            head = b"%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n%s\r\n" % (
                method.encode(), target, origin.host_header, self.USER_AGENT.encode(),
                b"Content-Length: 0\r\n" if method == "POST" else b"")
        slots = self._slots
        if slots.locked():
            try:
                async with asyncio.timeout(self._timeout("pool", pool_timeout)):
                    await slots.acquire()
            except TimeoutError:
                raise TimedOut(_POOL_TIMEOUT) from None
        else:
            await slots.acquire()
        try:
            connection = await self._connection(self._timeout("connect", connect_timeout))
            answered = keep = False
            try:
                status, payload, keep = await connection.exchange(head + body, self._timeout("write", write_timeout),
                                                                  self._timeout("read", read_timeout))
                answered = True
            finally:
                if answered and keep and self._open:
                    self._idle.append(connection)
                elif answered:
                    connection.close()
                else:  # an unfinished exchange must not leave half an answer on a kept connection
                    connection.abort()
            return status, payload
        finally:
            slots.release()

    def _target(self, url: str) -> bytes | None:
        """The request target of `url` on our origin (the first one asked for); None for another."""
        target = self._paths.get(url)
        if target is not None:
            return target
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname or "", parts.port
        if self._origin is None:
            self._origin = _Origin(scheme, host, port)
        origin = self._origin
        if (host, port or (443 if scheme == "https" else 80), scheme == "https") != (
                origin.host, origin.port, origin.ssl is not None):
            return None
        target = ((parts.path or "/") + (f"?{parts.query}" if parts.query else "")).encode()
        if len(self._paths) < 256:  # the Bot API's methods on one token
            self._paths[url] = target
        return target

    async def _connection(self, connect_timeout: float | None) -> _Connection:
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely to be closed
            if connection.usable():
                return connection
            connection.abort()
        origin = self._origin
        assert origin is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(loop), origin.host, origin.port, ssl=origin.ssl,
                    server_hostname=origin.host if origin.ssl else None)
        except TimeoutError:
            raise TimedOut("Connect timeout: Telegram was not reached") from NotSent("connect timeout")
        except (OSError, ssl.SSLError) as exc:
            raise NetworkError(f"ConnectError: {exc!r}") from NotSent(repr(exc))
        return protocol


def request_for(base_url: str, **options: float | int | None) -> BaseRequest:
    """StreamRequest for Telegram at `base_url`, or HTTPXRequest when the environment sets a
    proxy for it (httpx reads HTTP(S)_PROXY and NO_PROXY; we do not)."""
    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    if (proxies.get(parts.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(parts.hostname or ""):
        return HTTPXRequest(**options)  # type: ignore[arg-type]
    return StreamRequest(**options)  # type: ignore[arg-type]
