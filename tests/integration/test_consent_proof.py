"""Consent proof that holds up: the wording shown BEFORE a person subscribes is what their
opt-in records (configurable per platform and language), the API's consent object carries
the evidence, and the consent-log CSV opens right in Excel and runs no formula."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import ConsentEvent, Subscription
from channels.inbound import CONSENT_TEXT, consent_text
from tests.conftest import SubscriberFactory
from tests.fakes import viber as vb
from tests.fakes import whatsapp as wa
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.django_db
TG_SECRET, WA_SECRET, VB_TOKEN = "tg-secret", "wa-secret", "viber-auth-token-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def webhook_secrets(settings):
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.WHATSAPP_APP_SECRET = WA_SECRET
    settings.VIBER_AUTH_TOKEN = VB_TOKEN
    settings.TACT_CONSENT_TEXT = {}


def telegram_start(chat_id: int, text: str, language: str) -> None:
    update = {"update_id": chat_id, "message": {
        "message_id": 1, "date": int(time.time()), "text": text,
        "chat": {"id": chat_id, "type": "private", "first_name": "Anna"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "Anna", "username": "anna", "language_code": language},
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}}
    answer = Client().post("/webhooks/telegram/", json.dumps(update), content_type="application/json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert answer.status_code == 200


def opt_in_of(platform: str, address: str) -> ConsentEvent:
    return ConsentEvent.objects.get(subscription__platform=platform, subscription__address=address, kind="opt_in")


def test_telegram_start_records_the_configured_invitation_in_the_persons_language(settings):
    # given: the Russian invitation replaced by the operator, the English one left as shipped
    settings.TACT_CONSENT_TEXT = {"telegram_ru": "Подпишитесь на скидки «Ромашки». Отписка: /stop."}

    telegram_start(700100200, "/start vip", "ru")
    telegram_start(700100300, "/start", "en-GB")

    assert opt_in_of("telegram", "700100200").text == "Подпишитесь на скидки «Ромашки». Отписка: /stop."
    assert opt_in_of("telegram", "700100300").text == CONSENT_TEXT["telegram"]["en"]
    # the deep-link payload is the evidence, next to who pressed Start
    assert opt_in_of("telegram", "700100200").evidence == {
        "payload": "vip", "user_id": 700100200, "username": "anna", "language_code": "ru"}


def test_set_webhook_makes_the_bots_description_the_consent_text_people_see_before_start(settings):
    settings.TACT_CONSENT_TEXT = {"telegram_en": "Press Start for our offers; /stop ends them."}
    with FakeTelegram(token="123456:TEST") as fake:
        settings.TELEGRAM_BOT_TOKEN = "123456:TEST"
        settings.TELEGRAM_API_URL = fake.base_url

        call_command("telegram_set_webhook", "https://tact.example.com/webhooks/telegram/", stdout=io.StringIO())

        assert fake.descriptions == {
            "": "Press Start for our offers; /stop ends them.",
            **{code: CONSENT_TEXT["telegram"]["ru"] for code in ("ru", "uk", "be", "kk")},
        }
        assert fake.webhook["url"] == "https://tact.example.com/webhooks/telegram/"
    # what Telegram shows a Ukrainian user is what their /start records
    telegram_start(700100400, "/start", "uk")
    assert opt_in_of("telegram", "700100400").text == fake.descriptions["uk"]


def test_whatsapp_start_records_the_invitation_in_the_language_of_the_word_written(settings):
    settings.TACT_CONSENT_TEXT = {"whatsapp_ru": "Напишите СТАРТ на +7 800 000-00-00, чтобы получать скидки."}
    for wa_id, word in (("79990001122", "START"), ("79990003344", "Старт")):
        body, headers = wa.signed(wa.inbound_text(wa_id, word), WA_SECRET)
        assert Client().post("/webhooks/whatsapp/", body, content_type="application/json",
                             headers=headers).status_code == 200

    assert opt_in_of("whatsapp", "+79990001122").text == CONSENT_TEXT["whatsapp"]["en"]
    assert opt_in_of("whatsapp", "+79990003344").text == "Напишите СТАРТ на +7 800 000-00-00, чтобы получать скидки."


def test_viber_records_exactly_the_welcome_it_showed_before_subscribe(settings):
    settings.TACT_CONSENT_TEXT = {"viber_en": "Hi! Tap Subscribe for weekly deals. Unsubscribe any time."}
    shown = {}
    for user_id, language in (("viberUserEn0001==", "en"), ("viberUserRu0001==", "ru")):
        body, headers = vb.signed(vb.conversation_started_payload(user_id, language=language), VB_TOKEN)
        shown[user_id] = Client().post("/webhooks/viber/", body, content_type="application/json",
                                       headers=headers).json()["text"]
        body, headers = vb.signed(vb.subscribed_payload(user_id, language=language), VB_TOKEN)
        assert Client().post("/webhooks/viber/", body, content_type="application/json",
                             headers=headers).status_code == 200

    assert shown == {"viberUserEn0001==": "Hi! Tap Subscribe for weekly deals. Unsubscribe any time.",
                     "viberUserRu0001==": CONSENT_TEXT["viber"]["ru"]}
    for user_id, text in shown.items():
        assert opt_in_of("viber", user_id).text == text


def test_the_consent_text_settings_come_from_the_environment():
    env = {**os.environ, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "x" * 60,
           "TACT_CONSENT_TEXT_TELEGRAM_RU": "Текст приглашения", "TACT_CONSENT_TEXT_VIBER_EN": "  Tap Subscribe  "}
    script = ("import django, json; django.setup(); from django.conf import settings; "
              "print(json.dumps(settings.TACT_CONSENT_TEXT, ensure_ascii=False))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"}).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"telegram_ru": "Текст приглашения", "viber_en": "Tap Subscribe"}
    assert consent_text("whatsapp", "ru") == CONSENT_TEXT["whatsapp"]["ru"]  # none set here: the default


def test_the_api_consent_object_carries_the_evidence(django_user_model):
    telegram_start(700100200, "/start vip", "ru")
    user = django_user_model.objects.create_superuser("root", password="x-secret-123")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    subscriber = api.get("/api/subscribers/").json()["results"][0]

    consent = subscriber["subscriptions"][0]["consent"]
    assert consent["source"] == "telegram_start"
    assert consent["text"] == CONSENT_TEXT["telegram"]["ru"]
    assert consent["evidence"] == {"payload": "vip", "user_id": 700100200, "username": "anna", "language_code": "ru"}


# ---- the consent-log CSV ---------------------------------------------------------------------


def test_the_consent_log_csv_has_a_bom_evidence_as_json_and_no_cell_that_runs_as_a_formula(django_user_model):
    # given: events whose fields start with = + - @ and a tab, and evidence with nested Unicode
    person = SubscriberFactory(name="=HYPERLINK(\"http://evil\")", external_id="@crm")
    subscription = services.subscription_add(
        subscriber=person, platform="whatsapp", address="+79990001122", consent=services.Consent(
            source="-x", text="=1+1", at=datetime(2026, 11, 1, 10, tzinfo=UTC),
            evidence={"form": "лендинг", "answers": {"agree": True, "note": "=cmd"}}))
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(
        source="@x", text="\tstop", at=datetime(2026, 11, 2, 10, tzinfo=UTC)))
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="x-secret-123"))

    export = client.post("/admin/campaigns/consentevent/", {
        "action": "export_csv", "_selected_action": list(ConsentEvent.objects.values_list("pk", flat=True))})

    # then
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8")[1:])))
    events = list(ConsentEvent.objects.order_by("id"))
    evidence = rows[1][9]
    assert json.loads(evidence) == {"form": "лендинг", "answers": {"agree": True, "note": "=cmd"}}
    assert "лендинг" in evidence  # JSON as written, not \u-escaped
    rows[1][9] = "(evidence)"
    assert rows == [
        ["id", "subscriber", "external_id", "platform", "address", "kind", "status", "source", "text", "evidence",
         "by_person", "at", "recorded_at"],
        [str(events[0].pk), "'=HYPERLINK(\"http://evil\")", "'@crm", "whatsapp", "'+79990001122", "opt_in",
         "opted_in", "'-x", "'=1+1", "(evidence)", "False",
         "2026-11-01T10:00:00+00:00", events[0].recorded_at.isoformat()],
        [str(events[1].pk), "'=HYPERLINK(\"http://evil\")", "'@crm", "whatsapp", "'+79990001122", "opt_out",
         "opted_out", "'@x", "'\tstop", "{}", "False", "2026-11-02T10:00:00+00:00", events[1].recorded_at.isoformat()],
    ]
    assert Subscription.objects.get().status == "opted_out"
