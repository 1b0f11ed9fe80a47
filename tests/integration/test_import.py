"""CSV import through POST /api/subscribers/import/: good rows go in, bad rows come back
with their line number and reason, and a file that cannot be read writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from campaigns import services
from campaigns.models import ConsentEvent, Subscriber, Subscription
from tests.conftest import SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db

HEADER = (
    "external_id,name,timezone,language,tags,platform,address,saved_our_number,consent_source,consent_text,consent_at"
)
COLUMNS = (
    "external_id, name, timezone, language, tags, platform, address, saved_our_number, "
    "consent_source, consent_text, consent_at"
)
NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)
NOV_1_10H = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
NOV_10 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
NOV_15 = datetime(2026, 11, 15, 9, 0, tzinfo=UTC)


@pytest.fixture
def api(admin_client_api: APIClient) -> APIClient:
    # A 500 comes back as a response to assert on, not as an exception in the test.
    admin_client_api.raise_request_exception = False
    return admin_client_api


def csv_file(*lines: str | bytes) -> bytes:
    """Lines joined with \\n; str lines are UTF-8, bytes lines are taken as they are."""
    return b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)


def upload(api: APIClient, data: bytes, name: str = "subscribers.csv"):
    return api.post(
        "/api/subscribers/import/",
        {"file": SimpleUploadedFile(name, data, content_type="text/csv")},
        format="multipart",
    )


def subscriptions() -> list[tuple]:
    return list(
        Subscription.objects.order_by("platform", "address").values_list(
            "subscriber__external_id", "platform", "address", "status", "saved_our_number"
        )
    )


MIXED = csv_file(
    HEADER,  # 1
    'crm-1,Anna,Europe/Moscow,RU,vip;moscow,telegram,123456789,,import,"Yes, send me offers",2026-11-01T10:00:00Z',
    'crm-1,Anna,Europe/Moscow,ru,vip,whatsapp,+7 999 000-11-22,yes,import,"Yes, send me offers",2026-11-01T10:00:00Z',
    "crm-2,Boris,,,,whatsapp,12345,,import,Yes,2026-11-01",  # 4: malformed phone
    "crm-3,Clara,,,,sms,+79990003333,,import,Yes,2026-11-01",  # 5: unknown platform
    "crm-4,Dmitri,,,,telegram,444444,,import,Yes,",  # 6: no consent_at
    "crm-5,Eva,,,,telegram,123456789,,import,Yes,2026-11-01",  # 7: line 2's address
    "crm-6,Fedor,Mars/Olympus,,,telegram,666666,,import,Yes,2026-11-01",  # 8: bad zone
    'crm-7,"Galina',  # 9: a quoted name over two lines
    'Petrova",Europe/Moscow,ru,,viber,+7 998 000 77 77,,import,Yes,2026-11-01',  # 10
    b"crm-8,Jos\xe9,,,,telegram,888888,,import,Yes,2026-11-01",  # 11: latin-1
    "crm-9,Ivan,,,telegram,999999,,import,Yes,2026-11-01",  # 12: one field short
    "",  # 13: blank, skipped
    "crm-10,Kira,,,,telegram,-1001010,,import,Yes,2026-11-02",  # 14
)

MIXED_ERRORS = [
    {"line": 4, "error": "phone number '12345' has no country code: write it as +<country><number>"},
    {"line": 5, "error": "unknown platform 'sms' (use telegram, whatsapp, viber)"},
    {"line": 6, "error": "missing consent: consent_at empty; no subscription without consent"},
    {"line": 7, "error": "duplicate telegram address 123456789: already on line 2"},
    {"line": 8, "error": "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Moscow)"},
    {"line": 11, "error": "not UTF-8 (byte 0xE9); save the file as UTF-8"},
    {"line": 12, "error": "expected 11 fields, found 10"},
]
VIBER_PHONE_WARNING = ("viber address +79980003333 is a phone number: Viber bots reach people by their Viber "
                       "user id, so messages to it fail until the person subscribes to the bot")
MIXED_WARNINGS = [
    {"line": 9, "warning": "viber address +79980007777 is a phone number: Viber bots reach people by their Viber "
                           "user id, so messages to it fail until the person subscribes to the bot"},
]


def test_a_mixed_file_imports_the_good_rows_and_reports_the_bad_ones_by_line(api):
    # when
    response = upload(api, MIXED)

    # then
    assert response.status_code == 200
    assert response.json() == {"created": 4, "updated": 0, "errors": MIXED_ERRORS, "warnings": MIXED_WARNINGS}
    people = Subscriber.objects.order_by("external_id")
    assert list(people.values_list("external_id", "name", "timezone", "language")) == [
        ("crm-1", "Anna", "Europe/Moscow", "ru"),
        ("crm-10", "Kira", "UTC", "en"),
        ("crm-7", "Galina\nPetrova", "Europe/Moscow", "ru"),
    ]
    assert subscriptions() == [
        ("crm-10", "telegram", "-1001010", "opted_in", False),
        ("crm-1", "telegram", "123456789", "opted_in", False),
        ("crm-7", "viber", "+79980007777", "opted_in", False),
        ("crm-1", "whatsapp", "+79990001122", "opted_in", True),
    ]
    anna = Subscriber.objects.get(external_id="crm-1")
    assert sorted(anna.tags.values_list("name", flat=True)) == ["moscow", "vip"]
    events = ConsentEvent.objects.order_by("subscription__platform", "subscription__address")
    assert [(e.subscription.address, e.kind, e.status, e.source, e.text, e.at, e.evidence) for e in events] == [
        ("-1001010", "opt_in", "opted_in", "import", "Yes", datetime(2026, 11, 2, tzinfo=UTC), {"import": "csv"}),
        ("123456789", "opt_in", "opted_in", "import", "Yes, send me offers", NOV_1_10H, {"import": "csv"}),
        ("+79980007777", "opt_in", "opted_in", "import", "Yes", NOV_1, {"import": "csv"}),
        ("+79990001122", "opt_in", "opted_in", "import", "Yes, send me offers", NOV_1_10H, {"import": "csv"}),
    ]


def test_rows_with_the_same_external_id_join_one_subscriber(api):
    # given
    data = csv_file(
        HEADER,
        "crm-1,Anna,,,vip,telegram,123456789,,import,Yes,2026-11-01",
        "crm-1,,Asia/Yekaterinburg,,moscow,whatsapp,+79990001122,true,form,Yes please,2026-11-02",
    )

    # when
    response = upload(api, data)

    # then
    assert response.json() == {"created": 2, "updated": 0, "errors": [], "warnings": []}
    anna = Subscriber.objects.get()
    assert (anna.external_id, anna.name, anna.timezone) == ("crm-1", "Anna", "Asia/Yekaterinburg")
    assert sorted(anna.tags.values_list("name", flat=True)) == ["moscow", "vip"]
    assert list(anna.subscriptions.order_by("platform").values_list("platform", "address", "saved_our_number")) == [
        ("telegram", "123456789", False),
        ("whatsapp", "+79990001122", True),
    ]


def test_importing_the_same_file_again_updates_and_records_no_new_consent(api):
    # given
    first = upload(api, MIXED)
    events = list(ConsentEvent.objects.order_by("id").values_list("id", "subscription_id", "kind", "at"))
    people = list(Subscriber.objects.order_by("id").values_list("id", "external_id", "name"))
    before = subscriptions()

    # when
    second = upload(api, MIXED)

    # then
    assert first.json()["created"] == 4
    assert second.status_code == 200
    assert second.json() == {"created": 0, "updated": 4, "errors": MIXED_ERRORS, "warnings": MIXED_WARNINGS}
    assert list(ConsentEvent.objects.order_by("id").values_list("id", "subscription_id", "kind", "at")) == events
    assert list(Subscriber.objects.order_by("id").values_list("id", "external_id", "name")) == people
    assert subscriptions() == before


def test_an_older_consent_does_not_opt_in_someone_who_opted_out(api, db_state):
    # given: imported with consent of Nov 1, then Anna sent /stop on Nov 10
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z")
    upload(api, data)
    services.person_opt_out("telegram", "123456789",
                            consent=services.Consent(source="telegram_stop", text="/stop", at=NOV_10))
    before = db_state()

    # when: the same CRM export again, with a new name
    response = upload(api, csv_file(HEADER, "crm-1,Anna K.,,,vip,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))

    # then
    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": (
        "Telegram 123456789 opted out themselves on 2026-11-10 12:00 UTC (via telegram_stop); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    )}], "warnings": []}
    assert db_state() == before
    assert Subscription.objects.get().status == "opted_out"


def test_a_newer_consent_does_not_opt_in_again_someone_who_opted_out(api, db_state):
    # given: Anna opted out on Nov 10; the CRM has a newer consent for her
    upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))
    subscription = Subscription.objects.get()
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="api", at=NOV_10))
    before = db_state()

    # when
    response = upload(api, csv_file(HEADER, "crm-1,Anna K.,,,vip,telegram,123456789,,form,Yes again,2026-11-20"))

    # then: the row is reported with its line and the date of her opt-out; she stays opted out
    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": (
        "Telegram 123456789 was opted out on 2026-11-10 12:00 UTC (via api); "
        "only their own opt-in (/start, START, Viber subscribe) brings them back"
    )}], "warnings": []}
    assert db_state() == before
    subscription.refresh_from_db()
    assert subscription.status == "opted_out"
    assert list(subscription.consent_events.order_by("id").values_list("kind", "source", "at")) == [
        ("opt_in", "import", NOV_1_10H),
        ("opt_out", "api", NOV_10),
    ]


def test_the_persons_own_opt_in_brings_them_back_and_a_later_import_updates_them(api):
    # given: Anna stopped on Nov 10 and sent /start herself on Nov 15
    upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))
    services.person_opt_out("telegram", "123456789", consent=services.Consent(source="telegram_stop", at=NOV_10))
    services.person_opt_in("telegram", "123456789",
                           consent=services.Consent(source="telegram_start", text="/start", at=NOV_15))

    # when
    response = upload(api, csv_file(HEADER, "crm-1,Anna K.,,,,telegram,123456789,,form,Yes again,2026-11-20"))

    # then: she is opted in already, so the row updates her and records no new consent
    assert response.json() == {"created": 0, "updated": 1, "errors": [], "warnings": []}
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.subscriber.name) == ("opted_in", "Anna K.")
    assert list(subscription.consent_events.order_by("id").values_list("kind", "source", "by_person")) == [
        ("opt_in", "import", False),
        ("opt_out", "telegram_stop", True),
        ("opt_in", "telegram_start", True),
    ]


def test_a_newer_consent_opts_in_again_a_subscription_that_bounced(api):
    # given: Telegram said on Nov 10 that the chat is unreachable (a bounce, not a "stop")
    upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))
    subscription = Subscription.objects.get()
    services.subscription_opt_out(subscription=subscription, consent=services.Consent(source="telegram_error", at=NOV_10),
                                  status="unreachable")

    # when
    response = upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,form,Yes again,2026-11-20"))

    # then
    assert response.json() == {"created": 0, "updated": 1, "errors": [], "warnings": []}
    subscription.refresh_from_db()
    assert subscription.status == "opted_in"
    assert list(subscription.consent_events.order_by("id").values_list("kind", "status", "source", "at")) == [
        ("opt_in", "opted_in", "import", NOV_1_10H),
        ("suppress", "unreachable", "telegram_error", NOV_10),
        ("opt_in", "opted_in", "form", datetime(2026, 11, 20, tzinfo=UTC)),
    ]


def test_a_consent_older_than_the_bounce_does_not_opt_in_again(api, db_state):
    # given
    upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))
    services.subscription_opt_out(subscription=Subscription.objects.get(),
                                  consent=services.Consent(source="telegram_error", at=NOV_10), status="unreachable")
    before = db_state()

    # when
    response = upload(api, csv_file(HEADER, "crm-1,Anna,,,,telegram,123456789,,import,Yes,2026-11-01T10:00:00Z"))

    # then
    assert response.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": (
        "Telegram 123456789 was unreachable at 2026-11-10 12:00 UTC, "
        "after this consent (2026-11-01 10:00 UTC); not opted in again"
    )}], "warnings": []}
    assert db_state() == before
    assert Subscription.objects.get().status == "unreachable"


def test_an_address_of_another_subscriber_is_reported(api, db_state):
    # given
    boris = SubscriberFactory(name="Boris", external_id="crm-b")
    subscribe(boris, "telegram", "123456789")
    before = db_state()

    # when
    response = upload(api, csv_file(HEADER, "crm-a,Anna,,,,telegram,123456789,,import,Yes,2026-11-01"))

    # then
    assert response.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": (
        "telegram address 123456789 already belongs to another subscriber (Boris)"
    )}], "warnings": []}
    assert db_state() == before


def test_an_address_of_another_subscriber_is_reported_when_both_are_known(api, db_state):
    # given: Anna is known without Telegram; the address is Boris's
    SubscriberFactory(name="Anna", external_id="crm-a")
    subscribe(SubscriberFactory(name="Boris", external_id="crm-b"), "telegram", "123456789")
    before = db_state()

    # when
    response = upload(api, csv_file(HEADER, "crm-a,Anna,,,,telegram,123456789,,import,Yes,2026-11-01"))

    # then
    assert response.json() == {"created": 0, "updated": 0, "errors": [{"line": 2, "error": (
        "telegram address 123456789 already belongs to another subscriber (Boris)"
    )}], "warnings": []}
    assert db_state() == before


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("crm-2,N,,,,telegram,222222,,import,Yes,2099-11-01", "consent_at '2099-11-01' is in the future"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,0001-01-01T00:00:00Z",
         "consent_at '0001-01-01T00:00:00Z' is before 2000-01-01; no consent can be that old"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,0001-01-01",
         "consent_at '0001-01-01' is before 2000-01-01; no consent can be that old"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,0001-01-01T00:00:00+05:00",
         "consent_at '0001-01-01T00:00:00+05:00' is before 2000-01-01; no consent can be that old"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,1999-12-31T23:59:59Z",
         "consent_at '1999-12-31T23:59:59Z' is before 2000-01-01; no consent can be that old"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,9999-12-31T23:59:59-05:00",
         "consent_at '9999-12-31T23:59:59-05:00' is in the future"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,2026-02-30",
         "consent_at '2026-02-30' is not a real date or time (day is out of range for month)"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,0000-01-01",
         "consent_at '0000-01-01' is not a real date or time (year 0 is out of range)"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,2026-11-01T25:00:00Z",
         "consent_at '2026-11-01T25:00:00Z' is not a real date or time (hour must be in 0..23)"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,yesterday",
         "consent_at 'yesterday' is not a date or time (use ISO 8601, e.g. 2026-11-01T10:00:00Z)"),
        ("crm-2,N,,,,telegram,222222,,,Yes,2026-11-01",
         "missing consent: consent_source empty; no subscription without consent"),
        ("crm-2,N,,,,telegram,222222,,import,,",
         "missing consent: consent_text, consent_at empty; no subscription without consent"),
        ("crm-2,N,,,,whatsapp,+79990001122,maybe,import,Yes,2026-11-01",
         "saved_our_number 'maybe' is not true or false"),
        ("crm-2,N,,english!,,telegram,222222,,import,Yes,2026-11-01",
         "'english!' is not a language code such as 'ru' or 'en'"),
        ("crm-2,N,,,,telegram,@anna,,import,Yes,2026-11-01", "a Telegram address is a numeric chat id, not '@anna'"),
        ("crm-2,N,,,,whatsapp,+7999,,import,Yes,2026-11-01", "'+7999' is not a valid phone number"),
        ("crm-2,N,,,,telegram,,,import,Yes,2026-11-01", "address is empty"),
        ("crm-2,N,,,vip;" + "t" * 51 + ",telegram,222222,,import,Yes,2026-11-01", "a tag is longer than 50 characters"),
        ("crm-2,N,,,,telegram,222222,,import,Yes,2026-11-01,extra", "expected 11 fields, found 12"),
    ],
)
def test_a_bad_row_is_reported_and_the_good_ones_still_go_in(api, row, error):
    # given
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01", row,
                    "crm-3,Clara,,,,viber,+79980003333,,import,Yes,2026-11-01")

    # when
    response = upload(api, data)

    # then
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "errors": [{"line": 3, "error": error}],
                               "warnings": [{"line": 4, "warning": VIBER_PHONE_WARNING}]}
    assert sorted(Subscriber.objects.values_list("external_id", flat=True)) == ["crm-1", "crm-3"]
    assert ConsentEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("row", "column"),
    [
        pytest.param(b"crm-2," + b"N" * 201 + b",,,,telegram,222222,,import,Yes,2026-11-01", "name", id="long-name"),
        pytest.param(b"X" * 101 + b",N,,,,telegram,222222,,import,Yes,2026-11-01", "external_id",
                     id="long-external-id"),
        pytest.param(b"crm-2,N,,,,telegram,222222,," + b"s" * 101 + b",Yes,2026-11-01", "consent_source",
                     id="long-consent-source"),
        pytest.param(b"crm-2,N,,en-aaaaaaaa-bbbbbbbb,,telegram,222222,,import,Yes,2026-11-01", "language",
                     id="long-language"),
        pytest.param(b"crm-2,A\x00na,,,,telegram,222222,,import,Yes,2026-11-01", "name", id="nul-byte"),
    ],
)
def test_a_value_the_database_cannot_hold_is_a_row_error_not_a_500(api, row, column):
    # given
    data = csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01", row,
                    "crm-3,Clara,,,,viber,+79980003333,,import,Yes,2026-11-01")

    # when
    response = upload(api, data)

    # then
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert (body["created"], body["updated"], [e["line"] for e in body["errors"]]) == (2, 0, [3])
    assert column in body["errors"][0]["error"]
    assert sorted(Subscriber.objects.values_list("external_id", flat=True)) == ["crm-1", "crm-3"]


def test_a_whole_file_in_cp1251_imports_the_ascii_rows_and_reports_the_cyrillic_ones(api):
    # given: "Анна" is C0 ED ED E0 in cp1251, and C0 never starts a UTF-8 character
    data = "\n".join([
        HEADER,
        "crm-1,Anna,Europe/Moscow,ru,vip,telegram,111111,,import,Yes,2026-11-01",
        "crm-2,Анна,Europe/Moscow,ru,vip,telegram,222222,,import,Да,2026-11-01",
        "crm-3,Boris,,,,whatsapp,+79990001122,,import,Yes,2026-11-01",
        "crm-4,Борис,,,,telegram,444444,,import,Yes,2026-11-01",
        "",
    ]).encode("cp1251")

    # when
    response = upload(api, data)

    # then
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "errors": [
        {"line": 3, "error": "not UTF-8 (byte 0xC0); save the file as UTF-8"},
        {"line": 5, "error": "not UTF-8 (byte 0xC1); save the file as UTF-8"},
    ], "warnings": []}
    assert sorted(Subscriber.objects.values_list("external_id", "name")) == [("crm-1", "Anna"), ("crm-3", "Boris")]


def test_a_utf8_file_with_a_byte_order_mark_imports(api):
    # given: Excel's "CSV UTF-8" starts with EF BB BF, right before external_id
    data = b"\xef\xbb\xbf" + csv_file(HEADER, "crm-1,Анна,Europe/Moscow,ru,vip,telegram,111111,,import,Да,2026-11-01")

    # when
    response = upload(api, data)

    # then
    assert response.json() == {"created": 1, "updated": 0, "errors": [], "warnings": []}
    assert list(Subscriber.objects.values_list("external_id", "name")) == [("crm-1", "Анна")]
    assert list(ConsentEvent.objects.values_list("text", flat=True)) == ["Да"]


def test_a_file_with_windows_line_ends_reports_the_right_lines(api):
    # given
    data = csv_file(
        HEADER,
        "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01",
        'crm-2,"Bo\r\nris",,,,telegram,222222,,import,Yes,2026-11-01',
        "crm-3,Clara,,,,sms,333333,,import,Yes,2026-11-01",
    ).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")

    # when
    response = upload(api, data)

    # then
    assert response.json() == {"created": 2, "updated": 0, "errors": [
        {"line": 5, "error": "unknown platform 'sms' (use telegram, whatsapp, viber)"}
    ], "warnings": []}
    assert Subscriber.objects.get(external_id="crm-2").name == "Bo\r\nris"


def test_a_header_only_file_imports_nothing(api, db_state):
    # given
    before = db_state()

    # when
    response = upload(api, csv_file(HEADER))

    # then
    assert response.status_code == 200
    assert response.json() == {"created": 0, "updated": 0, "errors": [], "warnings": []}
    assert db_state() == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            csv_file("external_id,name,platform,address,consent_source,consent_text",
                     "crm-1,Anna,telegram,111111,import,Yes"),
            {"file": [f"line 1: missing column(s) consent_at; expected {COLUMNS}"]},
            id="missing-column",
        ),
        pytest.param(
            csv_file("name;platform;address;consent_source;consent_text;consent_at",
                     "Anna;telegram;111111;import;Yes;2026-11-01"),
            {"file": [f"line 1: missing column(s) platform, address, consent_source, consent_text, consent_at; "
                      f"expected {COLUMNS}"]},
            id="semicolon-separated",
        ),
        pytest.param(
            csv_file("platform,address,consent_source,consent_text,consent_at,platform",
                     "telegram,111111,import,Yes,2026-11-01,viber"),
            {"file": ["line 1: column(s) platform appear more than once"]},
            id="repeated-column",
        ),
        pytest.param(
            csv_file("plätform,address,consent_source,consent_text,consent_at".encode("latin-1")),
            {"file": ["line 1: not UTF-8 (byte 0xE4); save the file as UTF-8"]},
            id="header-not-utf8",
        ),
        pytest.param(
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb4\x8a\xc3\x00",
            {"file": ["line 1: not UTF-8 (byte 0xB4); save the file as UTF-8"]},
            id="xlsx-instead-of-csv",
        ),
        pytest.param(b"", {"file": ["The submitted file is empty."]}, id="empty-file"),
    ],
)
def test_a_file_that_cannot_be_read_is_a_400_and_writes_nothing(api, db_state, data, expected):
    # given
    SubscriberFactory(external_id="crm-0")
    before = db_state()

    # when
    response = upload(api, data)

    # then
    assert response.status_code == 400
    assert response.json() == expected
    assert db_state() == before


def test_an_import_without_a_file_is_a_400(api, db_state):
    # given
    before = db_state()

    # when
    no_file = api.post("/api/subscribers/import/", {}, format="multipart")
    text_instead = api.post("/api/subscribers/import/", {"file": "crm-1,Anna"}, format="multipart")

    # then
    assert (no_file.status_code, no_file.json()) == (400, {"file": ["No file was submitted."]})
    assert (text_instead.status_code, text_instead.json()) == (
        400, {"file": ["The submitted data was not a file. Check the encoding type on the form."]}
    )
    assert db_state() == before


def test_the_import_needs_a_staff_token(db, db_state):
    # given
    before = db_state()

    # when
    response = APIClient().post(
        "/api/subscribers/import/",
        {"file": SimpleUploadedFile("s.csv", csv_file(HEADER, "crm-1,Anna,,,,telegram,111111,,import,Yes,2026-11-01"))},
        format="multipart",
    )

    # then
    assert response.status_code == 401
    assert db_state() == before
