"""`make bench`'s profile of sending (issue 13): where the CPU goes per message.

While the workers send, py-spy samples them from outside (no change to the processes it
watches; only threads running Python, so waits are not counted) and /proc gives the CPU
seconds of each process involved: the worker's processes,
the PostgreSQL backends serving the bench's database, the fake Telegram server and beat.
Each sample of a worker is put in one bucket by the innermost frame that belongs to one
(stdlib and Django's non-database code pass through to their caller):

  http_client       the request layer (channels/telegram_http.py, httpx/httpcore/h11 if used),
                    asyncio's streams and event loop
  telegram_library  python-telegram-bot: building each call, reading its answer
  database_client   Django's ORM and psycopg, in the worker
  our_code          campaigns/, channels/ (the engine: claim, personalise, judge, record)
  celery            Celery, kombu, billiard, redis-py
  other             the rest

The database's own share is its backends' CPU (database_server). Figures, never assertions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_TICK = os.sysconf("SC_CLK_TCK")

# (bucket, fragments of a frame's file): the first bucket whose fragment is in the file.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("http_client", ("channels/telegram_http.py", "/httpx/", "/httpcore/", "/h11/", "/anyio/", "/sniffio/",
                     "/telegram/request/_httpxrequest.py", "/asyncio/", "/ssl.py", "/selectors.py")),
    ("telegram_library", ("/telegram/",)),
    ("database_client", ("/django/db/", "/psycopg/", "/psycopg_binary/", "/psycopg_c/")),
    ("our_code", (f"{ROOT}/campaigns/", f"{ROOT}/channels/", f"{ROOT}/config/")),
    ("celery", ("/celery/", "/kombu/", "/billiard/", "/redis/", "/vine/", "/amqp/")),
)
NAMES = {"http_client": "HTTP client", "telegram_library": "python-telegram-bot", "database_client":
         "database (Django ORM + psycopg, in the worker)", "database_server": "database (PostgreSQL server)",
         "our_code": "our code", "celery": "Celery", "other": "other (Python, Django's non-database code)",
         "fake": "fake Telegram server", "beat": "beat"}


def bucket_of(stack: list[str]) -> str:
    """The bucket of one sample (frames root first, as py-spy writes them)."""
    for frame in reversed(stack):
        file = frame.rpartition("(")[2]
        for bucket, fragments in BUCKETS:
            if any(f in file for f in fragments):
                return bucket
    return "other"


def read_samples(raw: str) -> Counter[str]:
    """py-spy's raw (collapsed) output -> samples per bucket."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[bucket_of(stack.split(";"))] += int(n)
    return counts


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        p = queue.pop()
        pids.append(p)
        queue += _children(p)
    return pids


def backends(database: str) -> list[int]:
    """PostgreSQL's backends serving `database` (their command line names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if line.startswith(b"postgres: ") and f" {database} ".encode() in line:
                found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop(), polled so that
    processes that come and go meanwhile (a backend) are counted too."""

    def __init__(self, groups: dict[str, object]):
        self.groups = groups  # name -> callable returning the group's pids now
        self.used: dict[str, float] = dict.fromkeys(groups, 0.0)
        self._last: dict[tuple[str, int], float] = {}
        self._running = False

    def _poll(self, first: bool = False) -> None:
        for name, pids in self.groups.items():
            for pid in pids():  # type: ignore[operator]
                now = cpu_seconds(pid)
                if now is None:
                    continue
                before = self._last.get((name, pid))
                if before is None:
                    before = now if first else 0.0  # born during the window: all of it counts
                self.used[name] += now - before
                self._last[(name, pid)] = now

    def start(self) -> None:
        self._poll(first=True)
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            time.sleep(0.1)
            self._poll()

    def stop(self) -> dict[str, float]:
        self._running = False
        self._thread.join()
        self._poll()
        return dict(self.used)


class SendProfile:
    """py-spy on the worker processes plus CPU meters, for `seconds` from start()."""

    def __init__(self, *, worker_pids: list[int], fake_pid: int, beat_pid: int, database: str,
                 seconds: float, rate: int = 100):
        self.seconds = seconds
        self.spy = str(Path(sys.executable).with_name("py-spy"))
        if not Path(self.spy).exists():
            self.spy = shutil.which("py-spy") or self.spy
        self.dir = Path(tempfile.mkdtemp(prefix="tact-bench-spy-"))
        self.worker_pids, self.rate = worker_pids, rate
        self.meter = CpuMeter({
            "workers": lambda: [p for w in worker_pids for p in tree(w)],
            "database_server": lambda: backends(database),
            "fake": lambda: tree(fake_pid),
            "beat": lambda: tree(beat_pid),
        })
        self.procs: list[subprocess.Popen] = []
        self.error = ""

    def start(self) -> None:
        if not Path(self.spy).exists():
            self.error = "py-spy is not installed (pip install -e '.[dev]')"
        for i, pid in enumerate(self.worker_pids if not self.error else []):
            self.procs.append(subprocess.Popen(
                # --gil: only samples of a thread running Python (holding the GIL), so that
                # waiting for PostgreSQL or the network, and idle threads, are not counted.
                [self.spy, "record", "--pid", str(pid), "--subprocesses", "--gil", "--nonblocking", "--full-filenames",
                 "--format", "raw", "--rate", str(self.rate), "--duration", str(round(self.seconds)),
                 "--output", str(self.dir / f"worker{i}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        self.meter.start()

    def finish(self, messages: int) -> dict[str, float]:
        """Wait for py-spy; the CPU milliseconds per message in each bucket (`messages` sent meanwhile)."""
        used = self.meter.stop()
        samples: Counter[str] = Counter()
        for proc in self.procs:
            _, err = proc.communicate(timeout=self.seconds + 60)
            if proc.returncode != 0 and not self.error:
                self.error = f"py-spy failed: {err.strip()[-300:]}"
        for file in self.dir.glob("*.txt"):
            samples += read_samples(file.read_text())
        shutil.rmtree(self.dir, ignore_errors=True)
        per = 1000.0 / max(1, messages)
        total = sum(samples.values())
        split = {b: used["workers"] * samples[b] / total * per for b, _ in BUCKETS} if total else {}
        if total:
            split["other"] = used["workers"] * samples["other"] / total * per
        else:
            split["workers_unsplit"] = used["workers"] * per
        split.update(database_server=used["database_server"] * per, fake=used["fake"] * per, beat=used["beat"] * per)
        return {k: round(v, 3) for k, v in split.items()}


def summary(split_ms: dict[str, float]) -> dict[str, float]:
    """Shares of Tact's CPU per message (the fake's excluded): HTTP client, database (client +
    server), our code, other (python-telegram-bot shown apart, then folded into nothing else)."""
    ours = {k: v for k, v in split_ms.items() if k != "fake"}
    total = sum(ours.values()) or 1.0
    share = {k: round(v / total, 3) for k, v in ours.items()}
    share["database"] = round(share.get("database_client", 0) + share.get("database_server", 0), 3)
    share["cpu_ms_per_message"] = round(total, 3)
    return share


def describe(split_ms: dict[str, float], messages: int, seconds: float) -> list[str]:
    """The lines the bench prints."""
    ours = {k: v for k, v in split_ms.items() if k != "fake"}
    total = sum(ours.values()) or 1.0
    order = ["http_client", "telegram_library", "database_client", "database_server", "our_code", "celery",
             "other", "beat", "workers_unsplit"]
    parts = [f"{NAMES.get(k, k)} {ours[k]:.3f} ms ({ours[k] / total:.0%})" for k in order if k in ours]
    return [f"   profile of sending ({messages:,} messages in {seconds:.0f} s, py-spy on the workers, /proc for the "
            f"rest): {total:.3f} ms CPU per message on this machine, of which",
            *(f"      {p}" for p in parts),
            f"      (and the fake Telegram server {split_ms.get('fake', 0):.3f} ms, not counted)"]


def profile_campaign(*, workers: object, fake: object, database: str, size: int, seconds: float,
                     say: object) -> tuple[dict[str, float], int, float]:
    """A campaign to the first `size` people, profiled for `seconds` once it is sending, then
    cancelled: (ms per message by bucket, messages sent in the window, the window's seconds)."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, Delivery, Draft, Segment, Subscriber

    segment = Segment.objects.create(name=f"bench profile {time.time()}", kind="static", rules={})
    segment.members.set(Subscriber.objects.order_by("pk").values_list("pk", flat=True)[:size])
    draft = Draft.objects.create(title="bench profile", body="−30% on everything today only\nDetails inside…")
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = Campaign.objects.create(name="bench profile", draft=draft, segment=segment, platforms=["telegram"],
                                       send_at=send_at)
    services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=2))

    def sent() -> int:
        return Delivery.objects.filter(campaign=campaign, status="sent").count()

    deadline = time.monotonic() + 600
    while sent() < 1000:
        if time.monotonic() > deadline:
            raise RuntimeError("the profiled campaign did not start sending")
        time.sleep(0.2)
    profile = SendProfile(worker_pids=[p.pid for p in workers.procs], fake_pid=fake.proc.pid,  # type: ignore[attr-defined]
                          beat_pid=workers.beat.pid, database=database, seconds=seconds)  # type: ignore[attr-defined]
    first, started = sent(), time.monotonic()
    profile.start()
    time.sleep(seconds)
    last, elapsed = sent(), time.monotonic() - started
    split = profile.finish(last - first)
    services.campaign_cancel(campaign=campaign)
    if profile.error:
        say(f"   profile: {profile.error}")  # type: ignore[operator]
    return split, last - first, elapsed
