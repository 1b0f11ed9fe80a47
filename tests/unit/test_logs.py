"""Logs without personal data: masked addresses, exception reasons without their values, and
the filter that masks long digit runs left in a record."""

from __future__ import annotations

import logging
import sys

import pytest

from campaigns.logs import RedactFilter, masked, masked_digits, reason


@pytest.mark.parametrize(("address", "shown"), [
    ("+79161234567", "+*********67"),
    ("700555001", "*******01"),
    ("01234567890A=", "***********A="),
    ("7", "7"),
    ("", ""),
])
def test_an_address_shows_only_its_last_two_characters(address, shown):
    assert masked(address) == shown


@pytest.mark.parametrize(("text", "clean"), [
    ("to +79161234567 failed", "to +*********67 failed"),
    ('{"chat_id":700555001}', '{"chat_id":*******01}'),
    ("group -100700555777", "group -**********77"),
    ("row 123456 of 7", "row 123456 of 7"),  # six digits: an id, not an address
    ("succeeded in 1.0325873740017414s", "succeeded in 1.0325873740017414s"),
    ("task 82555b4e-9eb9-440d-819f-e959e1234567", "task 82555b4e-9eb9-440d-819f-e959e1234567"),
])
def test_standalone_runs_of_seven_or_more_digits_are_masked(text, clean):
    assert masked_digits(text) == clean


def test_an_exception_reason_keeps_field_names_and_drops_values():
    exc = ValueError("'chat' missing or not dict: {'id': 700555001, 'first_name': 'Zinaida'}")

    assert reason(exc) == "ValueError: 'chat' missing or not dict: {'id': *******01, 'first_name': '…'}"
    assert reason(ValueError("'+7916123' is not a valid phone number")) == (
        "ValueError: '…' is not a valid phone number")


def test_the_filter_masks_the_final_message_and_the_traceback():
    # given: a record whose arguments and exception carry a phone number
    try:
        raise RuntimeError("duplicate key (whatsapp, +79161234567)")
    except RuntimeError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sending to %s failed", ("+79161234567",), exc_info)

    # when
    kept = RedactFilter().filter(record)
    line = logging.Formatter("%(message)s").format(record)

    # then
    assert kept is True
    assert record.getMessage() == "sending to +*********67 failed"
    assert "79161234567" not in line
    assert line.endswith("RuntimeError: duplicate key (whatsapp, +*********67)")


def test_the_filter_leaves_a_clean_record_as_it_was():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "campaign %s planned: %s deliveries", (9, 1200), None)

    RedactFilter().filter(record)

    assert (record.msg, record.args) == ("campaign %s planned: %s deliveries", (9, 1200))
