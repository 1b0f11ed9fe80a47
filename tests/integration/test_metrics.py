"""`/metrics` (Prometheus): a campaign sent by a real `celery -A config worker` (prefork) through
the fake Telegram Bot API is counted exactly in the web's scrape (prometheus_client's
multiprocess files); the endpoint answers only allowed addresses or the token; and
TACT_LOG_FORMAT=json gives JSON lines, still redacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from campaigns import services
from campaigns.models import Campaign, Delivery, FrequencyPolicy, Tag
from tests.conftest import CampaignFactory, SegmentFactory, SubscriberFactory, subscribe
from tests.fakes.telegram import FakeTelegram

from .engine import ROOT, Engine, wait_until

TOKEN = "123456:TEST-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def telegram(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"platform": "telegram", "account": "default", **labels}.items()))


@pytest.mark.django_db(transaction=True)
def test_a_campaign_through_a_real_worker_is_counted_exactly_at_the_webs_metrics(tmp_path, live_server, settings):
    # given: 6 people on Telegram, one who blocked the bot (failed) and one whose answer is lost
    # in a 502 (uncertain); web and worker share the metrics folder, as in compose
    folder = tmp_path / "prometheus"
    folder.mkdir()
    settings.PROMETHEUS_MULTIPROC_DIR = str(folder)
    policy = FrequencyPolicy.current()
    policy.max_per_day = policy.max_per_week = None
    policy.quiet_start = policy.quiet_end = datetime.min.time()
    policy.save()
    tag = Tag.objects.create(name="all")
    for i in range(6):
        person = SubscriberFactory()
        person.tags.add(tag)
        subscribe(person, "telegram", str(8000 + i))
    with FakeTelegram() as fake:
        fake.configure(chat_rules={8004: "blocked", 8005: "bad_gateway"})
        engine = Engine(tmp_path, {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.base_url,
                                   "PROMETHEUS_MULTIPROC_DIR": str(folder), "TACT_LOG_FORMAT": "json"})
        try:
            engine.start()
            # when: the campaign is sent
            segment = SegmentFactory(rules={"tags_all": ["all"], "tags_any": [], "platforms": [], "attributes": {}})
            send_at = timezone.now() + timedelta(seconds=1)
            campaign = services.campaign_schedule(campaign=CampaignFactory(segment=segment, send_at=send_at),
                                                  now=send_at - timedelta(seconds=5))
            wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.COMPLETED, 90,
                       "the campaign to complete")
            # and Prometheus scrapes the web
            page = httpx.get(f"{live_server.url}/metrics", timeout=30)
        finally:
            engine.stop()

    # then: the ledger says 4 sent, 1 failed, 1 uncertain, and so do the metrics, to the unit
    ledger = sorted(Delivery.objects.filter(campaign=campaign).values_list("status", flat=True))
    assert ledger == ["failed", "sent", "sent", "sent", "sent", "uncertain"]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain; version=")
    found = samples(page.text)
    assert {labels: value for (name, labels), value in found.items() if name == "tact_messages_total"} == {
        telegram(outcome="sent"): 4.0, telegram(outcome="failed"): 1.0, telegram(outcome="uncertain"): 1.0}
    assert found[("tact_campaign_lag_seconds_count", telegram())] == 4.0
    calls = found[("tact_platform_call_seconds_count", telegram())]
    assert 1 <= calls <= 6  # one per chunk sent at once
    assert found[("tact_platform_call_seconds_sum", telegram())] > 0
    assert found[("tact_rate_limiter_wait_seconds_count", telegram())] >= calls
    assert {labels for (name, labels), _ in found.items() if name == "tact_queue_depth"} == {
        (("queue", q),) for q in settings.TACT_QUEUES}
    # the worker logged JSON lines, addresses masked by the same filter
    worker_log = "\n".join(p.read_text() for p in sorted(tmp_path.glob("worker*.log")))
    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    planned = [line for line in lines if line["message"] == f"campaign {campaign.pk} planned: 6 deliveries"]
    assert [(p["level"], p["logger"], p["task"]) for p in planned] == [
        ("INFO", "campaigns.delivery.planning", "campaigns.tasks.plan")]


@pytest.mark.django_db
def test_metrics_answer_only_the_allowed_addresses_or_the_token(settings):
    settings.TACT_METRICS_TOKEN = "s3cret-scraper-token"
    settings.TACT_METRICS_ALLOWED_IPS = ["127.0.0.1", "10.8.0.0/16"]

    local = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    allowed_network = Client(REMOTE_ADDR="10.8.3.4").get("/metrics")
    stranger = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    wrong_token = Client(REMOTE_ADDR="203.0.113.9").get("/metrics", HTTP_AUTHORIZATION="Bearer guess")
    with_token = Client(REMOTE_ADDR="203.0.113.9").get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scraper-token")

    assert [r.status_code for r in (local, allowed_network, stranger, wrong_token, with_token)] == [
        200, 200, 403, 403, 200]
    assert "tact_messages" not in stranger.content.decode()
    # django-prometheus's own request metrics are there too (this process's requests)
    assert "django_http_requests_total_by_view_transport_method_total" in with_token.content.decode()


def test_json_logs_are_one_object_a_line_with_long_digit_runs_masked(tmp_path):
    script = ("import django, logging; django.setup(); "
              "logging.getLogger('campaigns.test').warning('opt-out of +79991234567 handled')")
    env = {"TACT_LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings", "TACT_VAR_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})

    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [(line["level"], line["logger"], line["message"]) for line in lines
            if line["logger"] == "campaigns.test"] == [("WARNING", "campaigns.test", "opt-out of +*********67 handled")]
    assert "79991234567" not in done.stderr
