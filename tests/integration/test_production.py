"""The production configuration of the README, started the way an operator starts it: a
fresh process whose only settings are the environment variables."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{connection.settings_dict['NAME']}"


def production_env() -> dict[str, str]:
    """The README's production configuration, and nothing else from this process."""
    return {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "tact.example.com",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL or "redis://127.0.0.1:6379/15",
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Only these variables: not the checkout's .env either.
    env = {"TACT_ENV_FILE": os.devnull, **env}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.django_db
def test_the_deployment_check_passes_in_the_readme_production_configuration():
    # when
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    # given: production (debug off by default), no key, an empty var directory
    env = {k: v for k, v in production_env().items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    env["TACT_VAR_DIR"] = str(tmp_path)

    # when
    result = run(["manage.py", "check"], env)

    # then: it says why and how to fix it, and makes no key of its own
    assert result.returncode == 1
    assert ("django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG=false "
            "(the default) Tact does not start without a secret key") in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_demo_with_debug_on_keeps_its_own_key_under_var(tmp_path):
    # given: `make run`'s setting, no key
    env = {"DJANGO_DEBUG": "true", "TACT_VAR_DIR": str(tmp_path)}

    # when
    first = run(["manage.py", "check"], env)
    key = (tmp_path / "secret-key").read_text()
    second = run(["manage.py", "check"], env)

    # then: one key, made once, readable only by its owner
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert len(key) >= 50
    assert (tmp_path / "secret-key").read_text() == key
    assert (tmp_path / "secret-key").stat().st_mode & 0o777 == 0o600


# What a browser and a load balancer see of the production settings, behind a TLS proxy.
PROBE = """
import json
import django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="tact.example.com")
out = {}
plain = client.get("/admin/login/")
out["plain"] = [plain.status_code, plain.headers.get("Location")]
health = client.get("/healthz/")
out["health"] = [health.status_code, health.headers.get("Strict-Transport-Security")]
page = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
out["https"] = [page.status_code, {k: page.headers.get(k) for k in (
    "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy")}]
cookie = page.cookies["csrftoken"]
out["csrf_cookie"] = [bool(cookie["secure"]), cookie["samesite"]]
print(json.dumps(out))
"""


@pytest.mark.django_db
def test_behind_a_tls_proxy_http_is_redirected_https_gets_hsts_and_secure_cookies_and_health_stays_plain():
    # given: the production configuration behind a proxy that sets X-Forwarded-Proto
    env = {**production_env(), "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
           "DJANGO_SETTINGS_MODULE": "config.settings"}

    # when
    result = run(["-c", PROBE], env)

    # then
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen == {
        "plain": [301, "https://tact.example.com/admin/login/"],
        "health": [200, None],
        "https": [200, {
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }],
        "csrf_cookie": [True, "Lax"],
    }
