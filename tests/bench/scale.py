"""`make bench`'s scale figures (issue 13): a bare COPY of the ledger to compare planning with,
the forecast of the whole audience (with few and with a million recent sends), the lag from
send_at to a small campaign's first message, and the targets printed beside what was
measured. Figures, never assertions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta

COPY_COLUMNS = ("campaign_id, subscriber_id, subscription_id, platform, send_list_id, list_number, status, reason, "
                "send_after, attempts, platform_message_id, created_at, updated_at")


def _scratch_campaign(name: str, n: int):
    from django.utils import timezone

    from campaigns.models import Campaign, Draft, Segment, SendList

    draft = Draft.objects.create(title=name, body="−30% on everything today only\nDetails inside…")
    segment = Segment.objects.create(name=name, kind="static", rules={})
    campaign = Campaign.objects.create(name=name, draft=draft, segment=segment, platforms=["telegram"],
                                       send_at=timezone.now())
    return campaign, SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=n)


def copy_seconds(n: int) -> tuple[float, float]:
    """(bare, ledger): seconds to COPY `n` ledger rows, prepared beforehand, (1) into a bare
    table of the ledger's columns (no index, key or trigger: what writing the rows costs) and
    (2) into campaigns_delivery as it is in production (its indexes, the checks of its references,
    the counters' trigger), each committed; then removed again (and vacuumed) so that
    it changes nothing for the rest of the run."""
    from django.db import connection, transaction
    from django.utils import timezone

    campaign, send_list = _scratch_campaign("bench bare COPY", n)
    with connection.cursor() as cursor:
        cursor.execute("SELECT subscriber_id, id FROM campaigns_subscription ORDER BY id LIMIT %s", [n])
        pairs = cursor.fetchall()
        cursor.execute("DROP TABLE IF EXISTS bench_bare_copy")
        cursor.execute("CREATE TABLE bench_bare_copy (LIKE campaigns_delivery INCLUDING DEFAULTS INCLUDING IDENTITY)")
    at = timezone.now().isoformat()
    data = "".join(f"{campaign.pk}\t{person}\t{subscription}\ttelegram\t{send_list.pk}\t1\tplanned\t\t{at}"
                   f"\t0\t\t{at}\t{at}\n" for person, subscription in pairs).encode()
    del pairs
    seconds = []
    for table in ("bench_bare_copy", "campaigns_delivery"):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({COPY_COLUMNS}) FROM STDIN") as copy:
                for i in range(0, len(data), 1 << 20):
                    copy.write(data[i:i + (1 << 20)])
        seconds.append(time.perf_counter() - started)
    del data
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare_copy")
        cursor.execute("DELETE FROM campaigns_delivery WHERE campaign_id = %s", [campaign.pk])
    campaign.delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_delivery")
    return seconds[0], seconds[1]


def forecast_seconds(say: Callable[[str], None]) -> dict[str, float]:
    """The forecast of a campaign to the whole audience, with caps (1 a day, 3 a week) and
    quiet hours on, in two cases, each the slower of two runs: `light`, against the ledger
    as the run left it (a few recent sends), and `heavy`, after every person of the audience
    was sent a message by another campaign in the last 8 days (a scratch campaign's rows, one
    a person, dated over the 8 days; vacuumed as autovacuum would leave them; removed after)."""
    from datetime import time as clock

    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.delivery import campaign_forecast
    from campaigns.delivery.common import COUNTED
    from campaigns.models import Campaign, Delivery, Draft, FrequencyPolicy, Segment

    policy = FrequencyPolicy.current()
    saved = (policy.max_per_day, policy.max_per_week, policy.quiet_start, policy.quiet_end)
    policy.max_per_day, policy.max_per_week, policy.quiet_start, policy.quiet_end = 1, 3, clock(21), clock(9)
    policy.save()

    def measure(case: str) -> float:
        segment = Segment.objects.create(name=f"bench forecast {case}", kind="dynamic", rules={})
        draft = Draft.objects.create(title="bench forecast", body="−30% on everything today only\nDetails inside…")
        campaign = Campaign.objects.create(name="bench forecast", draft=draft, segment=segment, platforms=["telegram"],
                                           send_at=timezone.now() + timedelta(hours=1))
        recent = Delivery.objects.filter(status__in=COUNTED, sent_at__gte=timezone.now() - timedelta(days=8)).count()
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            forecast = campaign_forecast(campaign=campaign, now=timezone.now())
            runs.append(time.perf_counter() - started)
        say(f"6. forecast of {forecast['audience']:,} people, {case} (caps 1/day 3/week, quiet hours; {recent:,} "
            f"counted sends in the last 8 days): {runs[0]:.2f} s, again {runs[1]:.2f} s; "
            f"held back: {forecast['held_back']}")
        campaign.delete()
        return max(runs)

    try:
        seconds = {"light": measure("light")}
        history, send_list = _scratch_campaign("bench forecast history", 1)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO campaigns_delivery (campaign_id, subscriber_id, subscription_id, platform, send_list_id, "
                "list_number, status, reason, send_after, attempts, platform_message_id, created_at, updated_at, "
                "sent_at) SELECT %s, s.subscriber_id, s.id, s.platform, %s, 1, 'sent', '', t.at, 1, 'bench-' || s.id, "
                "t.at, t.at, t.at FROM campaigns_subscription s, "
                "LATERAL (SELECT now() - interval '5 minutes' - (s.id %% 191) * interval '1 hour' AS at) t",
                [history.pk, send_list.pk])
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE campaigns_delivery")
        written = time.perf_counter() - started
        say(f"   (heavy case: a send to each person in the last 8 days written in {written:.1f} s)")
        try:
            seconds["heavy"] = measure("heavy")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM campaigns_delivery WHERE campaign_id = %s", [history.pk])
            history.delete()
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE campaigns_delivery")
        return seconds
    finally:
        policy.max_per_day, policy.max_per_week, policy.quiet_start, policy.quiet_end = saved
        policy.save()


def first_message_lags(workers: object, fake: object, *, campaigns: int = 20, size: int = 5,
                       timeout: float = 180) -> list[float]:
    """Seconds from send_at to the fake's first message of each of several small campaigns
    (scheduled a few seconds ahead, 0.7 s apart), sent by the running workers."""
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, Draft, Segment, Subscription
    from config.celery import app

    deadline = time.monotonic() + 120
    while len(app.control.ping(timeout=1.0)) < len(workers.procs):  # measure sending, not the workers' start-up
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not start")
    rows = list(Subscription.objects.order_by("-subscriber_id").values_list("subscriber_id", "address")
                [:campaigns * size])
    draft = Draft.objects.create(title="bench first", body="−30% on everything today only\nDetails inside…")
    first_at = timezone.now() + timedelta(seconds=5)
    scheduled: list[tuple[Campaign, set[int]]] = []
    for i in range(campaigns):
        group = rows[i * size:(i + 1) * size]
        segment = Segment.objects.create(name=f"bench first {i}", kind="static", rules={})
        segment.members.set([person for person, _ in group])
        campaign = Campaign.objects.create(name=f"bench first {i}", draft=draft, segment=segment,
                                           platforms=["telegram"], send_at=first_at + timedelta(seconds=0.7 * i))
        scheduled.append((services.campaign_schedule(campaign=campaign, now=timezone.now()),
                          {int(address) for _, address in group}))
    ids = [c.pk for c, _ in scheduled]
    end = time.monotonic() + timeout
    while Campaign.objects.filter(pk__in=ids).exclude(status=Campaign.Status.COMPLETED).exists():
        if time.monotonic() > end:
            raise RuntimeError("the small campaigns did not complete")
        time.sleep(0.5)
    arrivals = sorted(fake.remote.calls(), key=lambda c: c.wall)
    lags = []
    for campaign, chats in scheduled:
        first = next(c.wall for c in arrivals if c.chat_id in chats)
        lags.append(first - campaign.send_at.timestamp())
    return lags


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p99 of 20 values is the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def targets(results: dict, say: Callable[[str], None]) -> None:
    """What was measured beside issue 13's targets, in one table."""
    rows = []
    if "send_per_s" in results and "bare_loop_per_s" in results:
        ratio = results["send_per_s"] / results["bare_loop_per_s"]
        rows.append(("Tact end to end vs the bare PTB loop", f"{ratio:.2f}x ({results['send_per_s']:,}/s)",
                     ">= 1.5x and >= 1,000/s", ratio >= 1.5 and results["send_per_s"] >= 1000))
    if "plan_to_copy_ratio" in results:
        rows.append((f"planning {results['N']:,} vs a bare COPY",
                     f"{results['plan_to_copy_ratio']:.1f}x ({results['plan_seconds']} s / "
                     f"{results['copy_seconds']} s)",
                     "<= 10x", results["plan_to_copy_ratio"] <= 10))
    if "forecast_seconds" in results:
        rows.append((f"forecast of {results['N']:,} (the worse of light and heavy caps)",
                     f"{results['forecast_seconds']} s (light {results.get('forecast_light_seconds')} s, "
                     f"heavy {results.get('forecast_heavy_seconds')} s)", "<= 2 s", results["forecast_seconds"] <= 2))
    if "peak_worker_mb_plan_and_send" in results:
        rows.append((f"worker peak RSS on {results['N']:,}", f"{results['peak_worker_mb_plan_and_send']} MB",
                     "<= 200 MB", results["peak_worker_mb_plan_and_send"] <= 200))
    if "first_message_p99_seconds" in results:
        rows.append(("send_at to first message, p99", f"{results['first_message_p99_seconds']} s", "<= 2 s",
                     results["first_message_p99_seconds"] <= 2))
    say("targets (issue 13), measured in this run:")
    for name, measured, target, met in rows:
        say(f"   {name:<44} {measured:<32} target {target:<24} {'met' if met else 'NOT met'}")
