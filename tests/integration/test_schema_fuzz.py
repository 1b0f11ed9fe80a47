"""Schemathesis against the OpenAPI schema the app serves: every operation, valid and
invalid input, as a superuser with a token. No answer is a 5xx, and every answer's status,
content type and body are the ones the schema documents.

Bounded and reproducible: TACT_FUZZ_EXAMPLES (25) examples per operation and phase,
derandomized, so a failure comes back on the next run (about a minute on 2 cores). Operations added later are fuzzed too: the
schema is read at run time. Generated ids of 0 and up name real objects (of the path's
resource, or the draft, segment, campaign, subscriber or members a body or query names),
so operations reach their logic and not only their 404.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.db.models import Model
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis import BaseSchema
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import (
    Campaign,
    Delivery,
    Draft,
    ImportJob,
    Segment,
    SendList,
    Subscriber,
)
from tests.conftest import (
    CampaignFactory,
    DraftFactory,
    SegmentFactory,
    SubscriberFactory,
    subscribe,
)

# Committed for real, as in production: a view's database error is not swallowed by the
# test's own transaction, and what one request writes the next one reads.
pytestmark = pytest.mark.django_db(transaction=True)

FUZZ_EXAMPLES = int(os.environ.get("TACT_FUZZ_EXAMPLES", "25"))
THROTTLE_KEY = "throttle_auth_127.0.0.1"  # ScopedRateThrottle's key for the token endpoint and this client
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _world() -> None:
    """A few objects of every resource, so that detail operations have something to act on."""
    segment = SegmentFactory()
    for n in range(3):
        subscriber = SubscriberFactory(attributes={"city": "Moscow", "n": n})
        telegram = subscribe(subscriber, "telegram")
        subscribe(subscriber, "whatsapp")
        campaign = CampaignFactory(segment=segment, status=Campaign.Status.COMPLETED if n else Campaign.Status.DRAFT)
        send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=1,
                                            state=SendList.State.DONE)
        Delivery.objects.create(campaign=campaign, subscriber=subscriber, subscription=telegram, platform="telegram",
                                send_list=send_list, list_number=1, status=Delivery.Status.SENT,
                                send_after=datetime(2026, 11, 1, 9, tzinfo=UTC),
                                sent_at=datetime(2026, 11, 1, 9, tzinfo=UTC), attempts=1)
    CampaignFactory(draft=DraftFactory(), segment=segment)
    ImportJob.objects.create(file_name="people.csv", state=ImportJob.State.DONE, total_rows=2, processed_rows=2,
                             created=1, errors=[{"line": 3, "error": "no consent_text"}])


def _model_of(path: str) -> type[Model] | None:
    """The model behind an operation's `{id}`: the resolved view's queryset or serializer."""
    try:
        view = resolve(path.replace("{id}", "1")).func
    except Resolver404:
        return None
    cls = getattr(view, "cls", None)
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(cls, "serializer_class", None)
    return getattr(getattr(serializer, "Meta", None), "model", None)


# Body and query fields that name another resource's object.
REFERENCES: dict[str, type[Model]] = {"draft": Draft, "segment": Segment, "campaign": Campaign,
                                      "subscriber": Subscriber, "members": Subscriber}


def _is_index(value: object) -> bool:
    """0, 1, ... (or "0", as the coverage phase writes a path's id)."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit()
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _real(model: type[Model], index: int | str) -> int:
    index = int(index)
    ids = list(model.objects.order_by("id").values_list("id", flat=True)[:10])
    if not ids:  # fuzzed DELETEs and erasures took them all
        _world()
        ids = list(model.objects.order_by("id").values_list("id", flat=True)[:10])
    return ids[index % len(ids)] if ids else index


def _aim(case: schemathesis.Case) -> None:
    """Generated ids of 0 and up name real objects; negative ones (and strings) stay, for 404s."""
    path = case.path_parameters or {}
    model = _model_of(case.operation.path) if _is_index(path.get("id")) else None
    if model is not None:
        path["id"] = _real(model, path["id"])
    for fields in (case.query, case.body):
        if not isinstance(fields, dict):
            continue
        for name, referenced in REFERENCES.items():
            value = fields.get(name)
            if _is_index(value):
                fields[name] = _real(referenced, value)
            elif isinstance(value, list):
                fields[name] = [_real(referenced, v) if _is_index(v) else v for v in value]


@pytest.fixture
def fuzz_admin(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("fuzz-admin", "fuzz@example.com", "x-secret-123")


@pytest.fixture
def api_schema(fuzz_admin: User) -> Iterator[BaseSchema]:
    """The schema the running app serves at /api/schema/ (it needs a login), bound to the
    app itself over WSGI, in this process and this test's database."""
    # Django closes "old" connections around each request; the test's own must stay open
    # (Django's test client does the same).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _world()
    token = Token.objects.create(user=fuzz_admin)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(),
                                             headers={"Authorization": f"Token {token.key}"})
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        cache.delete(THROTTLE_KEY)  # the fuzzed POST /api/auth/token/ used up this address's rate


schema = schemathesis.pytest.from_fixture("api_schema")


@hypothesis_settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                     suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_no_input_answers_a_server_error_and_every_answer_is_documented(case: schemathesis.Case, fuzz_admin: User):
    # given: the superuser's token (made again if a fuzzed DELETE /api/auth/token/ revoked it)
    token, _ = Token.objects.get_or_create(user=fuzz_admin)
    _aim(case)

    # when / then
    case.call_and_validate(headers={"Authorization": f"Token {token.key}"}, checks=CHECKS)
