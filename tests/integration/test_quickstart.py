"""End to end: what `make run` starts, used as a new marketer would use it."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import subprocess
import termios
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


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _controlling_terminal() -> None:
    """In the child, a session leader already: stdin (the pty) becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Quickstart:
    """`make run` as typed at a terminal: a session of its own on a pseudo-terminal, output read line by line."""

    def __init__(self, var_dir: Path, port: int):
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(TACT_VAR_DIR=str(var_dir), TACT_PORT=str(port), PYTHONUNBUFFERED="1")
        self.port = port
        self.lines: list[str] = []
        self.terminal, pty_side = os.openpty()
        self.proc = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"TACT_PORT={port}"],
            cwd=ROOT, env=env, stdin=pty_side, stdout=pty_side, stderr=pty_side,
            start_new_session=True, preexec_fn=_controlling_terminal,
        )
        os.close(pty_side)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self.terminal, 4096)
            except OSError:  # EIO: every process holding the pty has ended
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                self.lines.append(ANSI_ESCAPE.sub("", line.decode(errors="replace")).rstrip("\r"))
        if pending:
            self.lines.append(ANSI_ESCAPE.sub("", pending.decode(errors="replace")).rstrip("\r"))

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

    def started(self) -> dict[str, int]:
        """Honcho's own account of what it started: {"web": pid, "worker": pid, "beat": pid}."""
        return {name: int(pid) for name, pid in re.findall(r"\b(\w+)\.1 started \(pid=(\d+)\)", self.output)}

    def stop(self) -> tuple[int | None, list[str]]:
        """Ctrl-C, typed at the terminal: the ^C byte into the pty.

        Make's exit status, and which of web, worker and beat (each started by honcho in a
        process group of its own) were still there once make had ended.
        """
        started = self.started()
        os.write(self.terminal, b"\x03")
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        outlived = [name for name, pid in started.items() if _group_exists(pid)]
        for pgid in [self.proc.pid, *started.values()]:  # nothing left behind, whatever happened
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        os.close(self.terminal)
        return code, outlived


def _group_exists(pgid: int) -> bool:
    """A process of the group still runs (one that has ended but is not yet reaped does not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
        if int(group) == pgid and state != "Z":
            return True
    return False


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
        # WhatsApp people who have not written to us in 24 hours get an approved template (refused without one)
        now = api.post("drafts/", json={"title": "Now", "body": "Today only: −10%\nSee you!", "whatsapp_template": {
            "name": "today_only", "language": "en", "parameters": []}}).json()
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
        started = run.started()
        code, outlived = run.stop()
    # Ctrl-C at the terminal: all three stop, make says nothing of an interrupt and ends with 0.
    assert sorted(started) == ["beat", "web", "worker"], run.output[-3000:]
    assert code == 0, run.output[-3000:]
    assert outlived == [], "web, worker or beat outlived Ctrl-C"
    assert sorted(re.findall(r"\b(\w+)\.1 stopped \(rc=", run.output)) == ["beat", "web", "worker"], run.output[-3000:]
    assert "SIGKILL" not in run.output, run.output[-3000:]  # each stopped on its own, none was killed
    assert "Interrupt" not in run.output, run.output[-3000:]  # make's "*** [run] Interrupt"

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
        started = again.started()
        code, outlived = again.stop()
    assert sorted(started) == ["beat", "web", "worker"]
    assert code == 0, again.output[-3000:]
    assert outlived == []
