"""End to end: what `make run` starts, used as a new marketer would use it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Quickstart:
    """`make run` in its own process group, its output collected line by line."""

    def __init__(self, var_dir: Path, port: int):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(TACT_VAR_DIR=str(var_dir), TACT_PORT=str(port), PYTHONUNBUFFERED="1")
        self.port = port
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"TACT_PORT={port}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 120) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if m := re.search(pattern, self.output):
                return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"`make run` never printed {pattern!r}; it printed:\n{self.output[-4000:]}")

    def stop(self) -> int:
        """Ctrl-C, as a person at the terminal would: SIGINT to the whole group."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def group_alive(self) -> bool:
        try:
            os.killpg(self.proc.pid, 0)
        except ProcessLookupError:
            return False
        return True


def _admin_login(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token, "username": username, "password": password, "next": "/admin/"},
        headers={"Referer": f"{base}/admin/login/"},
    )
    assert answer.status_code == 302, answer.text[:500]
    assert answer.headers["location"] == "/admin/"
    return client


def test_make_run_serves_admin_api_worker_and_beat_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    run = Quickstart(tmp_path / "var", port)
    try:
        url = run.wait_for(r"Tact admin:\s+(\S+)").group(1)
        username, password = run.wait_for(r"Login:\s+(\S+) / (\S+)").groups()
        run.wait_for(r"worker@\S+ ready\.")
        run.wait_for(r"beat: Starting")
        assert url == f"http://127.0.0.1:{port}/admin/"
        # Idle: beat ticks every 2 s, and nothing of it is printed (DEBUG, not INFO).
        idle_from = len(run.lines)
        time.sleep(10)
        idle = run.lines[idle_from:]
        assert [line for line in idle if re.search(r"campaigns\.tasks\.|Sending due task", line)] == [], idle
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, run.output[-3000:]
            time.sleep(0.3)

        # The printed login opens the admin, with the demo data in it.
        admin = _admin_login(base, username, password)
        index = admin.get("/admin/")
        assert index.status_code == 200
        assert "Campaigns for people who asked for them" in index.text
        subscribers = admin.get("/admin/campaigns/subscriber/")
        assert re.search(r"\b60\s+subscribers\b", subscribers.text)  # the count, however the theme wraps it

        # The same login gets an API token; a draft and a campaign are made through the API.
        token = httpx.post(f"{base}/api/auth/token/", data={"username": username, "password": password}).json()["token"]
        api = httpx.Client(base_url=f"{base}/api/", headers={"Authorization": f"Token {token}"}, timeout=10)
        segment = api.get("segments/", params={"search": "Everyone"}).json()["results"][0]
        draft = api.post("drafts/", json={"title": "Flash sale", "body": "Flash sale: −20% until 6 pm\nSee you!"})
        assert draft.status_code == 201, draft.text
        assert draft.json()["previews"]["telegram"]["shown"] == "Flash sale: −20% until 6 pm"
        campaign = api.post("campaigns/", json={
            "name": "Flash", "draft": draft.json()["id"], "segment": segment["id"],
            "platforms": ["telegram", "viber"], "send_at": "2030-01-01T09:00:00Z",
        })
        assert campaign.status_code == 201, campaign.text
        scheduled = api.post(f"campaigns/{campaign.json()['id']}/schedule/")
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["status"] == "scheduled"
        assert api.get("campaigns/", params={"status": "scheduled"}).json()["count"] == 1

        # A campaign due in a few seconds goes out through the embedded worker and beat (file
        # broker, SQLite) into the sandbox outbox: one message per reachable person.
        # (quiet hours off in the admin first, so the hour the test runs at does not matter)
        policy_page = admin.get("/admin/campaigns/frequencypolicy/", follow_redirects=True)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', policy_page.text).group(1)
        saved = admin.post(str(policy_page.url.path), data={
            "csrfmiddlewaretoken": csrf, "max_per_day": "1", "max_per_week": "3",
            "quiet_start": "00:00", "quiet_end": "00:00", "_save": "Save",
        }, headers={"Referer": str(policy_page.url)})
        assert saved.status_code == 302, saved.text[:2000]
        now = api.post("drafts/", json={"title": "Now", "body": "Today only: −10%\nSee you!"}).json()
        soon = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
        quick = api.post("campaigns/", json={
            "name": "Now", "draft": now["id"], "segment": segment["id"], "platforms": ["telegram", "whatsapp", "viber"],
            "send_at": soon,
        }).json()
        forecast = api.get(f"campaigns/{quick['id']}/forecast/").json()
        api.post(f"campaigns/{quick['id']}/schedule/").raise_for_status()
        deadline = time.monotonic() + 90
        while api.get(f"campaigns/{quick['id']}/").json()["status"] != "completed":
            assert time.monotonic() < deadline, run.output[-3000:]
            time.sleep(0.5)
        stats = api.get(f"campaigns/{quick['id']}/").json()["stats"]
        assert stats["sent"] == stats["planned"] == forecast["receivers"] > 0
        outbox = admin.get("/admin/tact_channels/outboxmessage/").text
        assert re.search(rf"\b{stats['sent']}\s+sandbox outbox messages\b", outbox)
    finally:
        code = run.stop()
    assert code is not None
    assert not run.group_alive(), "web, worker or beat outlived Ctrl-C"

    # A second `make run` finds its data and login again and adds nothing.
    again = Quickstart(tmp_path / "var", port)
    try:
        again.wait_for(r"Demo data: already loaded, nothing added\.")
        assert again.wait_for(r"Login:\s+(\S+) / (\S+)").groups() == (username, password)
        again.wait_for(r"worker@\S+ ready\.")
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"{base}/api/subscribers/", headers={"Authorization": f"Token {token}"}, timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, again.output[-3000:]
            time.sleep(0.3)
        assert answer.json()["count"] == 60
    finally:
        again.stop()
    assert not again.group_alive()
