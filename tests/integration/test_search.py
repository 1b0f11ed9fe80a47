"""Search finds a person by phone in any format and by name in any case (Cyrillic included),
in the API and the admin; the default phone region is an operator setting
(InstallationSettings) over TACT_DEFAULT_PHONE_REGION, read once per request or import."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.admin.installation import InstallationSettingsForm
from campaigns.models import InstallationSettings, Subscriber, Subscription
from tests.conftest import SubscriberFactory

pytestmark = pytest.mark.django_db

PHONE = "+79991234567"
HEADER = "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at"
NO_REGION = "phone number '8 916 123-45-67' has no country code: write it as +<country><number>"


def _add(person: Subscriber, platform: str, address: str) -> Subscription:
    return services.subscription_add(subscriber=person, platform=platform, address=address, consent=services.Consent(
        source="test", text="Yes, send me offers", at=datetime(2026, 11, 1, tzinfo=UTC)))


@pytest.fixture
def people() -> dict[str, Subscriber]:
    """Anna (WhatsApp +79991234567, Telegram 700100200), Olga one digit away on WhatsApp,
    Boris on Viber by his Viber id."""
    anna = SubscriberFactory(name="Анна Петрова", external_id="crm-42")
    _add(anna, "whatsapp", PHONE)
    _add(anna, "telegram", "700100200")
    olga = SubscriberFactory(name="Ольга Смирнова", external_id="crm-7")
    _add(olga, "whatsapp", "+79991234568")
    boris = SubscriberFactory(name="Boris Ivanov", external_id="shop-9")
    _add(boris, "viber", "Abc123XyZ+/=")
    return {"anna": anna, "olga": olga, "boris": boris}


@pytest.fixture
def region_ru():
    row = InstallationSettings.current()
    row.default_phone_region = "RU"
    row.save()


@pytest.fixture(autouse=True)
def _no_env_region(settings):
    settings.TACT_DEFAULT_PHONE_REGION = None


def _user(django_user_model, name: str, group: str):
    user = django_user_model.objects.create_user(name, password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _found(api: APIClient, query: str) -> list[int]:
    answer = api.get("/api/subscribers/", {"search": query})
    assert answer.status_code == 200, answer.content
    return sorted(p["id"] for p in answer.json()["results"])


def _admin_found(client: Client, model: str, query: str) -> list[int]:
    page = client.get(f"/admin/campaigns/{model}/", {"q": query})
    assert page.status_code == 200
    return sorted(obj.pk for obj in page.context["cl"].result_list)


def _csv(*rows: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("people.csv", "\n".join([HEADER, *rows]).encode(), content_type="text/csv")


# ---- the API -------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["+7 999 123-45-67", "89991234567", "8 (999) 123 45 67", "9991234567",
                                   "+79991234567", "79991234567", " 8-999-123-45-67 "])
def test_a_phone_in_any_format_finds_its_person(people, region_ru, django_user_model, query):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    assert _found(api, query) == [people["anna"].pk]


def test_a_phone_one_digit_away_finds_the_other_person_or_nobody(people, region_ru, django_user_model):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    assert _found(api, "8 999 123-45-68") == [people["olga"].pk]
    assert _found(api, "8 999 123-45-69") == []
    assert _found(api, "+7 999 123-45-60") == []


def test_without_a_region_a_national_number_finds_nobody_but_international_forms_do(people, django_user_model):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    assert _found(api, "8 (999) 123 45 67") == []
    assert _found(api, "+7 999 123-45-67") == [people["anna"].pk]
    assert _found(api, "9991234567") == [people["anna"].pk]


@pytest.mark.parametrize(("query", "who"), [
    ("анна", ["anna"]), ("АННА", ["anna"]), ("петров", ["anna"]), ("Петрова Анна", ["anna"]),
    ("boris", ["boris"]), ("IVANOV", ["boris"]), ("crm-42", ["anna"]), ("CRM-4", ["anna"]),
    ("700100200", ["anna"]), ("abc123xyz", ["boris"]), ("ова", ["anna", "olga"]),
])
def test_a_name_in_any_case_an_external_id_or_a_chat_id_finds_its_person(people, django_user_model, query, who):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    assert _found(api, query) == sorted(people[name].pk for name in who)


@pytest.mark.parametrize("query", ["ольга петрова", "анны", "Bob", "crm-8", "700100201"])
def test_a_query_matching_nobody_finds_nobody(people, django_user_model, query):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    assert _found(api, query) == []


def test_an_analyst_finds_people_by_name_but_never_by_address(people, region_ru, django_user_model):
    api = _api(_user(django_user_model, "analyst", "Analyst"))

    assert _found(api, "+7 999 123-45-67") == []
    assert _found(api, "9991234567") == []
    assert _found(api, "700100200") == []
    assert _found(api, "анна") == [people["anna"].pk]


def test_search_combines_with_the_filters(people, region_ru, django_user_model):
    api = _api(_user(django_user_model, "marketer", "Marketer"))

    answer = api.get("/api/subscribers/", {"search": "9991234567", "platform": "telegram"})

    assert [p["id"] for p in answer.json()["results"]] == [people["anna"].pk]
    assert api.get("/api/subscribers/", {"search": "boris", "platform": "whatsapp"}).json()["results"] == []


# ---- the admin -----------------------------------------------------------------------------


def test_the_admin_finds_people_and_subscriptions_by_phone_and_name(people, region_ru, django_user_model):
    admin = _admin(_user(django_user_model, "marketer", "Marketer"))
    anna = people["anna"]
    anna_whatsapp = anna.subscriptions.get(platform="whatsapp")

    assert _admin_found(admin, "subscriber", "8 (999) 123 45 67") == [anna.pk]
    assert _admin_found(admin, "subscriber", "АННА") == [anna.pk]
    assert _admin_found(admin, "subscriber", "8 999 123-45-69") == []
    assert _admin_found(admin, "subscription", "89991234567") == [anna_whatsapp.pk]
    assert _admin_found(admin, "subscription", "анна") == sorted(anna.subscriptions.values_list("pk", flat=True))
    assert _admin_found(admin, "subscription", "Boris") == [people["boris"].subscriptions.get().pk]


def test_the_admin_never_finds_by_address_for_an_analyst(people, region_ru, django_user_model):
    admin = _admin(_user(django_user_model, "analyst", "Analyst"))

    assert _admin_found(admin, "subscriber", "+7 999 123-45-67") == []
    assert _admin_found(admin, "subscription", "9991234567") == []
    assert _admin_found(admin, "subscriber", "анна") == [people["anna"].pk]


# ---- the default phone region ----------------------------------------------------------------


def test_with_the_region_set_in_the_admin_a_national_number_is_imported(region_ru, admin_client_api):
    answer = admin_client_api.post("/api/subscribers/import/", {"file": _csv(
        "crm-1,Анна,,,,whatsapp,8 916 123-45-67,,import,Yes,2026-11-01")}, format="multipart")

    assert answer.json() == {"created": 1, "updated": 0, "errors": [], "warnings": []}
    assert list(Subscription.objects.values_list("platform", "address")) == [("whatsapp", "+79161234567")]


def test_without_a_region_a_national_number_is_refused(admin_client_api):
    answer = admin_client_api.post("/api/subscribers/import/", {"file": _csv(
        "crm-1,Анна,,,,whatsapp,8 916 123-45-67,,import,Yes,2026-11-01")}, format="multipart")

    assert answer.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": NO_REGION}], "warnings": []}
    assert not Subscription.objects.exists()


def test_the_environments_region_applies_until_the_operator_sets_another(admin_client_api, settings):
    settings.TACT_DEFAULT_PHONE_REGION = "RU"
    row = InstallationSettings.current()
    national = "whatsapp,8 916 123-45-67,,import,Yes,2026-11-01"

    from_env = admin_client_api.post("/api/subscribers/import/", {"file": _csv(f"crm-1,A,,,,{national}")},
                                     format="multipart")
    row.default_phone_region = "US"
    row.save()
    overridden = admin_client_api.post("/api/subscribers/import/", {"file": _csv(f"crm-2,B,,,,{national}")},
                                       format="multipart")

    assert from_env.json()["created"] == 1
    assert overridden.json()["errors"] == [{"line": 2, "error": "'8 916 123-45-67' is not a valid phone number"}]
    assert list(Subscription.objects.values_list("address", flat=True)) == ["+79161234567"]


def test_an_import_reads_the_region_once_not_per_row(region_ru, admin_client_api):
    rows = [f"crm-{n},P{n},,,,whatsapp,8 916 000-{n // 100:02d}-{n % 100:02d},,import,Yes,2026-11-01" for n in range(40)]

    with CaptureQueriesContext(connection) as queries:
        answer = admin_client_api.post("/api/subscribers/import/", {"file": _csv(*rows)}, format="multipart")

    assert answer.json()["created"] == 40
    assert sum("installationsettings" in q["sql"] for q in queries.captured_queries) == 1


def test_an_opt_out_reads_a_national_number_with_the_region(people, region_ru, admin_client_api):
    answer = admin_client_api.post("/api/opt-out/", {"platform": "whatsapp", "address": "8 999 123-45-67"},
                                   format="json")

    assert answer.status_code == 200, answer.content
    assert list(Subscription.objects.filter(status="opted_out").values_list("address", flat=True)) == [PHONE]


def test_the_settings_form_takes_a_region_code_and_refuses_anything_else():
    good = InstallationSettingsForm({"default_phone_region": "ru"})
    assert good.is_valid()
    assert good.cleaned_data["default_phone_region"] == "RU"
    assert InstallationSettingsForm({"default_phone_region": ""}).is_valid()
    bad = InstallationSettingsForm({"default_phone_region": "XX"})
    assert bad.errors == {"default_phone_region": [
        "'XX' is not a region code phone numbers are read with (two letters, e.g. RU, KZ, DE)"]}


# ---- the Viber warning -----------------------------------------------------------------------


def test_a_viber_phone_number_is_imported_with_a_warning(admin_client_api):
    answer = admin_client_api.post("/api/subscribers/import/", {"file": _csv(
        "crm-1,A,,,,viber,+7 998 000 33 44,,import,Yes,2026-11-01",
        "crm-2,B,,,,viber,Abc123XyZ+/=,,import,Yes,2026-11-01",
        "crm-3,C,,,,viber,not a viber id!,,import,Yes,2026-11-01")}, format="multipart")

    assert answer.json() == {
        "created": 2, "updated": 0,
        "errors": [{"line": 4, "error": "'not a viber id!' is neither a phone number nor a Viber user id"}],
        "warnings": [{"line": 2, "warning": (
            "viber address +79980003344 is a phone number: Viber bots reach people by their Viber user id, "
            "so messages to it fail until the person subscribes to the bot")}],
    }
