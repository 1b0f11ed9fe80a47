"""Real Celery worker and beat processes against the test database, Redis and a fake platform."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Engine:
    """Worker and beat as separate OS processes, started as the README says and configured
    through its environment variables (Redis broker, PostgreSQL), with short leases so crash
    recovery shows within seconds."""

    def __init__(self, tmp: Path, env: dict[str, str]):
        db = settings.DATABASES["default"]
        database_url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{connection.settings_dict['NAME']}"
        )
        self.tmp = tmp
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": TEST_REDIS_URL,
            "TACT_VAR_DIR": str(tmp / "var"),
            # Its processes' metrics files, apart from the test process's and other runs'.
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "var" / "prometheus"),
            "TACT_TICK_SECONDS": "0.5",
            "TACT_SWEEP_SECONDS": "1",
            "TACT_LIST_LEASE_SECONDS": "3",
            "TACT_SENDING_LEASE_SECONDS": "5",
            "TACT_RETRY_BACKOFF_SECONDS": "0.2",
            "TACT_PLATFORM_RETRY_SECONDS": "1",
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.workers: list[subprocess.Popen] = []
        self.beat: subprocess.Popen | None = None  # the first beat
        self.beats: list[subprocess.Popen] = []
        self._logs: list[Path] = []
        redis.Redis.from_url(TEST_REDIS_URL).flushdb()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.tmp / f"{name}-{len(self._logs)}.log"
        self._logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start_worker(self) -> subprocess.Popen:
        """`celery -A config worker` exactly as the README tells users: default (prefork)
        pool, every queue, no flags but the log level."""
        n = len(self.workers)
        worker = self._spawn(f"worker{n}", ["worker", "--loglevel", "INFO"])
        self.workers.append(worker)
        log = self._logs[-1]
        wait_until(lambda: " ready." in log.read_text() or worker.poll() is not None, 60, "the worker to be ready")
        assert worker.poll() is None, log.read_text()[-3000:]
        return worker

    def start_beat(self) -> subprocess.Popen:
        """`celery -A config beat`; called again, another beat with its own schedule file (a
        second beat started by mistake, as on a second host)."""
        n = len(self.beats)
        schedule = self.tmp / ("beat-schedule" if n == 0 else f"beat-schedule-{n + 1}")
        beat = self._spawn("beat" if n == 0 else f"beat{n + 1}",
                           ["beat", "--loglevel", "INFO", "--schedule", str(schedule)])
        self.beats.append(beat)
        self.beat = self.beat or beat
        return beat

    def start(self, workers: int = 1) -> Engine:
        for _ in range(workers):
            self.start_worker()
        self.start_beat()
        return self

    def kill_worker(self, worker: subprocess.Popen) -> None:
        """kill -9 the worker and everything it started."""
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def stop(self) -> None:
        for proc in [*self.workers, *self.beats]:
            if proc is not None and proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in self._logs if p.exists())
