"""Search on SQLite, the demo's database (`make run`): a phone in any format and a name in any case,
Cyrillic included, find their person in the admin and the API, as on PostgreSQL (test_search.py).
SQLite's LIKE folds only ASCII, so this runs the real thing: a Django process of its own on a fresh
SQLite file, migrated, with the admin's and the API's search boxes asked through Django's test client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
from datetime import UTC, datetime

import django
django.setup()
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import setup_test_environment

setup_test_environment()
call_command("migrate", verbosity=0)
assert connection.vendor == "sqlite", connection.vendor

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from campaigns import services
from campaigns.models import InstallationSettings, Subscriber

def person(name, external_id, *subscriptions):
    someone = Subscriber.objects.create(name=name, external_id=external_id, timezone="Europe/Moscow", language="ru")
    for platform, address in subscriptions:
        services.subscription_add(subscriber=someone, platform=platform, address=address, consent=services.Consent(
            source="test", text="Yes, send me offers", at=datetime(2026, 11, 1, tzinfo=UTC)))

person("Анна Петрова", "crm-42", ("whatsapp", "+79991234567"), ("telegram", "700100200"))
person("Ольга Смирнова", "crm-7", ("whatsapp", "+79991234568"))
person("Boris Ivanov", "shop-9", ("viber", "Abc123XyZ+/="))
region = InstallationSettings.current()
region.default_phone_region = "RU"
region.save()

boss = get_user_model().objects.create_superuser("boss", "boss@example.com", "b0ss-Secret-123")
admin = Client()
admin.force_login(boss)
api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=boss).key}")
found = {}
for query in json.loads(sys.argv[1]):
    page = admin.get("/admin/campaigns/subscriber/", {"q": query})
    answer = api.get("/api/subscribers/", {"search": query})
    assert page.status_code == 200 and answer.status_code == 200, (query, page.status_code, answer.status_code)
    found[query] = {"admin": sorted(p.name for p in page.context["cl"].result_list),
                    "api": sorted(p["name"] for p in answer.json()["results"])}
print(json.dumps(found, ensure_ascii=False))
"""

ANNA = ["Анна Петрова"]
EXPECTED = {
    "+7 999 123-45-67": ANNA,
    "89991234567": ANNA,
    "8 (999) 123 45 67": ANNA,
    "+79991234567": ANNA,
    "анна": ANNA,              # lower case, Cyrillic
    "ПЕТРОВА": ANNA,           # upper case, Cyrillic
    "аННа пеТР": ANNA,         # mixed case, more than one word
    "смирн": ["Ольга Смирнова"],
    "boris": ["Boris Ivanov"],
    "CRM-42": ANNA,
    "700100200": ANNA,
    "+7 999 123-45-69": [],    # one digit away from both
    "ирина": [],
}


def test_on_sqlite_a_phone_in_any_format_and_a_name_in_any_case_find_their_person(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'tact.sqlite3'}", TACT_VAR_DIR=str(tmp_path / "var"),
               DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="true", TACT_DEFAULT_PHONE_REGION="")
    done = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(list(EXPECTED))], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])

    assert found == {query: {"admin": names, "api": names} for query, names in EXPECTED.items()}
