"""The OpenAPI schema and the browsable docs: staff only, and served entirely from our own
static files (the docs work offline)."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("anna", password="anna-secret-123", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def collected(settings, tmp_path):
    """Static files collected as the image collects them (whitenoise's compressed manifest),
    served by whitenoise as in production."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)
    return settings.STATIC_ROOT


def test_the_schema_needs_a_login():
    # when
    yaml = APIClient().get("/api/schema/")
    json = APIClient().get("/api/schema/", {"format": "json"})

    # then
    assert yaml.status_code == 401
    assert b"Authentication credentials were not provided." in yaml.content
    assert json.status_code == 401
    assert json.json() == {"detail": "Authentication credentials were not provided."}


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_html_docs_send_an_anonymous_visitor_to_the_login_and_back(path):
    # when
    response = Client().get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={path}"


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_a_logged_in_user_who_is_not_staff_is_refused(path, django_user_model):
    # given
    client = Client()
    client.force_login(django_user_model.objects.create_user("someone", password="x-secret-123"))

    # when
    response = client.get(path)

    # then
    assert response.status_code == 403


def test_staff_read_the_schema_with_a_token(django_user_model):
    # given
    from rest_framework.authtoken.models import Token

    user = django_user_model.objects.create_user("anna", password="anna-secret-123", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    # when
    response = client.get("/api/schema/", {"format": "json"})

    # then
    assert response.status_code == 200
    assert "/api/auth/token/" in response.json()["paths"]


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_load_only_our_own_files_and_each_is_served(path, staff, collected):
    # when
    page = staff.get(path)

    # then: nothing from another host
    html = page.content.decode()
    assert page.status_code == 200
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"'<>]+", html)
    assets = ASSET.findall(html)
    assert assets, html
    for url in assets:
        assert url.startswith("/"), url
        response = staff.get(url)
        assert response.status_code == 200, url
        if url.startswith("/static/"):
            # whitenoise serves the collected file (hashed name, cached for ever)
            assert "immutable" in response["Cache-Control"], url
    static = [url for url in assets if url.startswith("/static/drf_spectacular_sidecar/")]
    assert static, assets


def test_the_swagger_ui_reads_our_schema_and_sends_it_to_no_validator(staff):
    # when
    page = staff.get("/api/docs/").content.decode()

    # then
    assert 'url: "/api/schema/",' in page
    assert '"validatorUrl": null' in page
