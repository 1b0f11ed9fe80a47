"""The ledger's admin list at any size: unfiltered, it numbers its pages from the planner's
estimate instead of counting every row; filtered, it counts exactly."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.admin import pagination
from campaigns.models import Delivery, SendList
from tests.conftest import CampaignFactory, SubscriberFactory, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ops", password="x-secret-123"))
    return client


def ledger_of(n: int) -> None:
    campaign = CampaignFactory()
    send_list = SendList.objects.create(campaign=campaign, platform="telegram", number=1, size=n)
    now = timezone.now()
    rows = []
    for _ in range(n):
        person = SubscriberFactory()
        rows.append(Delivery(campaign=campaign, subscriber=person, subscription=subscribe(person), platform="telegram",
                             send_list=send_list, list_number=1, send_after=now,
                             status=Delivery.Status.SENT if len(rows) % 3 else Delivery.Status.FAILED))
    Delivery.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_delivery")


def counts_of_the_ledger(queries) -> list[str]:
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and 'FROM "campaigns_delivery"' in q["sql"]]


def test_the_unfiltered_ledger_is_numbered_from_the_estimate_without_counting_it(operator, monkeypatch):
    ledger_of(30)
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)  # a 30-row ledger stands in for ten million
    with CaptureQueriesContext(connection) as queries:
        page = operator.get("/admin/campaigns/delivery/")
    assert page.status_code == 200
    assert counts_of_the_ledger(queries.captured_queries) == []
    assert page.context_data["cl"].result_count == 30


def test_a_filtered_ledger_is_counted_exactly(operator, monkeypatch):
    ledger_of(30)
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)
    with CaptureQueriesContext(connection) as queries:
        page = operator.get("/admin/campaigns/delivery/?status__exact=failed")
    assert page.status_code == 200
    assert len(counts_of_the_ledger(queries.captured_queries)) == 1
    assert page.context_data["cl"].result_count == 10


def test_below_the_threshold_the_ledger_is_counted_as_before(operator):
    ledger_of(12)
    with CaptureQueriesContext(connection) as queries:
        page = operator.get("/admin/campaigns/delivery/")
    assert len(counts_of_the_ledger(queries.captured_queries)) == 1
    assert page.context_data["cl"].result_count == 12
