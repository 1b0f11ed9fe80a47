"""What the loopback fakes (telegram.py, whatsapp.py, viber.py) share: a small asyncio-stream
HTTP/1.1 server run in a background thread, runtime configuration from a frozen dataclass,
recorded calls behind one lock, signed webhook posts sent from the server's own loop, the
``/_fake/...`` control endpoints, a client for a fake in another process, and the command line;
and ``Receiver``, a stand-in for the application's webhook endpoint in tests.

A fake subclasses ``FakeServer`` and provides ``config_class``, ``_answer()`` (one request in,
one ``Answer`` out, called in the server's loop), ``calls()``, ``stats()`` and ``_forget()``.
Control endpoints, served by every fake:

    GET  /_fake/calls     {"calls": [<Call>, ...]}
    GET  /_fake/stats     counts
    GET  /_fake/webhooks  {"webhooks": [<WebhookPost>, ...]}, what the fake posted
    GET  /_fake/config    the current config
    POST /_fake/config    partial update, JSON; {"replace": true, ...} starts from the defaults
    POST /_fake/reset     forget the recorded calls and webhooks, keep the config
    GET  /_fake/health    {"ok": true}

Failures every fake shares, set like any other config field (``configure(...)`` or POST
/_fake/config):

    lose_next=N, lose_every=N   the next N messages the fake takes, or every N-th one it
                                takes (counted from reset() or from setting lose_every), are
                                recorded as delivered (and their webhooks posted) but the
                                client gets ``lost_answer`` instead of the answer: "502" (an
                                HTML 502 from a proxy), "reset" (TCP RST), "close" (the
                                connection closed without an answer) or "cut" (a 200's status
                                line, headers and half its body, then a TCP RST). Refused
                                messages are not taken and do not count.
    keepalive_timeout=S         (where the config has it) an idle keep-alive connection is
                                closed after S seconds, as a front server does (nginx's
                                keepalive_timeout); None keeps it open
    token_revoked=True          every API request is refused as with a revoked token, until
                                ``configure(token_revoked=False)``

Unreachable, then reachable: ``FakeX(port=free_port())`` has its ``url`` before ``start()``
and nothing listens there until then; ``stop()`` then ``start()`` serves the same port
again with the same config and recordings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx

JSONDict = dict[str, Any]


# ---- values -------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now: give it to a fake to know its URL before start()."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


LOST_ANSWERS = ("502", "reset", "close", "cut")
# What a proxy in front of the platform answers when the platform took the request but its
# answer was lost.
PROXY_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


# A 200's body of which a "cut" answer sends the first half.
CUT_BODY = b'{"ok": true, "result": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "' + \
    b"x" * 200 + b'"}}'


def check_losses(lose_every: int | None, lose_next: int, lost_answer: str) -> None:
    """ValueError unless the lost-answer fields of a config make sense."""
    if lose_every is not None and lose_every < 1:
        raise ValueError("lose_every must be None or at least 1")
    if lose_next < 0:
        raise ValueError("lose_next must be at least 0")
    if lost_answer not in LOST_ANSWERS:
        raise ValueError(f"lost_answer: unknown {lost_answer!r}, expected one of {list(LOST_ANSWERS)}")


def max_in_any_window(times: Iterable[float], seconds: float = 1.0) -> int:
    """The largest number of ``times`` inside one half-open window [t, t + seconds)."""
    ordered = sorted(times)
    best = 0
    for i, start in enumerate(ordered):
        # A best window can always start at one of the times.
        best = max(best, bisect_left(ordered, start + seconds, lo=i) - i)
    return best


def draw(seed: int, key: object, attempt: int) -> float:
    """A number in [0, 1) that depends only on (seed, key, attempt): seeded fault injection
    that repeats whatever the concurrency, when ``attempt`` counts per key."""
    digest = hashlib.blake2b(f"{seed}:{key}:{attempt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body``: what WhatsApp and Viber put in their signature headers."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def as_mapping(value: object) -> Mapping[object, object]:
    """``value`` if it is a mapping; ValueError otherwise (config from JSON)."""
    if not isinstance(value, Mapping):
        raise ValueError(f"expected a mapping, got {value!r}")
    return value


def as_list(value: object) -> Iterable[Any]:
    """``value`` if it is a list-like; ValueError otherwise (config from JSON)."""
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"expected a list, got {value!r}")
    return value


def as_strings(value: object) -> list[str]:
    """A string or a list of values, as a list of strings."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in as_list(value)]


def jsonable(value: object) -> object:
    """Mappings with string keys and lists for sets and tuples, recursively."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset, tuple, list)):
        items = [jsonable(v) for v in value]
        if isinstance(value, (set, frozenset)):
            try:
                items.sort()
            except TypeError:
                items.sort(key=str)
        return items
    return value


def check_fields(config: object, changes: Mapping[str, object]) -> dict[str, object]:
    """``changes`` as a dict, or ValueError naming the fields ``config`` does not have."""
    known = {f.name for f in dataclasses.fields(config)}  # type: ignore[arg-type]
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown config fields: {sorted(unknown)}")
    return dict(changes)


def config_to_json(config: object) -> JSONDict:
    """A config dataclass as JSON-ready values (dict keys become strings, sets sorted lists)."""
    return {f.name: jsonable(getattr(config, f.name)) for f in dataclasses.fields(config)}  # type: ignore[arg-type]


class SlidingWindow:
    """Admission control: at most ``limit`` admissions within any ``seconds``. Not thread-safe:
    use it under the fake's lock."""

    __slots__ = ("times",)

    def __init__(self) -> None:
        self.times: deque[float] = deque()

    def admit(self, now: float, limit: int | None, seconds: float) -> bool:
        """Count ``now`` and return True, unless ``limit`` admissions already happened within
        the last ``seconds`` (refused requests do not count). ``limit=None`` admits all."""
        if limit is None:
            return True
        times = self.times
        while times and times[0] <= now - seconds:
            times.popleft()
        if len(times) >= limit:
            return False
        times.append(now)
        return True


class Answer:
    """What the server writes back for one request. ``after`` runs in the server's loop once
    the answer is written (or the connection dropped): a fake schedules its webhooks there.
    ``disconnect`` closes the connection without an answer; ``reset`` aborts it with a TCP RST;
    ``cut`` sends the status line, the headers and half the body, then a TCP RST."""

    __slots__ = ("status", "body", "delay", "disconnect", "content_type", "after", "reset", "cut")

    def __init__(
        self,
        status: int,
        body: bytes,
        delay: float = 0.0,
        disconnect: bool = False,
        content_type: str = "application/json",
        after: Callable[[], None] | None = None,
        reset: bool = False,
        cut: bool = False,
    ):
        self.status = status
        self.body = body
        self.delay = delay
        self.disconnect = disconnect
        self.content_type = content_type
        self.after = after
        self.reset = reset
        self.cut = cut


def lost(how: str, delay: float = 0.0, after: Callable[[], None] | None = None) -> Answer:
    """The answer to a request the platform took, lost on its way back: ``how`` is one of
    LOST_ANSWERS."""
    if how == "502":
        return Answer(502, PROXY_502, delay, content_type="text/html", after=after)
    if how == "cut":
        return Answer(200, CUT_BODY, delay, after=after, cut=True)
    return Answer(0, b"", delay, disconnect=how == "close", after=after, reset=how == "reset")


def lost_status(how: str) -> int:
    """The HTTP status a client sees for a lost answer: 502, or 0 for none."""
    return 502 if how == "502" else 0


def json_answer(status: int, payload: object, delay: float = 0.0, **kwargs: Any) -> Answer:
    """An Answer with ``payload`` as its JSON body."""
    return Answer(status, json.dumps(payload, ensure_ascii=False).encode(), delay, **kwargs)


def _control_error(status: int, description: str) -> Answer:
    return json_answer(status, {"ok": False, "error_code": status, "description": description})


@dataclass(frozen=True)
class WebhookPost:
    """One POST a fake made to the application's webhook, and what the application answered."""

    seq: int  # order in which the posts were made, from 1
    url: str
    event: str  # "sent", "delivered", "read", "failed", "seen", ...
    message_id: str  # the wamid, or the Viber message_token as a string
    recipient: str  # wa_id or Viber user id
    body: str  # the raw JSON body, exactly as signed and sent
    signature: str | None  # the signature header's value, None when unsigned
    status: int  # HTTP status answered; 0 when no answer (connection refused, timeout)
    error: str | None  # why there was no answer
    monotonic: float  # time.monotonic() when the post was made

    @property
    def payload(self) -> JSONDict:
        """The JSON body, decoded."""
        result: JSONDict = json.loads(self.body)
        return result

    def to_json(self) -> JSONDict:
        """The post as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> WebhookPost:
        """The inverse of to_json."""
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True)
class OutgoingPost:
    """A webhook POST waiting to be made by the fake's poster task."""

    url: str
    event: str
    message_id: str
    recipient: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    signature: str | None = None
    delay: float = 0.0  # seconds to wait before this post
    timeout: float = 10.0


# ---- the server ---------------------------------------------------------------------


class FakeConfig(Protocol):
    """What a fake's frozen config dataclass provides."""

    def updated(self, changes: Mapping[str, object]) -> Self: ...

    def to_json(self) -> JSONDict: ...


class RecordedCall(Protocol):
    """What a fake's Call record provides."""

    def to_json(self) -> JSONDict: ...


ConfigT = TypeVar("ConfigT", bound=FakeConfig)
CallT = TypeVar("CallT", bound=RecordedCall)


class FakeServer(Generic[ConfigT, CallT]):
    """start()/stop() run the fake in a daemon thread (or use it as a context manager);
    ``async serve()`` runs it in the caller's loop. Accessors are thread-safe."""

    name: ClassVar[str] = "fake"
    config_class: type[ConfigT]  # set by each fake: its config dataclass, all defaults

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, config: ConfigT | None = None) -> None:
        self.host = host
        self.port = port  # the real port once started
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified on accepted calls and posts
        self._config: ConfigT = config if config is not None else self.config_class()
        self._accepted = 0  # what wait_for_accepted() counts; the subclass decides what counts
        self._calls: list[CallT] = []  # in arrival order
        self._requests: Counter[str] = Counter()  # requests per kind, recorded or not
        # config.queued (chat or recipient -> outcomes), consumed one outcome at a time; keys
        # and outcomes are of the fake's own types.
        self._queued: dict[Any, deque[Any]] = {}
        # Lost answers: how many of the next messages taken lose theirs (config.lose_next,
        # counted down), and how many messages were taken (for config.lose_every).
        self._lose_remaining = 0
        self._taken = 0
        self._reload_queued()
        self._webhooks: list[WebhookPost] = []
        self._outbox: asyncio.Queue[OutgoingPost] | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._stopped: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._opened = 0  # TCP connections accepted (connections_opened())

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>, the root of the API and of the control endpoints; known
        before start() when the fake was made with a port (``port=free_port()``)."""
        return f"http://{self.host}:{self.port}"

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread; returns once the port is bound. After stop(), serves the
        same port again, with the config and recordings it had."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.serve(ready=ready))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"{self.name}-{self.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the server and its connections and join the thread. Webhook posts not made
        yet are dropped."""
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None or loop is None or stopped is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def serve(self, *, ready: threading.Event | None = None) -> None:
        """Serve in the running loop until ``request_stop()`` (or stop() from another thread)."""
        self._stopped = asyncio.Event()
        self._outbox = asyncio.Queue()
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=4096, limit=1 << 20
        )
        self.port = self._server.sockets[0].getsockname()[1]
        poster = asyncio.create_task(self._post_webhooks(self._outbox))
        if ready is not None:
            ready.set()
        try:
            await self._stopped.wait()
        finally:
            self._server.close()
            poster.cancel()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(poster, *self._connections, return_exceptions=True)
            await self._server.wait_closed()

    def request_stop(self) -> None:
        """Stop ``serve()``; call from the loop's own thread (e.g. a signal handler)."""
        if self._stopped is not None:
            self._stopped.set()

    # ---- configuration ---------------------------------------------------------------

    @property
    def config(self) -> ConfigT:
        """The configuration in force."""
        with self._lock:
            return self._config

    def configure(self, config: ConfigT | None = None, /, **changes: object) -> ConfigT:
        """Replace the config, or change some of its fields; takes effect on the next request."""
        with self._lock:
            new = (config if config is not None else self._config).updated(changes)
            self._config = new
            if config is not None or "queued" in changes or "lose_next" in changes:
                self._reload_queued()
            if config is not None or "lose_every" in changes:
                self._taken = 0
            return new

    def _reload_queued(self) -> None:
        """Start the config's ``queued`` outcomes and ``lose_next`` count (if it has them)
        over; with the lock held."""
        queued: Mapping[Any, Iterable[Any]] = getattr(self._config, "queued", {})
        self._queued = {key: deque(outcomes) for key, outcomes in queued.items()}
        self._lose_remaining = getattr(self._config, "lose_next", 0)

    def _lose_answer(self) -> str | None:
        """For a message the fake has just taken: how its answer is lost (a LOST_ANSWERS
        value), or None to answer it; with the lock held, in arrival order."""
        self._taken += 1
        how: str = getattr(self._config, "lost_answer", "502")
        if self._lose_remaining > 0:
            self._lose_remaining -= 1
            return how
        every: int | None = getattr(self._config, "lose_every", None)
        if every is not None and self._taken % every == 0:
            return how
        return None

    def _next_queued(self, key: object) -> Any:
        """The next queued outcome for ``key``, consumed; None when none is left."""
        queued = self._queued.get(key)
        return queued.popleft() if queued else None

    def reset(self) -> None:
        """Forget the recorded calls, posted webhooks and counters; start the queued outcomes
        and lose_next over; keep the config. Webhook posts already queued are still made."""
        with self._lock:
            self._accepted = 0
            self._calls = []
            self._requests = Counter()
            self._webhooks = []
            self._reload_queued()
            self._taken = 0
            self._opened = 0
            self._forget()

    def _forget(self) -> None:
        """Hook, called with the lock held by reset(): drop the subclass's recordings."""

    # ---- recordings ------------------------------------------------------------------

    def calls(self) -> list[CallT]:
        """Every recorded call in arrival order, whatever the answer."""
        with self._lock:
            return list(self._calls)

    def connections_opened(self) -> int:
        """TCP connections accepted since start or reset(): a client that keeps its
        connections alive opens few."""
        with self._lock:
            return self._opened

    def request_counts(self) -> dict[str, int]:
        """Requests per kind (API method, "unauthorized", ...), recorded as calls or not."""
        with self._lock:
            return dict(self._requests)

    def _count_request(self, kind: str) -> None:
        with self._lock:
            self._requests[kind] += 1

    def stats(self) -> JSONDict:
        """Counts for the control endpoint and the dump file."""
        raise NotImplementedError

    def webhooks(self) -> list[WebhookPost]:
        """Every webhook POST made so far, in the order made."""
        with self._lock:
            return list(self._webhooks)

    def wait_for_webhooks(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` webhook posts were made (answered or not)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._webhooks) >= count, timeout)

    def _wait_for_accepted(self, count: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._accepted >= count, timeout)

    def _note_accepted(self, count: int = 1) -> None:
        """Call with the lock held when the subclass accepted something."""
        self._accepted += count
        self._changed.notify_all()

    def dump(self, path: str | Path) -> None:
        """Write the recorded calls, the webhook posts and the stats as JSON."""
        payload = {
            "calls": [c.to_json() for c in self.calls()],
            "webhooks": [w.to_json() for w in self.webhooks()],
            "stats": self.stats(),
        }
        Path(path).write_text(json.dumps(payload, ensure_ascii=False))

    # ---- webhooks --------------------------------------------------------------------

    def _queue_webhooks(self, posts: Iterable[OutgoingPost]) -> None:
        """Post these, one after the other after every post queued before; call in the loop."""
        outbox = self._outbox
        if outbox is not None:
            for post in posts:
                outbox.put_nowait(post)

    async def _post_webhooks(self, outbox: asyncio.Queue[OutgoingPost]) -> None:
        async with httpx.AsyncClient() as client:
            while True:
                post = await outbox.get()
                if post.delay > 0:
                    await asyncio.sleep(post.delay)
                started = time.monotonic()
                status, error = 0, None
                try:
                    response = await client.post(post.url, content=post.body, headers=post.headers, timeout=post.timeout)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._webhooks.append(
                        WebhookPost(
                            seq=len(self._webhooks) + 1,
                            url=post.url,
                            event=post.event,
                            message_id=post.message_id,
                            recipient=post.recipient,
                            body=post.body.decode(),
                            signature=post.signature,
                            status=status,
                            error=error,
                            monotonic=started,
                        )
                    )
                    self._changed.notify_all()

    # ---- HTTP ------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        with self._lock:
            self._opened += 1
        try:
            while True:
                idle: float | None = getattr(self._config, "keepalive_timeout", None)
                try:
                    async with asyncio.timeout(idle):
                        head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, TimeoutError):
                    return
                lines = head[:-4].decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                try:
                    if headers.get("transfer-encoding", "").lower() == "chunked":
                        body = await read_chunked(reader)
                    else:
                        length = int(headers.get("content-length") or 0)
                        body = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                connection = headers.get("connection", "").lower()
                keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"

                answer = self._answer(method, target, headers, body)
                try:
                    if answer.delay > 0:
                        await asyncio.sleep(answer.delay)
                    if answer.reset:
                        # SO_LINGER 0: closing sends a RST, not a FIN (the client reads ECONNRESET).
                        sock = writer.get_extra_info("socket")
                        if sock is not None:
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                        return
                    if answer.disconnect:
                        return
                    phrase = HTTPStatus(answer.status).phrase
                    writer.write(
                        f"HTTP/1.1 {answer.status} {phrase}\r\n"
                        f"Content-Type: {answer.content_type}\r\n"
                        f"Content-Length: {len(answer.body)}\r\n"
                        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n".encode("latin-1")
                        + (answer.body[:len(answer.body) // 2] if answer.cut else answer.body)
                    )
                    await writer.drain()
                    if answer.cut:
                        await asyncio.sleep(0.05)  # the client has read the first half
                        sock = writer.get_extra_info("socket")
                        if sock is not None:
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        writer.transport.abort()
                        return
                finally:
                    if answer.after is not None:
                        answer.after()
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(task)
            writer.close()

    def _answer(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """One request in, one answer out; runs in the server's loop, must not block."""
        raise NotImplementedError

    def _control(self, method: str, path: str, body: bytes) -> Answer:
        """The /_fake/... endpoints."""
        if method == "GET" and path == "/_fake/calls":
            return json_answer(200, {"calls": [c.to_json() for c in self.calls()]})
        if method == "GET" and path == "/_fake/stats":
            return json_answer(200, self.stats())
        if method == "GET" and path == "/_fake/webhooks":
            return json_answer(200, {"webhooks": [w.to_json() for w in self.webhooks()]})
        if path == "/_fake/config" and method in ("GET", "POST"):
            if method == "POST":
                try:
                    changes = json.loads(body or b"{}")
                    replace = bool(changes.pop("replace", False))
                    self.configure(self.config_class() if replace else None, **changes)
                except (ValueError, TypeError, AttributeError) as exc:
                    return _control_error(400, f"Bad Request: {exc}")
            return json_answer(200, self.config.to_json())
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return json_answer(200, {"ok": True})
        if method == "GET" and path == "/_fake/health":
            return json_answer(200, {"ok": True})
        return _control_error(404, "Not Found")


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked request body."""
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            # Trailers, if any, end with an empty line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


# ---- the application's side, for tests of the webhooks ------------------------------


@dataclass(frozen=True)
class Received:
    """One request a Receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def payload(self) -> Any:
        """The JSON body, decoded."""
        return json.loads(self.body)


class Receiver:
    """A stand-in for the application's webhook endpoint: a threaded http.server on loopback
    that records each request and answers ``status``; while ``gate`` is clear it holds its
    answers back::

        with Receiver() as app:
            fake.configure(webhook_url=app.url + "/webhooks/whatsapp/")
    """

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.gate = threading.Event()
        self.gate.set()
        self._received: list[Received] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._changed:
                    receiver._received.append(Received(self.command, self.path, headers, body))
                    receiver._changed.notify_all()
                receiver.gate.wait(timeout=30)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def received(self) -> list[Received]:
        """The requests so far, in arrival order."""
        with self._changed:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The requests once there are at least ``count`` (fewer after ``timeout`` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._received) >= count, timeout)
            return list(self._received)


# ---- another process ----------------------------------------------------------------


class RemoteCall(RecordedCall, Protocol):
    """A Call record that can be rebuilt from its JSON."""

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Self: ...


RemoteCallT = TypeVar("RemoteCallT", bound=RemoteCall)


class RemoteFake(Generic[RemoteCallT]):
    """A fake running in another process, read and configured over its control endpoints."""

    call_class: type[RemoteCallT]  # set by each client: the fake's Call record

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _get(self, path: str) -> Any:
        response = self._client.get(path)
        response.raise_for_status()
        return response.json()

    def configure(self, *, replace: bool = False, **changes: object) -> JSONDict:
        """POST /_fake/config; returns the config in force."""
        payload: JSONDict = {k: jsonable(v) for k, v in changes.items()}
        payload["replace"] = replace
        response = self._client.post("/_fake/config", json=payload)
        response.raise_for_status()
        result: JSONDict = response.json()
        return result

    def reset(self) -> None:
        """POST /_fake/reset."""
        self._client.post("/_fake/reset").raise_for_status()

    def stats(self) -> JSONDict:
        """GET /_fake/stats: counts only, cheaper to poll than calls()."""
        result: JSONDict = self._get("/_fake/stats")
        return result

    def calls(self) -> list[RemoteCallT]:
        """Every recorded call in arrival order."""
        return [self.call_class.from_json(c) for c in self._get("/_fake/calls")["calls"]]

    def webhooks(self) -> list[WebhookPost]:
        """Every webhook POST the fake made."""
        return [WebhookPost.from_json(w) for w in self._get("/_fake/webhooks")["webhooks"]]


# ---- command line -------------------------------------------------------------------


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """--host, --port, --token, --config, --dump."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--token", default=None, help="refuse any other token")
    parser.add_argument("--config", default="{}", help="config fields as JSON")
    parser.add_argument("--dump", default=None, help="write the recorded calls here on exit")


def main_for(fake_class: type[FakeServer[Any, Any]], variable: str, argv: list[str] | None = None) -> int:
    """The command line of a fake: ``python -m tests.fakes.<name> --port 0 [--token T]
    [--config JSON] [--dump FILE]``."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {fake_class.__module__}", description="Run the fake until SIGTERM/SIGINT; then dump the calls."
    )
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    fake = fake_class(host=args.host, port=args.port, token=args.token)  # type: ignore[call-arg]
    fake.configure(**json.loads(args.config))
    return serve_in_foreground(fake, variable, args.dump)


@contextlib.contextmanager
def fake_process(module: str, variable: str, *args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``python -m <module> --port 0 <args>`` from the project root; yield (the URL it
    printed as ``<variable>=<url>``, the process); SIGTERM it and wait for it at the end."""
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", module, "--port", "0", *args]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            name, _, url = line.partition("=")
            if name != variable or not url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"{module} printed {line!r}, not {variable}=http://127.0.0.1:<port>")
            yield url, process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)


def serve_in_foreground(fake: FakeServer[Any, Any], variable: str, dump: str | None = None) -> int:
    """Serve until SIGTERM or SIGINT, after printing ``<variable>=<url>`` on stdout; then
    write the recordings to ``dump``."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, fake.request_stop)
        ready = threading.Event()
        server = asyncio.create_task(fake.serve(ready=ready))
        while not ready.is_set() and not server.done():
            await asyncio.sleep(0.01)
        if not server.done():
            print(f"{variable}={fake.url}", flush=True)
        await server

    try:
        asyncio.run(run())
    finally:
        if dump:
            fake.dump(dump)
    return 0
