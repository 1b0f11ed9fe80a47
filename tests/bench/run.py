"""`make bench`: planning rate, send throughput, ceiling use and worker memory, printed.

    N=100000 make bench      (default)      N=1000000 make bench      (a million)

Builds an audience of N Telegram subscribers in a fresh PostgreSQL database `tact_bench`,
then measures, in one run, on this machine:
  1. the fake Telegram server alone (so we know it is not the bottleneck);
  2. a bare python-telegram-bot broadcast loop (asyncio, no ledger, no caps) to the fake;
  3. Tact end to end: real worker processes plan the campaign (planning rate) and send
     it to the fake with the ceiling lifted (throughput), peak worker memory sampled;
  4. the baseline of one Celery task per message, on a sample of the audience;
  5. a campaign at a 30/s ceiling: the share of the ceiling used and the busiest second;
  0. (first) a bare COPY of N ledger rows, which planning is compared with;
  6. the forecast of the whole audience (caps and quiet hours on), as the run left the ledger
     and after a send to every person in the last 8 days; 7. send_at to the first
     message of FIRST_N small campaigns (p50, p99); then the targets beside the figures.
Figures are printed, never asserted; they also go to var/bench.json. BENCH_DB names the
database (default tact_bench: dropped and made again).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N = int(os.environ.get("N", "100000"))
BASELINE_N = int(os.environ.get("BASELINE_N", str(min(N, 3000))))
CEILING_N = int(os.environ.get("CEILING_N", "600"))
FIRST_N = int(os.environ.get("FIRST_N", "20"))  # small campaigns timed from send_at to their first message
# With a million, sending everything takes about an hour per contender: measure the bare
# loop on a sample, and Tact's sending over a window, then cancel the rest.
SAMPLE = int(os.environ.get("BENCH_SAMPLE", str(min(N, 100_000))))
SEND_SECONDS = float(os.environ.get("BENCH_SEND_SECONDS", "0")) or None
# Workers run as the README says: `celery -A config worker`, the default prefork pool, whose
# concurrency is the number of cores (2 here: two processes sending), one worker by default.
WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
POOL_PROCESSES = os.cpu_count() or 1  # Celery's default concurrency
PROFILE_SECONDS = float(os.environ.get("BENCH_PROFILE_SECONDS", "10"))  # 0: no profile
PROFILE_N = int(os.environ.get("BENCH_PROFILE_N", str(min(N, 50_000))))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DB", "tact_bench")  # dropped and made again by every run
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
TOKEN = "123456:BENCH"
os.environ.update(DATABASE_URL=f"{PG}/{DB_NAME}", REDIS_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="config.settings")


def say(text: str) -> None:
    print(text, flush=True)


def fresh_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def build_audience(n: int) -> float:
    """N subscribers over four zones, each opted in on Telegram with a consent event."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            "INSERT INTO campaigns_subscriber (external_id, name, timezone, language, attributes, created_at, updated_at, "
            "search_name, tester, unanswered) "
            "SELECT 'bench-' || g, 'Bench ' || g, (ARRAY['Europe/Moscow','Europe/Berlin','Asia/Novosibirsk',"
            "'America/New_York'])[1 + g %% 4], 'ru', '{}', now(), now(), 'bench ' || g, false, 0 "
            "FROM generate_series(1, %s) g",
            [n],
        )
        c.execute(
            "INSERT INTO campaigns_subscription (subscriber_id, platform, address, status, saved_our_number, "
            "created_at, updated_at, address_hash) "
            "SELECT id, 'telegram', (1000000 + id)::text, 'opted_in', false, now(), now(), '' "
            "FROM campaigns_subscriber"
        )
        c.execute(
            "INSERT INTO campaigns_consentevent (subscription_id, kind, status, source, text, evidence, at, recorded_at, "
            "by_person) SELECT id, 'opt_in', 'opted_in', 'bench', 'Yes, send me offers', '{}', now(), now(), true "
            "FROM campaigns_subscription"
        )
    with connection.cursor() as c:
        c.execute("ANALYZE")
    return time.perf_counter() - started


class Fake:
    """The fake Telegram server in its own process, so it shares no GIL with the measured."""

    def __init__(self, config: dict | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram", "--port", "0", "--config", json.dumps(config or {})],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline().strip()
        self.url = line.split("=", 1)[1]
        from tests.fakes.telegram import RemoteFakeTelegram

        self.remote = RemoteFakeTelegram(self.url, timeout=120)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(20)


def bare_loop(base_url: str, chats: list[int], text: str, concurrency: int = 100) -> float:
    """What a marketer would otherwise write: asyncio + one Bot, no ledger, no caps."""
    from telegram import Bot
    from telegram.request import HTTPXRequest

    async def run() -> None:
        request = HTTPXRequest(connection_pool_size=concurrency)
        async with Bot(TOKEN, base_url=base_url, request=request) as bot:
            pending = iter(chats)

            async def worker() -> None:
                for chat in pending:
                    await bot.send_message(chat_id=chat, text=text)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(run())
    return len(chats) / (time.perf_counter() - started)


def worker_memory_mb(pid: int) -> tuple[float, float]:
    """(largest, together): the resident memory (RSS) of the largest process of a worker (its
    main process and its prefork pool), and their proportional set size added up (PSS: pages
    the forked processes share counted once; adding up their RSS would count them in each)."""
    largest = together = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    largest = max(largest, int(line.split()[1]))
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    together += int(line.split()[1])
        except OSError:
            pass
    return largest / 1024, together / 1024


class Workers:
    def __init__(self, env: dict[str, str], count: int, include: str = ""):
        self.procs = []
        self.env = {**os.environ, **env}
        self.logs = []
        for i in range(count):
            log = ROOT / "var" / f"bench-worker{i}.log"
            self.logs.append(log)
            # The README's command; --hostname only tells several workers on one host apart.
            args = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
                    "--hostname", f"bench{i}-{os.getpid()}@%h"]
            if include:
                args += ["--include", include]
            self.procs.append(subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=log.open("w"),
                                               stderr=subprocess.STDOUT, start_new_session=True))
        beat_log = ROOT / "var" / "bench-beat.log"
        self.beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel", "WARNING",
             "--schedule", str(ROOT / "var" / "bench-beat-schedule")],
            cwd=ROOT, env=self.env, stdout=beat_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.peak_mb = 0.0  # the largest process's RSS
        self.peak_pss_mb = 0.0  # the worker's processes together
        self._sampling = True
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        time.sleep(4)

    def _sample(self) -> None:
        while self._sampling:
            for proc in self.procs:
                largest, together = worker_memory_mb(proc.pid)
                self.peak_mb, self.peak_pss_mb = max(self.peak_mb, largest), max(self.peak_pss_mb, together)
            time.sleep(0.2)

    def stop(self) -> None:
        self._sampling = False
        for proc in [*self.procs, self.beat]:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in [*self.procs, self.beat]:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def run_campaign(limit: int | None = None, expect: int | None = None, timeout: float = 3600,
                 send_seconds: float | None = None) -> dict:
    """Schedule a campaign to the whole audience (or the first `limit`), wait for it."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, Draft, Segment, Subscriber

    if limit is None:
        segment = Segment.objects.create(name=f"bench {time.time()}", kind="dynamic", rules={})
    else:
        segment = Segment.objects.create(name=f"bench {time.time()}", kind="static", rules={})
        segment.members.set(Subscriber.objects.order_by("pk").values_list("pk", flat=True)[:limit])
    draft = Draft.objects.create(title="bench", body="−30% on everything today only\nDetails inside…")
    send_at = timezone.now() + timedelta(seconds=1)
    campaign = Campaign.objects.create(name="bench", draft=draft, segment=segment, platforms=["telegram"], send_at=send_at)
    services.campaign_schedule(campaign=campaign, now=send_at - timedelta(seconds=2))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign.refresh_from_db()
        if campaign.status == Campaign.Status.COMPLETED:
            break
        if send_seconds and campaign.planned_at:
            return _measure_window(campaign, send_seconds)
        time.sleep(0.2)
    else:
        raise RuntimeError(f"campaign {campaign.pk} did not complete in {timeout} s: {campaign.status}")
    stats = __import__("campaigns.selectors", fromlist=["campaign_stats"]).campaign_stats(campaign)
    planned = stats["planned"]
    if expect is not None and (planned != expect or stats["sent"] != expect):
        raise RuntimeError(f"expected {expect} sent, got {stats}")
    return {
        "deliveries": planned,
        "plan_seconds": (campaign.planned_at - campaign.started_at).total_seconds(),
        "send_seconds": (campaign.finished_at - campaign.planned_at).total_seconds(),
        "stats": stats,
    }


def _measure_window(campaign, seconds: float) -> dict:
    """Sending rate over `seconds` after planning, from the ledger; then cancel the rest."""
    from campaigns import services
    from campaigns.models import Delivery

    def sent() -> int:
        return Delivery.objects.filter(campaign=campaign, status="sent").count()

    time.sleep(2)  # past the start
    first, started = sent(), time.monotonic()
    time.sleep(seconds)
    last, elapsed = sent(), time.monotonic() - started
    services.campaign_cancel(campaign=campaign)
    planned = Delivery.objects.filter(campaign=campaign).count()
    return {
        "deliveries": planned,
        "plan_seconds": (campaign.planned_at - campaign.started_at).total_seconds(),
        "send_seconds": elapsed,
        "sent_in_window": last - first,
        "stats": {},
    }


def main() -> None:
    import django

    (ROOT / "var").mkdir(exist_ok=True)
    say(f"Tact benchmark: N={N:,} subscribers, {os.cpu_count()} cores; Tact: {WORKERS} worker(s) as the README runs "
        f"them (`celery -A config worker`, default prefork pool, concurrency {POOL_PROCESSES} = the cores), i.e. "
        f"{WORKERS * POOL_PROCESSES} processes sending; the bare loop: 1 process, 100 concurrent sends")
    fresh_database()
    django.setup()
    from django.core.management import call_command

    from campaigns.models import FrequencyPolicy
    from tests.fakes.telegram import measure_capacity

    call_command("migrate", verbosity=0)
    policy = FrequencyPolicy.current()
    policy.max_per_day = policy.max_per_week = None
    policy.quiet_start = policy.quiet_end = policy.quiet_start.replace(hour=0)
    policy.save()
    build_seconds = build_audience(N)
    say(f"  audience built in PostgreSQL: {N:,} subscribers in {build_seconds:.1f} s (no caps, no quiet hours)")
    results: dict[str, object] = {"N": N, "cores": os.cpu_count(), "workers": WORKERS, "pool": "prefork",
                                  "sending_processes": WORKERS * POOL_PROCESSES, "bare_loop_processes": 1}
    from tests.bench import scale

    copy_seconds, copy_ledger_seconds = scale.copy_seconds(N)  # what planning is compared with (issue 13)
    results.update(copy_seconds=round(copy_seconds, 2), copy_ledger_seconds=round(copy_ledger_seconds, 2))
    say(f"0. COPY of {N:,} ledger rows: bare (a table of its columns, no index or key) {copy_seconds:.2f} s; "
        f"into campaigns_delivery (its indexes, reference checks, counter trigger) {copy_ledger_seconds:.2f} s")

    capacity = measure_capacity(n=20000, concurrency=100)
    results["fake_capacity_per_s"] = round(capacity)
    say(f"1. fake Telegram server alone: {capacity:,.0f} requests/s (20,000 requests, 100 connections)")

    text = "−30% on everything today only\nDetails inside…"
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT address::bigint FROM campaigns_subscription ORDER BY id")
        chats = [row[0] for row in c.fetchall()]
    fake = Fake()
    try:
        bare = bare_loop(fake.remote.base_url, chats[:SAMPLE], text)
        results["bare_loop_per_s"] = round(bare)
        say(f"2. bare python-telegram-bot loop (1 process, asyncio, 100 concurrent, PTB's default HTTPXRequest, "
            f"{min(N, SAMPLE):,} messages): {bare:,.0f} messages/s")
        fake.remote.reset()

        env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.remote.base_url, "TACT_RATE_TELEGRAM": "",
               "TACT_TICK_SECONDS": "0.5", "DJANGO_DEBUG": "false"}
        workers = Workers(env, WORKERS, include="tests.bench.baseline")
        try:
            run = run_campaign(expect=None if SEND_SECONDS else N, send_seconds=SEND_SECONDS)
            counts = fake.remote.count_by_chat(delivered_only=False)
            duplicates = sum(1 for v in counts.values() if v > 1)
            plan_rate = run["deliveries"] / run["plan_seconds"]
            send_rate = run.get("sent_in_window", run["deliveries"]) / run["send_seconds"]
            results.update(plan_seconds=round(run["plan_seconds"], 1), plan_per_s=round(plan_rate),
                           send_seconds=round(run["send_seconds"], 1), send_per_s=round(send_rate),
                           at_fake=len(counts), duplicates=duplicates)
            say(f"3. Tact planning: {run['deliveries']:,} deliveries in {run['plan_seconds']:.1f} s = {plan_rate:,.0f}/s")
            window = f"over {SEND_SECONDS:.0f} s, then cancelled" if SEND_SECONDS else f"{run['send_seconds']:.1f} s"
            say(f"   Tact sending, end to end through the workers, ceiling lifted: {send_rate:,.0f} messages/s "
                f"({window}); {len(counts):,} chats reached, {duplicates} twice")
            say("   (ledger claims and outcomes, cap checks under each person's lock, consent share locks all on; "
                "TACT_RATE_TELEGRAM empty: no ceiling, so no limiter slot is taken)")
            say(f"   = {send_rate / bare:.2f}x the bare loop ({WORKERS * POOL_PROCESSES} sending processes against its 1)")
            results["peak_worker_mb_plan_and_send"] = round(workers.peak_mb)
            results["peak_worker_pss_mb_plan_and_send"] = round(workers.peak_pss_mb)
            say(f"   peak worker memory while planning and sending: {workers.peak_mb:,.0f} MB RSS in its largest "
                f"process; {workers.peak_pss_mb:,.0f} MB its processes together (PSS)")
            workers.peak_mb = workers.peak_pss_mb = 0.0
            if PROFILE_SECONDS:
                from tests.bench import profile

                split, profiled, seconds = profile.profile_campaign(
                    workers=workers, fake=fake, database=DB_NAME, size=PROFILE_N, seconds=PROFILE_SECONDS, say=say)
                results["send_profile_ms"] = split
                results["send_profile_split"] = profile.summary(split)
                results["send_profile_per_s"] = round(profiled / seconds)
                for line in profile.describe(split, profiled, seconds):
                    say(line)
                workers.peak_mb = workers.peak_pss_mb = 0.0

            fake.remote.reset()
            from tests.bench.baseline import send_one

            sample = chats[:BASELINE_N]
            started = time.perf_counter()
            for chat in sample:
                send_one.apply_async((TOKEN, fake.remote.base_url, chat, text), queue="celery")
            while len(fake.remote.sent()) < len(sample):
                if time.perf_counter() - started > 1800:
                    raise RuntimeError("baseline did not finish")
                time.sleep(0.5)
            baseline = len(sample) / (time.perf_counter() - started)
            results["one_task_per_message_per_s"] = round(baseline)
            say(f"4. baseline, one Celery task per message ({len(sample):,} messages): {baseline:,.0f} messages/s; "
                f"Tact is {send_rate / baseline:.1f}x")
        finally:
            workers.stop()
        results["peak_worker_mb_baseline"] = round(workers.peak_mb)
        say(f"   peak worker memory running the baseline's tasks: {workers.peak_mb:,.0f} MB RSS in its largest process; "
            f"{workers.peak_pss_mb:,.0f} MB its processes together (PSS)")

        fake.remote.reset()
        env["TACT_RATE_TELEGRAM"] = "30"
        workers = Workers(env, WORKERS)
        try:
            run_campaign(limit=CEILING_N, expect=CEILING_N)
        finally:
            workers.stop()
        calls = fake.remote.calls()
        times = sorted(c.monotonic for c in calls)
        busiest = fake.remote.max_in_any_window(1.0)
        rate = (len(times) - 1) / (times[-1] - times[0])
        results.update(ceiling_rate_per_s=round(rate, 2), ceiling_use=round(rate / 30, 3), busiest_second=busiest)
        say(f"5. at a 30/s ceiling ({CEILING_N} messages): {rate:.1f} messages/s = {rate / 30:.0%} of the ceiling; "
            f"busiest one-second window: {busiest} requests")

        forecast = scale.forecast_seconds(say)  # the worse of the light and the heavy case (issue 13)
        results.update(forecast_seconds=round(max(forecast.values()), 2),
                       forecast_light_seconds=round(forecast["light"], 2),
                       forecast_heavy_seconds=round(forecast["heavy"], 2))
        fake.remote.reset()
        env["TACT_RATE_TELEGRAM"] = ""
        workers = Workers(env, WORKERS)
        try:
            lags = scale.first_message_lags(workers, fake, campaigns=FIRST_N)
        finally:
            workers.stop()
        results.update(first_message_p99_seconds=round(scale.percentile(lags, 0.99), 2),
                       first_message_p50_seconds=round(scale.percentile(lags, 0.5), 2))
        say(f"7. send_at to the first message, {len(lags)} campaigns of 5 people: p50 "
            f"{results['first_message_p50_seconds']} s, p99 {results['first_message_p99_seconds']} s")
    finally:
        fake.stop()
    if "plan_seconds" in results:
        results["plan_to_copy_ratio"] = round(float(results["plan_seconds"]) / copy_seconds, 1)
    scale.targets(results, say)
    (ROOT / "var" / "bench.json").write_text(json.dumps(results, indent=2))
    say(json.dumps(results))


if __name__ == "__main__":
    main()
