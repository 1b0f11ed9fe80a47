"""API tokens: obtained with a password (throttled per client address), expiring after
TACT_TOKEN_TTL_HOURS, revoked by their owner or by an operator."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.api.auth import client_ip

pytestmark = pytest.mark.django_db
THROTTLE_KEY = "throttle_auth_127.0.0.1"  # ScopedRateThrottle's key for scope "auth" and our address


@pytest.fixture
def no_throttle_history():
    """This address starts with no token requests counted, and leaves none behind."""
    cache.delete(THROTTLE_KEY)
    yield
    cache.delete(THROTTLE_KEY)


@pytest.fixture
def anna(django_user_model, no_throttle_history):
    return django_user_model.objects.create_user("anna", password="anna-secret-123", is_staff=True)


def obtain(username: str = "anna", password: str = "anna-secret-123"):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json")


def with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def age(token_key: str, hours: float) -> None:
    Token.objects.filter(key=token_key).update(created=Token.objects.get(key=token_key).created - timedelta(hours=hours))


def test_the_token_endpoint_answers_429_with_retry_after_past_the_rate_counted_in_redis(anna):
    # given: the rate of the README's default, "10/min"
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"] == "10/min"

    # when: ten attempts (wrong passwords and right ones count alike), then an eleventh
    answers = [obtain(password="wrong" if i % 2 else "anna-secret-123").status_code for i in range(10)]
    refused = obtain()

    # then
    assert answers == [200, 400] * 5
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert refused.json()["detail"].startswith("Request was throttled.")
    # counted in Redis, which every web process shares
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"*{THROTTLE_KEY}")
    assert len(keys) == 1


def test_the_client_address_is_the_one_the_configured_proxy_appended(settings):
    # given: one proxy in front (TACT_PROXY_COUNT=1) that appends the client's address
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    request = APIClient().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9").wsgi_request

    # then: throttling and the login lockout count the address the proxy saw, not the one
    # the client wrote
    assert client_ip(request) == "203.0.113.9"


def test_without_proxies_a_forged_forwarded_for_is_ignored():
    # given: the default, TACT_PROXY_COUNT=0
    request = APIClient().get("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="198.51.100.7").wsgi_request

    # then
    assert client_ip(request) == "198.51.100.7"


def test_a_token_answers_with_its_expiry_and_the_same_token_is_given_until_then(anna):
    # when
    first, second = obtain(), obtain()

    # then
    token = Token.objects.get(user=anna)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["token"] == token.key
    assert first.json()["expires_at"] == (token.created + timedelta(hours=720)).isoformat().replace("+00:00", "Z")


def test_an_expired_token_is_refused_with_401_token_expired(anna):
    # given: a token one hour past TACT_TOKEN_TTL_HOURS (720)
    key = obtain().json()["token"]
    age(key, 721)

    # when
    response = with_token(key).get("/api/segments/")

    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "token expired"}
    assert response["WWW-Authenticate"] == "Token"


def test_a_token_just_inside_its_lifetime_still_works(anna):
    # given
    anna.user_permissions.add(*Group.objects.get(name="Analyst").permissions.all())
    key = obtain().json()["token"]
    age(key, 719)

    # when
    response = with_token(key).get("/api/segments/")

    # then
    assert response.status_code == 200


def test_after_expiry_the_password_gives_a_new_token_and_the_old_one_stays_refused(anna):
    # given
    anna.user_permissions.add(*Group.objects.get(name="Analyst").permissions.all())
    old = obtain().json()["token"]
    age(old, 721)

    # when
    new = obtain().json()["token"]

    # then
    assert new != old
    assert list(Token.objects.values_list("key", flat=True)) == [new]
    assert with_token(new).get("/api/segments/").status_code == 200
    assert with_token(old).get("/api/segments/").json() == {"detail": "Invalid token."}


def test_with_ttl_zero_tokens_never_expire(anna, settings):
    # given
    settings.TACT_TOKEN_TTL_HOURS = 0
    anna.user_permissions.add(*Group.objects.get(name="Analyst").permissions.all())
    answer = obtain().json()
    age(answer["token"], 24 * 3650)

    # then
    assert answer["expires_at"] is None
    assert with_token(answer["token"]).get("/api/segments/").status_code == 200


def test_the_owner_revokes_their_token_with_delete(anna):
    # given
    key = obtain().json()["token"]

    # when
    response = with_token(key).delete("/api/auth/token/")

    # then
    assert response.status_code == 204
    assert Token.objects.count() == 0
    refused = with_token(key).get("/api/segments/")
    assert refused.status_code == 401
    assert refused.json() == {"detail": "Invalid token."}


def test_delete_without_a_login_revokes_nothing(anna):
    # given
    key = obtain().json()["token"]

    # when
    response = APIClient().delete("/api/auth/token/")

    # then
    assert response.status_code == 401
    assert list(Token.objects.values_list("key", flat=True)) == [key]


def test_an_operator_revokes_anyones_token_in_the_admin(anna, django_user_model, client):
    # given: anna's token, and an operator in the admin
    key = obtain().json()["token"]
    operator = django_user_model.objects.create_user("olga", password="olga-secret-123", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    client.force_login(operator)

    # when
    listing = client.get("/admin/authtoken/tokenproxy/")
    deleted = client.post(f"/admin/authtoken/tokenproxy/{anna.pk}/delete/", {"post": "yes"})

    # then
    assert listing.status_code == 200
    assert deleted.status_code == 302
    assert Token.objects.count() == 0
    assert with_token(key).get("/api/segments/").status_code == 401
