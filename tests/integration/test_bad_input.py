"""No input answers 500: bodies, paths and query strings that cannot be stored, decoded or
even parsed get a 400 naming the field or the problem (404 for an id no object can have),
and change nothing. Webhooks answer 200 to a genuine but hostile callback, drop it as
malformed and keep nothing to retry. Each case the schemathesis run (test_schema_fuzz.py)
found is here too, as a regression case.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client, TestCase
from django.urls import path
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from campaigns.api.parsers import MAX_DEPTH
from campaigns.models import (
    ConsentEvent,
    Delivery,
    Draft,
    SendList,
    Subscriber,
    Subscription,
)
from channels import pending
from channels.models import EarlyReceipt, InboundEvent, PendingUpdate
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)
from tests.fakes import viber as vb
from tests.fakes import whatsapp as wa

pytestmark = pytest.mark.django_db

CONSENT = {"source": "import", "text": "Yes, send me offers", "at": "2026-11-01T10:00:00Z"}
HUGE = 10**20  # past PostgreSQL's bigint
DATETIME_FORMAT = ("Datetime has wrong format. Use one of these formats instead: "
                   "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")


@pytest.fixture
def api(db, django_user_model) -> APIClient:
    """A superuser's token: nothing below is refused for want of a permission."""
    user = django_user_model.objects.create_superuser("root", "root@example.com", "x-secret-123")
    client = APIClient(raise_request_exception=False)  # a 500 is an answer to assert on
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def world(db) -> dict[str, int]:
    """One object of each resource that a bad request could damage."""
    subscriber = SubscriberFactory(attributes={"city": "Moscow"})
    subscribe(subscriber, "telegram", "123456789")
    campaign = CampaignFactory()
    return {"subscriber": subscriber.id, "draft": campaign.draft_id, "segment": campaign.segment_id,
            "campaign": campaign.id}


def nested(levels: int) -> object:
    """{"a": {"a": ... 1}}, `levels` objects deep."""
    value: object = 1
    for _ in range(levels):
        value = {"a": value}
    return value


# --- JSON bodies --------------------------------------------------------------------

AT = f"attributes{'.a' * (MAX_DEPTH - 1)}"  # where the object one level too deep starts
NESTED_TOO_DEEP = "JSON parse error - nested deeper than 32 levels."

BODIES = [
    # nesting: past Python's recursion limit (the parser's RecursionError), or just past 32
    pytest.param("post", "/api/subscribers/", "[" * 100_000 + "]" * 100_000, {"detail": NESTED_TOO_DEEP},
                 id="nested-100000-subscribers"),
    pytest.param("post", "/api/segments/", '{"rules": ' * 5000 + "1" + "}" * 5000, {"detail": NESTED_TOO_DEEP},
                 id="nested-5000-segments"),
    pytest.param("post", "/api/opt-out/", "[" * 2000 + "]" * 2000, {"detail": NESTED_TOO_DEEP}, id="nested-opt-out"),
    pytest.param("patch", "/api/drafts/{draft}/", '{"buttons": ' + "[" * 3000 + "]" * 3000 + "}",
                 {"detail": NESTED_TOO_DEEP}, id="nested-draft-patch"),
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A", "attributes": nested(MAX_DEPTH)}),
                 {"attributes": [f"JSON nested deeper than 32 levels (at {AT})."]}, id="nested-33-attributes"),
    # NUL: PostgreSQL's text and jsonb refuse it, anywhere
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A\u0000"}),
                 {"name": ["Null characters are not allowed."]}, id="nul-in-name"),
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A", "attributes": {"note": "a\u0000b"}}),
                 {"attributes": ["Null characters are not allowed (at attributes.note)."]}, id="nul-in-attribute"),
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A", "attributes": {"no\u0000te": 1}}),
                 {"attributes": ["Null characters are not allowed in a key (in attributes)."]},
                 id="nul-in-attribute-key"),
    pytest.param("post", "/api/subscribers/", json.dumps({"na\u0000me": "A"}),
                 {"non_field_errors": ["Null characters are not allowed in a key."]}, id="nul-in-top-key"),
    pytest.param("post", "/api/drafts/", json.dumps({"title": "T", "body": "B", "buttons": [
        {"text": "Sh\u0000op", "url": "https://example.com"}]}),
        {"buttons": ["Null characters are not allowed (at buttons[0].text)."]}, id="nul-in-button"),
    pytest.param("post", "/api/opt-out/", json.dumps({"platform": "telegram", "address": "12\u00003"}),
                 {"address": ["Null characters are not allowed."]}, id="nul-in-opt-out"),
    # lone surrogates: valid JSON escapes, no UTF-8 (psycopg cannot send them)
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A\ud800"}),
                 {"name": ["Surrogate characters are not allowed: U+D800."]}, id="surrogate-in-name"),
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A", "attributes": {"\udfff": 1}}),
                 {"attributes": ["Surrogate characters are not allowed in a key: U+DFFF (in attributes)."]},
                 id="surrogate-in-attribute-key"),
    pytest.param("post", "/api/segments/", json.dumps({"name": "S", "rules": {"tags_all": ["vip\ud83d"]}}),
                 {"rules": ["Surrogate characters are not allowed: U+D83D (at rules.tags_all[0])."]},
                 id="surrogate-in-segment-rules"),
    pytest.param("post", "/api/subscribers/", json.dumps({"name": "A", "subscriptions": [
        {"platform": "telegram", "address": "555", "consent": {**CONSENT, "text": "Yes\udc00"}}]}),
        {"subscriptions": ["Surrogate characters are not allowed: U+DC00 (at subscriptions[0].consent.text)."]},
        id="surrogate-in-consent"),
    pytest.param("patch", "/api/campaigns/{campaign}/", json.dumps({"name": "\udfff"}),
                 {"name": ["Surrogate characters are not allowed: U+DFFF."]}, id="surrogate-in-campaign-patch"),
    # bytes that are not UTF-8, and what is not JSON at all
    pytest.param("post", "/api/subscribers/", b'{"name": "\xff\xfe"}',
                 {"detail": "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 10: invalid start byte"},
                 id="not-utf8"),
    pytest.param("post", "/api/segments/", b'{"name": "\xed\xa0\x80"}',
                 {"detail": "JSON parse error - 'utf-8' codec can't decode byte 0xed in position 10: invalid "
                            "continuation byte"}, id="encoded-surrogate"),
    pytest.param("post", "/api/subscribers/", '{"attributes": {"n": ' + "9" * 5000 + "}}",
                 {"detail": "JSON parse error - Exceeds the limit (4300 digits) for integer string conversion: "
                            "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit"},
                 id="integer-of-5000-digits"),
    # dates and timestamps out of range
    pytest.param("patch", "/api/campaigns/{campaign}/", {"send_at": "10000-01-01T00:00:00Z"},
                 {"send_at": [DATETIME_FORMAT]}, id="year-10000"),
    pytest.param("patch", "/api/campaigns/{campaign}/", {"send_at": "0000-01-01T00:00:00Z"},
                 {"send_at": [DATETIME_FORMAT]}, id="year-0"),
    pytest.param("patch", "/api/campaigns/{campaign}/", {"send_at": "9999-12-31T23:59:59-05:00"},
                 {"send_at": ["Datetime value out of range."]}, id="past-year-9999-in-utc"),
    pytest.param("patch", "/api/campaigns/{campaign}/", {"send_at": "0001-01-01T00:00:00+05:00"},
                 {"send_at": ["Datetime value out of range."]}, id="before-year-1-in-utc"),
    pytest.param("patch", "/api/campaigns/{campaign}/", {"expires_at": "9999-12-31T23:59:59.999999-14:00"},
                 {"expires_at": ["Datetime value out of range."]}, id="expires-out-of-range"),
    pytest.param("post", "/api/subscribers/", {"name": "A", "subscriptions": [
        {"platform": "telegram", "address": "555", "consent": {**CONSENT, "at": "0001-01-01T00:00:00Z"}}]},
        {"subscriptions": {"0": {"consent": {"at": ["consent time 1-01-01 is before 2000-01-01"]}}}},
        id="consent-in-year-1"),
    # integers past bigint, as ids and as numbers
    pytest.param("post", "/api/segments/", {"name": "S", "kind": "static", "members": [HUGE]},
                 {"members": [f'Invalid pk "{HUGE}" - object does not exist.']}, id="huge-member-id"),
    pytest.param("patch", "/api/campaigns/{campaign}/", {"draft": HUGE, "segment": -HUGE},
                 {"draft": [f'Invalid pk "{HUGE}" - object does not exist.'],
                  "segment": [f'Invalid pk "-{HUGE}" - object does not exist.']}, id="huge-draft-and-segment"),
    pytest.param("patch", "/api/segments/{segment}/", {"max_size": HUGE},
                 {"max_size": ["Ensure this value is less than or equal to 2147483647."]}, id="huge-max-size"),
    pytest.param("post", "/api/segments/", '{"name": "S", "max_size": 1e400}',
                 {"max_size": ["A valid integer is required."]}, id="infinite-max-size"),
]


def _send(api: APIClient, method: str, url: str, body: object, world: dict[str, int], content_type: str):
    url = url.format(**world)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return getattr(api, method)(url, data, content_type=content_type)


@pytest.mark.parametrize(("method", "url", "body", "expected"), BODIES)
def test_a_body_that_cannot_be_stored_or_read_is_a_400_naming_the_problem(api, world, db_state, method, url,
                                                                           body, expected):
    # given
    before = db_state()

    # when
    response = _send(api, method, url, body, world, "application/json")

    # then
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json() == expected
    assert db_state() == before


def test_a_body_32_levels_deep_is_still_read(api, world):
    # when
    response = api.post("/api/subscribers/", {"name": "Deep", "attributes": nested(MAX_DEPTH - 1)}, format="json")

    # then
    assert response.status_code == 201, response.content[:300]
    assert Subscriber.objects.get(name="Deep").attributes == nested(MAX_DEPTH - 1)


# JSON sent as a form field is parsed by the serializer's JSONField, not by the JSON parser
FORM_JSON = [
    pytest.param("/api/subscribers/", {"name": "A", "attributes": '{"\\ud800": 1}'},
                 {"attributes": ["Surrogate characters are not allowed in a key: U+D800 (in attributes)."]},
                 id="form-attributes-surrogate-key"),
    pytest.param("/api/subscribers/", {"name": "A", "attributes": json.dumps(nested(MAX_DEPTH))},
                 {"attributes": [f"JSON nested deeper than 32 levels (at {AT})."]}, id="form-attributes-nested-33"),
    pytest.param("/api/segments/", {"name": "S", "rules": '{"tags_all": ["vip\\u0000"]}'},
                 {"rules": ["Null characters are not allowed (at rules.tags_all[0])."]}, id="form-rules-nul"),
]


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
@pytest.mark.parametrize(("url", "form", "expected"), FORM_JSON)
def test_json_in_a_form_field_is_held_to_the_same_limits(api, world, db_state, url, form, expected, encoding):
    # given: before, a lone surrogate here was a DataError from psycopg, and 900 levels were stored
    before = db_state()

    # when
    if encoding == "multipart":
        response = api.post(url, form, format="multipart")
    else:
        response = api.post(url, urlencode(form), content_type="application/x-www-form-urlencoded")

    # then
    assert response.status_code == 400, response.content[:300]
    assert response.json() == expected
    assert db_state() == before


def test_a_username_longer_than_any_user_has_is_a_400_not_a_database_error(db):
    cache.delete("throttle_auth_127.0.0.1")  # this address starts with no token requests counted

    response = APIClient(raise_request_exception=False).post("/api/auth/token/", {
        "username": "a" * 151, "password": "x"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"username": ["Ensure this field has no more than 150 characters."]}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-msgpack"])
@pytest.mark.parametrize(("method", "url"), [("post", "/api/subscribers/"), ("patch", "/api/drafts/{draft}/"),
                                             ("post", "/api/opt-out/"), ("post", "/api/campaigns/{campaign}/reject/")])
def test_a_body_in_a_media_type_we_do_not_read_is_a_415(api, world, db_state, method, url, content_type):
    before = db_state()

    response = _send(api, method, url, '{"name": "A"}', world, content_type)

    assert response.status_code == 415
    assert response.json() == {"detail": f'Unsupported media type "{content_type}" in request.'}
    assert db_state() == before


# --- paths and query strings --------------------------------------------------------

REQUESTS = [
    # ids no object can have: 404, never a DataError
    pytest.param("get", f"/api/subscribers/{HUGE}/", 404, {"detail": "No Subscriber matches the given query."},
                 id="huge-id"),
    pytest.param("patch", f"/api/drafts/{HUGE}/", 404, {"detail": "No Draft matches the given query."},
                 id="huge-id-patch"),
    pytest.param("delete", f"/api/segments/{-HUGE}/", 404, {"detail": "No Segment matches the given query."},
                 id="huge-negative-id-delete"),
    pytest.param("post", f"/api/campaigns/{HUGE}/schedule/", 404, {"detail": "No Campaign matches the given query."},
                 id="huge-id-action"),
    pytest.param("get", "/api/campaigns/1e400/", 404, {"detail": "Not found."}, id="float-id"),
    pytest.param("get", "/api/subscribers/1.5/export/", 404, {"detail": "Not found."}, id="no-such-route"),
    pytest.param("get", "/api/imports/null,null/errors/?format=csv", 404, {"detail": "Not found."},
                 id="csv-asked-error-in-json"),
    # pages and filters past every range
    pytest.param("get", f"/api/subscribers/?page={HUGE}", 404, {"detail": "Invalid page."}, id="huge-page"),
    pytest.param("get", "/api/subscribers/?page=-1", 404, {"detail": "Invalid page."}, id="negative-page"),
    pytest.param("get", "/api/deliveries/?campaign=1e400", 400, {"campaign": [
        "Select a valid choice. That choice is not one of the available choices."]}, id="float-filter"),
    pytest.param("get", f"/api/deliveries/?subscriber={HUGE}", 400, {"subscriber": [
        "Select a valid choice. That choice is not one of the available choices."]}, id="huge-filter"),
    pytest.param("get", f"/api/deliveries/?list_number={HUGE}", 200,
                 {"next": None, "previous": None, "results": []}, id="huge-number-filter"),
    pytest.param("get", "/api/campaigns/?ordering=-send_at,no_such_field", 200, None, id="unknown-ordering"),
    # NUL and bytes that are not UTF-8, in the query string or the path
    pytest.param("get", "/api/subscribers/?search=%00", 400,
                 {"detail": "the query string contains a NUL character"}, id="nul-in-search"),
    pytest.param("get", "/api/campaigns/?ordering=%00name", 400,
                 {"detail": "the query string contains a NUL character"}, id="nul-in-ordering"),
    pytest.param("get", "/api/deliveries/?campaign=1%00", 400,
                 {"detail": "the query string contains a NUL character"}, id="nul-in-filter"),
    pytest.param("get", "/api/subscribers/?page=%00", 400,
                 {"detail": "the query string contains a NUL character"}, id="nul-in-page"),
    pytest.param("get", "/api/subscribers/?search=%FF", 400,
                 {"detail": "the query string is not valid UTF-8 (byte 0xFF at 7)"}, id="not-utf8-in-search"),
    pytest.param("get", "/api/drafts/?search=%ED%A0%80", 400,
                 {"detail": "the query string is not valid UTF-8 (byte 0xED at 7)"}, id="surrogate-in-search"),
    pytest.param("post", "/api/opt-out/?x=%C0%80", 400,
                 {"detail": "the query string is not valid UTF-8 (byte 0xC0 at 2)"}, id="overlong-nul-in-query"),
    pytest.param("get", "/api/subscribers/%00/", 400, {"detail": "the path contains a NUL character"},
                 id="nul-in-path"),
    # Django quotes a path's bytes that are not UTF-8 again: "%FF" and "%ED%A0%80" match no route
    pytest.param("delete", "/api/segments/%FF/", 404, {"detail": "Not found."}, id="not-utf8-in-path"),
    pytest.param("get", "/api/drafts/%ED%A0%80/", 404, {"detail": "Not found."}, id="surrogate-in-path"),
]


@pytest.mark.parametrize(("method", "url", "status", "expected"), REQUESTS)
def test_a_path_or_query_no_object_matches_is_a_4xx_never_a_500(api, world, db_state, method, url, status,
                                                                expected):
    # given
    before = db_state()

    # when
    response = getattr(api, method)(url)

    # then
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    if expected is not None:
        assert response.json() == expected
    assert db_state() == before


@pytest.mark.parametrize(("url", "expected"), [
    ("/admin/campaigns/subscriber/?q=%00", "the query string contains a NUL character"),
    ("/admin/campaigns/subscriber/?q=%FF", "the query string is not valid UTF-8 (byte 0xFF at 2)"),
    ("/admin/campaigns/subscriber/%00/change/", "the path contains a NUL character"),
])
def test_the_admin_answers_400_to_the_same_paths_and_queries(admin_client, url, expected):
    response = admin_client.get(url)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == expected


def test_an_api_path_that_matches_no_route_answers_json_and_the_admin_keeps_its_page(api, admin_client):
    response = api.get("/api/no-such-thing/")
    assert (response.status_code, response["Content-Type"], response.json()) == (
        404, "application/json", {"detail": "Not found."})

    response = admin_client.get("/admin/no-such-app/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("method", ["put", "patch", "delete", "get"])
def test_a_method_an_action_view_does_not_have_is_405_not_403(api, method):
    response = getattr(api, method)("/api/opt-out/")

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


# --- partial updates leave nested objects whole (found by schemathesis) ---------------


@pytest.mark.parametrize(("body", "expected"), [
    pytest.param({"whatsapp_template": {}}, {"whatsapp_template": {
        "name": ["This field is required."], "language": ["This field is required."]}}, id="empty-template"),
    # a button is {text, url} or {text, copy_text}: which one is missing is said once the text is there
    pytest.param({"buttons": [{}]}, {"buttons": {"0": {"text": ["This field is required."]}}}, id="empty-button"),
    pytest.param({"buttons": [{"url": "https://example.com"}]},
                 {"buttons": {"0": {"text": ["This field is required."]}}}, id="button-without-text"),
])
def test_patching_a_draft_with_an_incomplete_nested_object_is_a_400(api, world, db_state, body, expected):
    # given: before the fix, `{}` was stored and every later read of the draft was a 500
    before = db_state()

    # when
    response = api.patch(f"/api/drafts/{world['draft']}/", body, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before
    assert api.get(f"/api/drafts/{world['draft']}/").status_code == 200


def test_patching_a_draft_with_a_template_fills_the_templates_defaults(api, world):
    response = api.patch(f"/api/drafts/{world['draft']}/", {"whatsapp_template": {"name": "bf", "language": "ru"}},
                         format="json")

    assert response.status_code == 200
    assert Draft.objects.get(pk=world["draft"]).whatsapp_template == {"name": "bf", "language": "ru",
                                                                      "parameters": []}


@pytest.mark.parametrize(("item", "expected"), [
    pytest.param({"address": "0", "consent": CONSENT}, {"platform": ["This field is required."]}, id="no-platform"),
    pytest.param({"platform": "telegram", "consent": CONSENT}, {"address": ["This field is required."]},
                 id="no-address"),
    pytest.param({"platform": "telegram", "address": "777"}, {"consent": ["This field is required."]},
                 id="no-consent"),
    pytest.param({"platform": "telegram", "address": "777", "consent": {"text": "Yes"}},
                 {"consent": {"source": ["This field is required."]}}, id="consent-without-source"),
])
def test_patching_a_subscriber_with_an_incomplete_subscription_is_a_400(api, world, db_state, item, expected):
    # given: before the fix, a subscription without a platform was a KeyError (500)
    before = db_state()

    # when
    response = api.patch(f"/api/subscribers/{world['subscriber']}/", {"subscriptions": [item]}, format="json")

    # then
    assert response.status_code == 400
    assert response.json() == {"subscriptions": {"0": expected}}
    assert db_state() == before


# --- database range errors that no validator caught: 400 (DRF and plain views) --------


class _OutOfRangeAPIView(APIView):
    permission_classes: list = []

    def get(self, request: HttpRequest) -> Response:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::integer", [2**31])  # PostgreSQL: integer out of range
        return Response({})


def _out_of_range_view(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::smallint", [2**15])
    return HttpResponse("")


def _overflow_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(datetime.max + timedelta(days=1)))


urlpatterns = [
    path("api/out-of-range/", _OutOfRangeAPIView.as_view()),
    path("out-of-range/", _out_of_range_view),
    path("overflow/", _overflow_view),
]


@pytest.mark.parametrize(("url", "content_type", "body"), [
    ("/api/out-of-range/", "application/json", b'{"detail":"a value is out of the range that can be stored"}'),
    ("/out-of-range/", "text/plain; charset=utf-8", b"a value is out of the range that can be stored"),
    ("/overflow/", "text/plain; charset=utf-8", b"a value is out of the range that can be stored"),
])
def test_a_value_the_database_cannot_hold_is_a_400_in_any_view(settings, url, content_type, body):
    settings.ROOT_URLCONF = __name__

    response = Client(raise_request_exception=False).get(url)

    assert (response.status_code, response["Content-Type"], response.content) == (400, content_type, body)


# --- webhooks: a genuine but hostile callback is dropped as malformed, answered 200 ----

TG_SECRET = "tg-webhook-secret"
WA_SECRET = "wa-app-secret"
VB_TOKEN = "vb-auth-token"
NOW_S = int(datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp())


@pytest.fixture
def secrets(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    settings.TELEGRAM_WEBHOOK_SECRET = TG_SECRET
    settings.WHATSAPP_APP_SECRET = WA_SECRET
    settings.WHATSAPP_ACCESS_TOKEN = ""
    settings.VIBER_AUTH_TOKEN = VB_TOKEN
    settings.VIBER_API_URL = "http://127.0.0.1:9/pa"  # never called while a webhook is handled
    return settings


def webhook_state() -> dict[str, list]:
    return {
        "subscribers": list(Subscriber.objects.order_by("id").values_list("id", "name")),
        "subscriptions": list(Subscription.objects.order_by("id").values_list("id", "address", "status")),
        "consent_events": list(ConsentEvent.objects.order_by("id").values_list("id", "kind")),
        "deliveries": list(Delivery.objects.order_by("id").values_list("id", "status", "reason")),
        "inbound_events": sorted(InboundEvent.objects.values_list("platform", "key")),
        "early_receipts": list(EarlyReceipt.objects.values_list("platform", "message_id")),
        "pending_updates": list(PendingUpdate.objects.values_list("platform", "error")),
    }


def telegram_update(update_id: int = 9001, **message: object) -> dict:
    sender = {"id": 424242, "is_bot": False, "first_name": "Ivan", "language_code": "ru"}
    return {"update_id": update_id, "message": {"message_id": 7, "date": NOW_S, "from": sender,
                                                "chat": {"id": 424242, "type": "private"}, "text": "/start",
                                                **message}}


def _post(platform: str, body: bytes):
    headers = {
        "telegram": {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET},
        "whatsapp": {wa.SIGNATURE_HEADER: wa.sign(body, WA_SECRET)},
        "viber": {vb.SIGNATURE_HEADER: vb.sign(body, VB_TOKEN)},
    }[platform]
    with TestCase.captureOnCommitCallbacks(execute=False):
        return Client(raise_request_exception=False).post(f"/webhooks/{platform}/", data=body,
                                                          content_type="application/json", headers=headers)


def _receipt_fixture() -> Delivery:
    """A sent delivery whose receipts the hostile callbacks below pretend to be."""
    subscription = subscribe(SubscriberFactory(), "whatsapp", "+79990001122")
    campaign = CampaignFactory(platforms=["whatsapp"], status="running", segment=SegmentFactory(),
                               draft=DraftFactory())
    send_list = SendList.objects.create(campaign=campaign, platform="whatsapp", number=1, size=1,
                                        state=SendList.State.DONE)
    return Delivery.objects.create(campaign=campaign, subscriber=subscription.subscriber, subscription=subscription,
                                   platform="whatsapp", send_list=send_list, list_number=1,
                                   status=Delivery.Status.SENT, send_after=timezone.now(), sent_at=timezone.now(),
                                   platform_message_id="wamid.SENT", attempts=1)


HOSTILE = [
    pytest.param("telegram", b"[" * 100_000 + b"]" * 100_000, id="telegram-nested-100000"),
    pytest.param("telegram", json.dumps(telegram_update(chat={"id": 424242, "type": "private",
                                                             "x": nested(40)})).encode(),
                 id="telegram-nested-40"),
    pytest.param("telegram", json.dumps(telegram_update(chat={"id": 10**100, "type": "private"})).encode(),
                 id="telegram-chat-id-of-101-digits"),
    pytest.param("telegram", b'{"update_id": 1, "message": {"date": NaN}}', id="telegram-nan"),
    pytest.param("telegram", b'{"update_id": 1, "message": "\xff\xfe"}', id="telegram-not-utf8"),
    pytest.param("whatsapp", wa.encode(wa.status_payload("w" * 5000, "delivered", "79990001122", timestamp=NOW_S)),
                 id="whatsapp-status-id-of-5000-chars"),
    pytest.param("whatsapp", wa.encode(wa.inbound_text("7" * 300, "START", msg_id="wamid.X", timestamp=NOW_S)),
                 id="whatsapp-wa-id-of-300-digits"),
    pytest.param("whatsapp", json.dumps({"entry": [{"changes": [{"field": "messages", "value": nested(40)}]}]})
                 .encode(), id="whatsapp-nested-40"),
    pytest.param("viber", vb.encode(vb.delivered_payload(10**200, "Rk1x9a+bQ2lYtT0ZcVnWmw==", timestamp=NOW_S * 1000)),
                 id="viber-token-of-201-digits"),
    pytest.param("viber", vb.encode(vb.delivered_payload("t" * 1000, "Rk1x9a+bQ2lYtT0ZcVnWmw==",
                                                         timestamp=NOW_S * 1000)), id="viber-token-of-1000-chars"),
    pytest.param("viber", vb.encode({**vb.subscribed_payload("Rk1x9a+bQ2lYtT0ZcVnWmw==", timestamp=NOW_S * 1000),
                                     "user": nested(40)}), id="viber-nested-40"),
]


@pytest.mark.parametrize(("platform", "body"), HOSTILE)
def test_a_genuine_hostile_callback_is_answered_200_dropped_and_not_kept_for_retry(secrets, platform, body, caplog):
    # given
    _receipt_fixture()
    before = webhook_state()

    # when
    response = _post(platform, body)

    # then: acknowledged (the platform must not send it again), recorded as malformed, nothing changed or kept
    assert response.status_code == 200
    assert webhook_state() == before
    assert any("can never be handled" in record.getMessage() for record in caplog.records
               if record.name == "channels.pending")


@pytest.mark.parametrize(("platform", "payload", "source"), [
    pytest.param("viber", vb.unsubscribed_payload("Rk1x9a+bQ2lYtT0ZcVnWmw==", timestamp=1e30,
                                                  message_token=5000000000000000901),
                 "viber_unsubscribed", id="viber-timestamp-1e30"),
    pytest.param("whatsapp", wa.inbound_text("79990001122", "STOP", msg_id="wamid.TS", timestamp=99999999999999),
                 "whatsapp_stop", id="whatsapp-timestamp-99999999999999"),
    pytest.param("telegram", telegram_update(date=-(10**30), text="/stop"), "telegram_stop", id="telegram-date-1e30"),
])
def test_an_opt_out_with_a_timestamp_out_of_range_is_honoured_at_the_time_it_came(secrets, platform, payload,
                                                                                    source):
    # given: the timestamp is the platform's clock, not ours; the opt-out itself still counts
    address = {"viber": "Rk1x9a+bQ2lYtT0ZcVnWmw==", "whatsapp": "+79990001122", "telegram": "424242"}[platform]
    subscription = subscribe(SubscriberFactory(), platform, address)

    # when
    response = _post(platform, json.dumps(payload).encode())

    # then
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.OPTED_OUT
    event = subscription.consent_events.order_by("id").last()
    assert event.source == source
    assert timedelta(0) <= timezone.now() - event.at < timedelta(minutes=1)
    assert PendingUpdate.objects.count() == 0


def test_a_kept_callback_the_database_refuses_is_dropped_by_the_retry_not_retried_forever(secrets):
    # given: a callback kept before DataError counted as a refusal (a Viber token longer than its column)
    body = vb.encode(vb.delivered_payload(10**200, "Rk1x9a+bQ2lYtT0ZcVnWmw==", timestamp=NOW_S * 1000))
    PendingUpdate.objects.create(platform="viber", body=body, error="DataError(...)",
                                 next_try_at=timezone.now() - timedelta(seconds=1))

    # when
    done = pending.pending_retry_due(now=timezone.now())

    # then
    assert done == 1
    assert PendingUpdate.objects.count() == 0
    assert EarlyReceipt.objects.count() == 0


@pytest.mark.parametrize("token", ["é-token", "two words", "\u0093", "\U0001f600"])
def test_a_token_that_cannot_travel_in_a_header_is_a_400_on_token_and_nothing_is_saved(api, token):
    # Found by the schema fuzz: a Viber channel token with a non-ASCII character answered 500
    # (it goes into the X-Viber-Auth-Token header of the check).
    from campaigns.models import BrandChannel, SenderAccount

    channel = api.post("/api/channels/", {"platform": "viber", "chat": "pa:brand", "token": token,
                                          "admin_id": "editor-1"}, format="json")
    account = api.post("/api/accounts/", {"platform": "whatsapp", "name": "Moscow", "slug": "moscow",
                                          "credentials": {"access_token": token, "phone_number_id": "1055"}},
                       format="json")

    assert channel.status_code == 400 and "visible ASCII" in channel.json()["token"][0]
    assert account.status_code == 400 and "visible ASCII" in account.json()["credentials"]["access_token"][0]
    assert not BrandChannel.objects.exists() and not SenderAccount.objects.exists()
