"""Unit tests for the privacy rules in campaigns/rules.py: masked addresses, the keyed hash
of erased addresses, and spreadsheet-safe CSV cells. Pure functions, no database."""

import hashlib
import hmac

import pytest

from campaigns.rules import (
    address_forms,
    address_hash,
    mask_address,
    mask_within,
    spreadsheet_safe,
)


@pytest.mark.parametrize(("platform", "address", "shown"), [
    # country code, the first 3 national digits, the rest hidden but the last two, 3-2-2
    ("whatsapp", "+79991234567", "+7 999 ***-**-67"),
    ("viber", "+79991234567", "+7 999 ***-**-67"),  # Viber by phone
    ("whatsapp", "+14155550123", "+1 415 ***-**-23"),
    ("whatsapp", "+442071838750", "+44 207 ***-**-50"),
    ("whatsapp", "+493012345", "+49 301 **-45"),  # 7 national digits: 4 after the first 3
    # other ids keep their first 2 and last 2 characters
    ("telegram", "123456789", "12*****89"),
    ("viber", "Rk1x9a+bQ2lYtT0ZcVnWmw==", "Rk" + "*" * 20 + "=="),
    ("telegram", "1234", "****"),
    ("telegram", "12345", "12*45"),
    # an erased address says nothing already
    ("telegram", "erased:17", "erased:17"),
])
def test_mask_address(platform, address, shown):
    assert mask_address(platform, address) == shown


def test_a_whatsapp_address_that_is_no_phone_is_masked_like_an_id():
    assert mask_address("whatsapp", "+12") == "***"


def test_mask_within_masks_every_mention_of_the_address_in_evidence():
    evidence = {"user_id": 123456789, "text": "chat 123456789 wrote", "from": {"id": "123456789"}, "n": 5,
                "other": [True, None, "987654321"]}

    assert mask_within(evidence, "telegram", "123456789") == {
        "user_id": "12*****89", "text": "chat 12*****89 wrote", "from": {"id": "12*****89"}, "n": 5,
        "other": [True, None, "987654321"]}


def test_mask_within_finds_a_phone_also_as_whatsapps_wa_id():
    assert mask_within({"wa_id": "79991234567", "status": {"recipient_id": "+79991234567"}},
                       "whatsapp", "+79991234567") == {
        "wa_id": "+7 999 ***-**-67", "status": {"recipient_id": "+7 999 ***-**-67"}}


def test_address_forms():
    assert address_forms("+79991234567") == ("+79991234567", "79991234567")
    assert address_forms("123456789") == ("123456789",)


def test_address_hash_is_hmac_sha256_of_platform_and_address():
    expected = hmac.new(b"key", b"telegram:123456789", hashlib.sha256).hexdigest()

    assert address_hash("key", "telegram", "123456789") == expected
    assert address_hash("other key", "telegram", "123456789") != expected
    assert address_hash("key", "viber", "123456789") != expected


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+1", "'=1+1"),
    ("+79991234567", "'+79991234567"),
    ("-x", "'-x"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tcmd", "'\tcmd"),
    ("\rcmd", "'\rcmd"),
    ("plain text", "plain text"),
    (" =1+1", " =1+1"),  # a leading space: a spreadsheet shows it as text
    ("", ""),
    (42, 42),
    (False, False),
])
def test_spreadsheet_safe(cell, safe):
    assert spreadsheet_safe(cell) == safe
