"""Shared fixtures and factory_boy factories. Integration tests run on real PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import factory
import pytest
from django.conf import settings

from campaigns import services
from campaigns.models import Campaign, Draft, Segment, Subscriber, Subscription


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Refuse to run integration tests anywhere but PostgreSQL: SQLite would hide locking
    and the consent triggers."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql" and not os.environ.get("TACT_ALLOW_SQLITE_TESTS"):
        pytest.exit(
            f"integration tests need PostgreSQL (DATABASE_URL), got {engine}; run them with `make test`",
            returncode=3,
        )
    yield


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    name = factory.Sequence(lambda n: f"Person {n}")
    external_id = factory.Sequence(lambda n: f"crm-{n}")
    timezone = "Europe/Moscow"
    language = "ru"


def subscribe(
    subscriber: Subscriber,
    platform: str = "telegram",
    address: str | None = None,
    *,
    saved_our_number: bool = False,
    at: datetime | None = None,
) -> Subscription:
    """An opted-in subscription made the only way the app makes one: with consent."""
    if address is None:
        address = {
            "telegram": str(100000 + subscriber.pk),
            "whatsapp": f"+7999{subscriber.pk:07d}",
            "viber": f"+7998{subscriber.pk:07d}",
        }[platform]
    return services.subscription_add(
        subscriber=subscriber,
        platform=platform,
        address=address,
        consent=services.Consent(source="test", text="Yes, send me offers", at=at or datetime(2026, 11, 1, tzinfo=UTC)),
        saved_our_number=saved_our_number,
    )


class DraftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Draft

    title = factory.Sequence(lambda n: f"Draft {n}")
    body = "−30% on everything today only\nDetails inside…"
    buttons = factory.LazyFunction(lambda: [{"text": "Shop", "url": "https://example.com"}])


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    kind = Segment.Kind.DYNAMIC
    rules = factory.LazyFunction(lambda: {"tags_all": [], "tags_any": [], "platforms": [], "attributes": {}})


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    draft = factory.SubFactory(DraftFactory)
    segment = factory.SubFactory(SegmentFactory)
    platforms = factory.LazyFunction(lambda: ["telegram"])
    send_at = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def admin_client_api(db, django_user_model):
    """A DRF client authenticated with a staff user's token, as scripts use the API: a
    member of the Approver group (a marketer who may also pause and cancel)."""
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("marketer", password="x-secret-123", is_staff=True)
    user.groups.add(Group.objects.get(name="Approver"))
    token = Token.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def db_state():
    """A callable that snapshots the rows a refused request must leave alone: compare the
    result before and after the request."""
    from campaigns.models import ConsentEvent, Delivery, Tag

    def snapshot() -> dict[str, list]:
        return {
            "subscribers": list(
                Subscriber.objects.order_by("id").values_list(
                    "id", "external_id", "name", "timezone", "language", "attributes"
                )
            ),
            "subscriptions": list(
                Subscription.objects.order_by("id").values_list(
                    "id", "subscriber_id", "platform", "address", "status", "saved_our_number"
                )
            ),
            "consent_events": list(ConsentEvent.objects.order_by("id").values_list("id", "kind", "status")),
            "tags": list(Tag.objects.order_by("id").values_list("id", "name")),
            "subscriber_tags": list(
                Subscriber.tags.through.objects.order_by("id").values_list("subscriber_id", "tag_id")
            ),
            "segments": list(Segment.objects.order_by("id").values_list("id", "name", "kind", "rules", "max_size")),
            "drafts": list(Draft.objects.order_by("id").values_list("id", "title", "body", "buttons")),
            "campaigns": list(
                Campaign.objects.order_by("id").values_list("id", "name", "status", "send_at", "content_body")
            ),
            "deliveries": list(Delivery.objects.order_by("id").values_list("id", "status", "reason")),
        }

    return snapshot


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Hashing test users' passwords with PBKDF2 costs seconds per file; MD5 is fine here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_token_throttle():
    """Every test client calls from 127.0.0.1: one test's token requests must not count
    against the next test's limit (the throttle's own tests fill it on purpose)."""
    from django.core.cache import cache

    cache.delete("throttle_auth_127.0.0.1")
    yield
