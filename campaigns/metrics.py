"""Tact's own Prometheus metrics (prometheus_client), and the registry `/metrics` serves.

Celery workers are processes of their own (prefork): every process writes its samples to files
under PROMETHEUS_MULTIPROC_DIR (config/settings.py sets it before prometheus_client is first
imported), and the web's `/metrics` adds up the files of every process on the host, workers
included. Queue depth is read from the broker when Prometheus scrapes.

The engine calls the small functions below (one line each in campaigns/delivery/sending.py);
what is counted, and how, lives here.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence

from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from channels.base import ChannelSession, OutboundMessage, Outcome

from .models import Delivery

# The platform's default account (the environment's credentials); an account of its own is named by its slug.
ACCOUNT = "default"
OUTCOMES = {Delivery.Status.SENT: "sent", Delivery.Status.FAILED: "failed", Delivery.Status.UNCERTAIN: "uncertain"}

MESSAGES = Counter(
    "tact_messages", "Campaign messages by the outcome the worker recorded: sent, failed (with the platform's "
    "reason) or uncertain (no answer; never resent silently).", ["platform", "account", "outcome"])
LIMITER_WAIT = Histogram(
    "tact_rate_limiter_wait_seconds", "Seconds a list's task waited for the shared rate limiter before a chunk.",
    ["platform", "account"], buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0))
PLATFORM_CALL = Histogram(
    "tact_platform_call_seconds", "Seconds one call to a platform took: a chunk of messages sent at once (up to "
    "TACT_MAX_IN_FLIGHT in flight), answered.", ["platform", "account"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0))
CAMPAIGN_LAG = Histogram(
    "tact_campaign_lag_seconds", "Seconds from a message's send time (send_after: send_at, local time and quiet "
    "hours applied) to its sending.", ["platform", "account"],
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0))


def _platform_of(limiter_key: str) -> str:
    """"tact:rate:telegram" -> "telegram"."""
    return limiter_key.removeprefix("tact:rate:").split(":", 1)[0]


def _account_of(limiter_key: str) -> str:
    """"tact:rate:telegram:vip-bot:paid" -> "vip-bot"; no slug -> the default account."""
    parts = limiter_key.removeprefix("tact:rate:").split(":")[1:]
    if parts and parts[-1] == "paid":
        parts = parts[:-1]
    return parts[0] if parts else ACCOUNT


def limiter_waited(limiter_key: str, seconds: float) -> None:
    LIMITER_WAIT.labels(_platform_of(limiter_key), _account_of(limiter_key)).observe(max(0.0, seconds))


def outcomes_recorded(platform: str, rows: Iterable[Delivery], account: str = ACCOUNT) -> None:
    """Count the outcomes a worker committed (each row once: the rows it settled), and the lag of those sent."""
    tally: Tally[str] = Tally()
    lag = CAMPAIGN_LAG.labels(platform, account)
    for row in rows:
        outcome = OUTCOMES.get(row.status)
        if outcome is None:
            continue
        tally[outcome] += 1
        if outcome == "sent" and row.sent_at is not None:
            lag.observe(max(0.0, (row.sent_at - row.send_after).total_seconds()))
    for outcome, n in tally.items():
        MESSAGES.labels(platform, account, outcome).inc(n)


class TimedSession:
    """A platform session whose every send() is timed into PLATFORM_CALL; the rest passes through."""

    def __init__(self, session: ChannelSession, platform: str, account: str = ACCOUNT):
        self._session = session
        self._platform = platform
        self._account = account

    def send(self, messages: Sequence[OutboundMessage]) -> list[Outcome]:
        started = time.perf_counter()
        try:
            return self._session.send(messages)
        finally:
            PLATFORM_CALL.labels(self._platform, self._account).observe(time.perf_counter() - started)

    def __getattr__(self, name: str):
        return getattr(self._session, name)


def timed_session(session: ChannelSession, platform: str, account: str = ACCOUNT) -> TimedSession:
    return TimedSession(session, platform, account)


class QueueDepthCollector:
    """tact_queue_depth{queue}: messages waiting in each Celery queue, read from the broker at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from .health import queue_depths

        family = self._family()
        for queue, depth in queue_depths().items():
            if depth is not None:  # the broker cannot be asked: no sample rather than a false 0
                family.add_metric([queue], depth)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("tact_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"])


def exposition() -> bytes:
    """The text Prometheus scrapes: every process's samples on this host, and the queues' depth."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    registry.register(QueueDepthCollector())
    return generate_latest(registry)
