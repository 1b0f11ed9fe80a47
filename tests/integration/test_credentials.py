"""Sender accounts' credentials at rest (campaigns/credentials.py): encrypted in the database,
read back with the key they were saved with, unreadable with another, rotated to a new key;
never in the logs."""

from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from campaigns import credentials
from campaigns.credentials import CredentialsUnreadable
from campaigns.models import SenderAccount
from campaigns.services.sender_accounts import account_check, account_save
from tests.fakes.telegram import FakeTelegram

pytestmark = pytest.mark.django_db
TOKEN = "111111:AAH-the-vip-bots-token"
SECRET = "the-webhook-secret"


def vip(**extra: str) -> SenderAccount:
    return account_save(account=SenderAccount(), values={"platform": "telegram", "name": "VIP bot", "slug": "vip"},
                        credentials={"token": TOKEN, "webhook_secret": SECRET, **extra})


def test_credentials_read_back_as_saved_and_the_column_holds_no_secret_in_clear(settings):
    # given
    settings.TACT_CREDENTIALS_KEY = Fernet.generate_key().decode()

    # when
    saved = vip()
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(a)::text FROM campaigns_senderaccount a WHERE id = %s", [saved.pk])
        row = cursor.fetchone()[0]

    # then
    assert SenderAccount.objects.get(pk=saved.pk).credentials == {"token": TOKEN, "webhook_secret": SECRET}
    assert TOKEN not in row and SECRET not in row and "AAH" not in row
    assert saved.credentials_encrypted in row  # what is stored is the Fernet token
    assert credentials.encrypt({"token": TOKEN}) != credentials.encrypt({"token": TOKEN})  # a fresh IV each time


def test_another_key_cannot_read_them(settings):
    # given
    settings.TACT_CREDENTIALS_KEY = Fernet.generate_key().decode()
    saved = vip()

    # when: the installation runs with another key
    settings.TACT_CREDENTIALS_KEY = Fernet.generate_key().decode()

    # then
    with pytest.raises(CredentialsUnreadable):
        SenderAccount.objects.get(pk=saved.pk).credentials
    with pytest.raises(CredentialsUnreadable):
        credentials.decrypt("not a fernet token")


def test_without_a_key_of_its_own_the_key_comes_from_the_secret_key(settings):
    # given
    settings.TACT_CREDENTIALS_KEY = ""
    saved = vip()
    assert SenderAccount.objects.get(pk=saved.pk).credentials["token"] == TOKEN

    # when: another SECRET_KEY
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40

    # then
    with pytest.raises(CredentialsUnreadable):
        SenderAccount.objects.get(pk=saved.pk).credentials


def test_a_key_is_rotated_by_putting_the_new_one_first(settings):
    # given
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TACT_CREDENTIALS_KEY = old
    saved = vip()

    # when: the new key first, the old one still there to read; then rotated; then the old one dropped
    settings.TACT_CREDENTIALS_KEY = f"{new},{old}"
    readable_meanwhile = SenderAccount.objects.get(pk=saved.pk).credentials
    rotated = credentials.rotate(saved.credentials_encrypted)
    settings.TACT_CREDENTIALS_KEY = new

    # then
    assert readable_meanwhile["token"] == TOKEN
    assert credentials.decrypt(rotated)["token"] == TOKEN
    with pytest.raises(CredentialsUnreadable):
        credentials.decrypt(saved.credentials_encrypted)


def test_saving_and_checking_an_account_logs_no_credential(caplog):
    # given
    caplog.set_level(logging.DEBUG)

    # when
    with FakeTelegram(token="222222:another-token") as telegram:  # refuses this one: an error is logged if any
        account = vip(api_url=telegram.root_url)
        found = account_check(account=account)

    # then
    assert found.ok is False
    assert TOKEN not in caplog.text and SECRET not in caplog.text
    assert TOKEN not in found.detail


def test_the_rotation_command_re_encrypts_every_account_and_names_the_ones_no_key_opens(settings):
    from django.core.management import CommandError, call_command

    # given: one account under the old key, one under a key nobody has any more
    old, new, lost = (Fernet.generate_key().decode() for _ in range(3))
    settings.TACT_CREDENTIALS_KEY = lost
    orphan = account_save(account=SenderAccount(), values={"platform": "telegram", "name": "Old bot", "slug": "old"},
                          credentials={"token": "222222:lost"})
    settings.TACT_CREDENTIALS_KEY = old
    saved = vip()

    # when: the new key first, the old one still there; the command; then the old key dropped
    settings.TACT_CREDENTIALS_KEY = f"{new},{old}"
    with pytest.raises(CommandError, match="no configured key opens the credentials of: old"):
        call_command("tact_rotate_credentials")
    settings.TACT_CREDENTIALS_KEY = new

    # then: the readable one was rotated (its commit kept although the command reported the other)
    assert SenderAccount.objects.get(pk=saved.pk).credentials["token"] == TOKEN
    assert SenderAccount.objects.get(pk=orphan.pk).credentials_encrypted == orphan.credentials_encrypted
