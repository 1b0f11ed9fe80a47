"""Admin login lockout (django-axes): TACT_LOGIN_FAILURE_LIMIT wrong passwords lock that
username from that address, even for the right password, until an operator unlocks it."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture
def people(django_user_model):
    for name in ("anna", "boris"):
        django_user_model.objects.create_user(name, password=f"{name}-secret-123", is_staff=True)
    operator = django_user_model.objects.create_user("olga", password="olga-secret-123", is_staff=True)
    operator.groups.add(Group.objects.get(name="Operator"))
    return operator


def log_in(client: Client, username: str, password: str, **headers: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers)


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def lock_out(client: Client, username: str) -> list[int]:
    return [log_in(client, username, "wrong").status_code for _ in range(settings.AXES_FAILURE_LIMIT)]


def test_wrong_passwords_up_to_the_limit_lock_the_account_even_with_the_right_password(people):
    # given: the README's default limit
    assert settings.AXES_FAILURE_LIMIT == 5
    client = Client()

    # when
    failures = lock_out(client, "anna")
    right = log_in(client, "anna", "anna-secret-123")

    # then: four "wrong password" pages, then the lockout page, also for the right password
    assert failures == [200, 200, 200, 200, 429]
    assert right.status_code == 429
    page = right.content.decode()
    assert "Login locked" in page
    assert "Too many failed logins for <strong>anna</strong>" in page
    assert "Try again in 1:00:00" in page
    assert not logged_in(client)
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == [("anna", 6)]


def test_a_locked_account_does_not_lock_another_user_from_the_same_address(people):
    # given
    client = Client()
    lock_out(client, "anna")

    # when
    boris = log_in(client, "boris", "boris-secret-123")

    # then
    assert boris.status_code == 302
    assert boris["Location"] == "/admin/"
    assert logged_in(client)


def test_the_same_username_from_another_address_is_not_locked(people):
    # given: lockout is per username and address
    lock_out(Client(REMOTE_ADDR="198.51.100.7"), "anna")
    client = Client(REMOTE_ADDR="203.0.113.9")

    # when
    response = log_in(client, "anna", "anna-secret-123")

    # then
    assert response.status_code == 302
    assert logged_in(client)


def test_fewer_failures_than_the_limit_then_the_right_password_logs_in_and_resets_the_count(people):
    # given
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "anna", "wrong")

    # when
    response = log_in(client, "anna", "anna-secret-123")

    # then
    assert response.status_code == 302
    assert AccessAttempt.objects.count() == 0


def test_an_operator_unlocks_the_account_in_the_admin(people):
    # given: anna is locked out
    anna = Client()
    lock_out(anna, "anna")
    attempt = AccessAttempt.objects.get(username="anna")
    operator = Client()
    operator.force_login(people)

    # when: the operator finds the attempt and deletes it
    listing = operator.get("/admin/axes/accessattempt/")
    deleted = operator.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    # then: anna logs in with her password
    assert listing.status_code == 200
    assert "anna" in listing.content.decode()
    assert deleted.status_code == 302
    assert AccessAttempt.objects.count() == 0
    assert log_in(anna, "anna", "anna-secret-123").status_code == 302
    assert logged_in(anna)


def test_a_marketer_cannot_unlock_accounts(people, django_user_model):
    # given
    marketer = django_user_model.objects.create_user("mark", password="mark-secret-123", is_staff=True)
    marketer.groups.add(Group.objects.get(name="Marketer"))
    lock_out(Client(), "anna")
    attempt = AccessAttempt.objects.get(username="anna")
    client = Client()
    client.force_login(marketer)

    # when
    response = client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    # then
    assert response.status_code == 403
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_a_locked_account_gets_no_api_token_either(people):
    # given: anna locked out in the admin
    cache.delete("throttle_auth_127.0.0.1")
    lock_out(Client(), "anna")

    # when
    response = APIClient().post("/api/auth/token/", {"username": "anna", "password": "anna-secret-123"},
                                format="json")

    # then
    cache.delete("throttle_auth_127.0.0.1")
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.exists()
