"""The system's health, read by `GET /health/`, the admin's System page and each campaign's page:
the database, the broker, each queue's workers and depth, beat's last tick, and the running
campaigns that cannot move, each with its reason.

Every check is bounded (short timeouts; the workers' answer is cached a few seconds) and
catches its own failure: a health check that fails with a 500 would hide the reason.
No personal data: campaigns by id, workers by host name, texts of our own.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from kombu.exceptions import ChannelError, KombuError
from redis.exceptions import RedisError

from .logs import masked_digits
from .models import Campaign, Delivery, Heartbeat, SendList

BEAT_TICK = "beat-tick"
# Workers are asked at most this often for the dashboard and campaign pages (each ask waits the
# inspect timeout for replies); /health/ asks again after TACT_HEALTH_WORKERS_CACHE_SECONDS.
QUEUES_CACHE_KEY = "tact:health:worker-queues"
QUEUES_CACHE_SECONDS = 30
# Running campaigns looked at per report.
LOOKED_AT = 200
BROKER_FOLDERS = ("data_folder_in", "data_folder_out", "control_folder", "processed_folder")


def _timeout() -> float:
    return settings.TACT_HEALTH_TIMEOUT_SECONDS


def _broker_connection():
    """A broker connection that gives up after the health timeout (connect and each read)."""
    from config.celery import app

    return app.connection_for_read(transport_options={
        "socket_connect_timeout": _timeout(), "socket_timeout": _timeout()})


def _error(error: BaseException) -> str:
    return masked_digits(str(error) or error.__class__.__name__)[:300]


def _moment(value: datetime, *, seconds: bool = False) -> str:
    """A moment in the current zone (the admin viewer's own, else TIME_ZONE), named."""
    shown = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{shown} {timezone.get_current_timezone_name()}"


# --- heartbeats ----------------------------------------------------------------------


def heartbeat_record(name: str, *, now: datetime, detail: dict | None = None) -> None:
    """One row per part, upserted: two beats ticking at once write the same row, never two."""
    Heartbeat.objects.bulk_create([Heartbeat(name=name, at=now, detail=detail or {})], update_conflicts=True,
                                  unique_fields=["name"], update_fields=["at", "detail"])


def beat_status(*, now: datetime) -> dict:
    """{"ok", "last_tick", "age_seconds", "stale_after_seconds", "error"}."""
    stale_after = settings.TACT_BEAT_STALE_SECONDS
    out = {"ok": False, "last_tick": None, "age_seconds": None, "stale_after_seconds": stale_after, "error": ""}
    try:
        last = Heartbeat.objects.filter(name=BEAT_TICK).values_list("at", flat=True).first()
    except Exception as error:  # noqa: BLE001  the database is down: said by its own check
        out["error"] = _error(error)
        return out
    if last is not None:
        age = max(0.0, (now - last).total_seconds())
        out.update(last_tick=last, age_seconds=round(age, 1), ok=age <= stale_after)
    return out


def _beat_reason(beat: dict) -> str:
    if beat["error"]:
        return _("beat's last tick cannot be read: %(error)s") % {"error": beat["error"]}
    if beat["last_tick"] is None:
        return _("beat has never ticked: nothing is started or dispatched (celery -A config beat)")
    return _("beat has not ticked since %(at)s: nothing is started or dispatched (celery -A config beat)") % {
        "at": _moment(beat["last_tick"], seconds=True)}


# --- database and broker ---------------------------------------------------------------


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001  any failure of the driver is the answer
        return {"ok": False, "error": _error(error)}
    return {"ok": True, "error": ""}


def broker_status() -> dict:
    """Redis (or any network broker): connect and ping within the timeout. The demo's file
    broker: its folders exist and are writable."""
    from config.celery import app

    url = app.conf.broker_url or ""
    transport = url.split("://", 1)[0] or "amqp"
    if transport == "filesystem":
        options = app.conf.broker_transport_options or {}
        bad = [options[k] for k in BROKER_FOLDERS
               if options.get(k) and not (os.path.isdir(options[k]) and os.access(options[k], os.W_OK))]
        return {"ok": not bad, "transport": transport,
                "error": _("not writable: %(folders)s") % {"folders": ", ".join(sorted(set(bad)))} if bad else ""}
    try:
        with _broker_connection() as conn:
            conn.ensure_connection(max_retries=0, timeout=_timeout())
            client = getattr(conn.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()
    except (KombuError, RedisError, OSError) as error:
        return {"ok": False, "transport": transport, "error": _error(error)}
    return {"ok": True, "transport": transport, "error": ""}


# --- workers and queues ----------------------------------------------------------------


def _ask_workers() -> dict:
    """{"queues": [...], "workers": {queue: [host, ...]}, "error": "", "at": epoch}: the queues at
    least one live worker consumes, by whom, or why the broker could not say."""
    from config.celery import app

    asked = time.time()
    try:
        with _broker_connection() as conn:
            conn.ensure_connection(max_retries=0, timeout=_timeout())
            replies = app.control.inspect(timeout=_timeout(), connection=conn).active_queues() or {}
    except (KombuError, RedisError, OSError) as error:  # the broker is down or refuses us
        return {"queues": [], "workers": {}, "error": _error(error), "at": asked}
    workers: dict[str, set[str]] = defaultdict(set)
    for host, queues in replies.items():
        for queue in queues or []:
            workers[queue["name"]].add(host)
    return {"queues": sorted(workers), "workers": {q: sorted(h) for q, h in workers.items()}, "error": "",
            "at": asked}


def worker_queues(*, max_age: float = QUEUES_CACHE_SECONDS) -> dict:
    """The workers' queues as last asked, at most `max_age` seconds ago (the answer waits in the
    cache, shared by web processes; without a cache, e.g. Redis down, workers are asked anew)."""
    try:
        answer = cache.get(QUEUES_CACHE_KEY)
    except (RedisError, OSError):
        answer = None
    # An answer without "at" was put there as it is (tests): fresh.
    if answer is None or time.time() - answer.get("at", time.time()) > max_age:
        answer = _ask_workers()
        try:
            cache.set(QUEUES_CACHE_KEY, answer, QUEUES_CACHE_SECONDS)
        except (RedisError, OSError):
            pass
    return answer


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each of settings.TACT_QUEUES (Redis: the list's length; the file
    broker: its message files); None for all when the broker cannot be asked."""
    depths: dict[str, int | None] = dict.fromkeys(settings.TACT_QUEUES)
    try:
        with _broker_connection() as conn:
            conn.ensure_connection(max_retries=0, timeout=_timeout())
            channel = conn.default_channel
            for queue in settings.TACT_QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:  # Redis drops an empty list's key: nothing waits
                    depths[queue] = 0
    except (KombuError, RedisError, OSError):
        return dict.fromkeys(settings.TACT_QUEUES)
    return depths


# --- campaigns ---------------------------------------------------------------------------


def _queues_needed(campaigns: list[Campaign]) -> dict[int, set[str]]:
    """Per running campaign: the default queue (ticks, planning) and the platform queues of its
    lists not yet done (before planning: all its platforms)."""
    unfinished: dict[int, set[str]] = defaultdict(set)
    for campaign_id, platform in (SendList.objects.filter(campaign__in=campaigns)
                                  .exclude(state=SendList.State.DONE)
                                  .values_list("campaign_id", "platform").distinct()):
        unfinished[campaign_id].add(platform)
    return {c.pk: {settings.CELERY_TASK_DEFAULT_QUEUE,
                   *(unfinished[c.pk] if c.planned_at is not None else c.platforms)} for c in campaigns}


def _overdue_lists(campaigns: list[Campaign], now: datetime) -> dict[int, int]:
    """Per campaign: its lists due more than TACT_HEALTH_OVERDUE_SECONDS ago and not done, when the
    campaign has sent nothing for as long (a campaign held back only by its ceiling is sending)."""
    cutoff = now - timedelta(seconds=settings.TACT_HEALTH_OVERDUE_SECONDS)
    late: dict[int, int] = defaultdict(int)
    for campaign_id in (SendList.objects.filter(campaign__in=campaigns, next_due__lt=cutoff)
                        .exclude(state=SendList.State.DONE).values_list("campaign_id", flat=True)):
        late[campaign_id] += 1
    return {campaign_id: n for campaign_id, n in late.items()
            if not Delivery.objects.filter(campaign_id=campaign_id, sent_at__gte=cutoff).exists()}


def campaigns_held_up(*, now: datetime, workers: dict, broker_ok: bool, beat: dict,
                      campaign_ids: list[int] | None = None) -> list[dict]:
    """Running campaigns that cannot move: [{"id", "reasons": [text, ...]}], oldest started first."""
    running = Campaign.objects.filter(status=Campaign.Status.RUNNING)
    if campaign_ids is not None:
        running = running.filter(pk__in=campaign_ids)
    campaigns = list(running.only("pk", "platforms", "planned_at", "problem", "problem_since")
                     .order_by("started_at", "pk")[:LOOKED_AT])
    if not campaigns:
        return []
    needed = _queues_needed(campaigns)
    have = set(workers["queues"])
    overdue = _overdue_lists(campaigns, now)
    minutes = round(settings.TACT_HEALTH_OVERDUE_SECONDS / 60)
    out = []
    for campaign in campaigns:
        reasons = []
        if campaign.problem:
            problem = masked_digits(campaign.problem)
            reasons.append(_("held up since %(since)s: %(problem)s") % {
                "since": _moment(campaign.problem_since), "problem": problem} if campaign.problem_since else problem)
        if not broker_ok or workers["error"]:
            reasons.append(_("the task broker cannot be reached: nothing is sent"))
        else:
            reasons += [_("no worker consumes the %(queue)s queue") % {"queue": queue}
                        for queue in sorted(needed[campaign.pk] - have)]
        if not beat["ok"]:
            reasons.append(_beat_reason(beat))
        if campaign.pk in overdue:
            n = overdue[campaign.pk]
            reasons.append(ngettext(
                "%(n)s list is overdue by more than %(minutes)s minutes and nothing was sent meanwhile",
                "%(n)s lists are overdue by more than %(minutes)s minutes and nothing was sent meanwhile",
                n) % {"n": n, "minutes": minutes})
        if reasons:
            out.append({"id": campaign.pk, "reasons": reasons})
    return out


def campaign_held_up(campaign: Campaign, *, now: datetime) -> list[str]:
    """Why a running campaign cannot move (empty: nothing known stops it), for its own page."""
    if campaign.status != Campaign.Status.RUNNING:
        return []
    workers = worker_queues()
    found = campaigns_held_up(now=now, workers=workers, broker_ok=not workers["error"], beat=beat_status(now=now),
                              campaign_ids=[campaign.pk])
    return found[0]["reasons"] if found else []


# --- the report ----------------------------------------------------------------------------


def system_report(*, now: datetime) -> dict:
    """Everything above in one JSON-ready dict: "status" is "ok", or "unhealthy" with "reasons"
    saying what is wrong, in words."""
    database = database_status()
    broker = broker_status()
    reasons: list[dict] = []
    if not database["ok"]:
        reasons.append({"check": "database", "text": _("the database cannot be reached: %(error)s") % {
            "error": database["error"]}})
    if not broker["ok"]:
        reasons.append({"check": "broker", "text": _("the broker cannot be reached: %(error)s") % {
            "error": broker["error"]}})
        workers = {"queues": [], "workers": {}, "error": broker["error"]}
        depths: dict[str, int | None] = dict.fromkeys(settings.TACT_QUEUES)
    else:
        workers = worker_queues(max_age=settings.TACT_HEALTH_WORKERS_CACHE_SECONDS)
        depths = queue_depths()
        if workers["error"]:
            reasons.append({"check": "broker", "text": _("the workers cannot be asked through the broker: %(error)s")
                            % {"error": workers["error"]}})
    queues = []
    for queue in settings.TACT_QUEUES:
        hosts = workers["workers"].get(queue, ["?"] if queue in workers["queues"] else [])
        ok = bool(broker["ok"] and not workers["error"] and queue in workers["queues"])
        queues.append({"name": queue, "ok": ok, "workers": hosts, "depth": depths.get(queue)})
        if broker["ok"] and not workers["error"] and not ok:
            reasons.append({"check": "queues", "queue": queue,
                            "text": _("no worker consumes the %(queue)s queue") % {"queue": queue}})
    beat = beat_status(now=now) if database["ok"] else {
        "ok": False, "last_tick": None, "age_seconds": None,
        "stale_after_seconds": settings.TACT_BEAT_STALE_SECONDS, "error": database["error"]}
    if database["ok"] and not beat["ok"]:
        reasons.append({"check": "beat", "text": _beat_reason(beat)})
    held_up: list[dict] = []
    if database["ok"]:
        try:
            held_up = campaigns_held_up(now=now, workers=workers, broker_ok=broker["ok"], beat=beat)
        except Exception as error:  # noqa: BLE001  the database failed between two checks
            reasons.append({"check": "campaigns", "text": _error(error)})
    for campaign in held_up:
        reasons.append({"check": "campaigns", "campaign": campaign["id"],
                        "text": _("campaign %(id)s cannot move: %(reasons)s") % {
                            "id": campaign["id"], "reasons": "; ".join(campaign["reasons"])}})
    return {
        "status": "unhealthy" if reasons else "ok",
        "checked_at": now,
        "reasons": reasons,
        "database": database,
        "broker": broker,
        "queues": queues,
        "beat": beat,
        "campaigns": held_up,
    }
