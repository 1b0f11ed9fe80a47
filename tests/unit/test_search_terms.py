"""The search box's query, read the same way on SQLite and PostgreSQL (rules.search_terms):
casefolded name words, a phone in any format as E.164, its digits, a chat id."""

from __future__ import annotations

import pytest

from campaigns.rules import SearchTerms, normalize_phone_region, search_terms


@pytest.mark.parametrize("query", ["+7 999 123-45-67", "89991234567", "8 (999) 123 45 67", "9991234567",
                                   "+79991234567", "8-999-123-45-67", "007 999 123 45 67"])
def test_a_russian_number_in_any_format_reads_as_its_e164_form_with_the_region(query):
    assert search_terms(query, "RU").phones == ("+79991234567",)


def test_without_a_region_only_an_international_number_reads_as_a_phone():
    assert search_terms("+7 999 123-45-67").phones == ("+79991234567",)
    assert search_terms("8 999 123-45-67").phones == ()
    assert search_terms("8 999 123-45-67").digits == "89991234567"


def test_a_phone_like_query_keeps_its_digits_to_match_inside_addresses():
    assert search_terms("(999) 123-45-67", "RU") == SearchTerms(
        words=("(999)", "123-45-67"), text="(999) 123-45-67", phones=("+79991234567",), digits="9991234567")
    assert search_terms("-100123456") == SearchTerms(words=("-100123456",), text="-100123456", digits="100123456")


def test_a_name_is_casefolded_word_by_word_whatever_the_script_or_spacing():
    assert search_terms("  АННА   Петрова ") == SearchTerms(words=("анна", "петрова"), text="АННА Петрова")
    assert search_terms("Straße").words == ("strasse",)
    assert search_terms("Anna").phones == ()


@pytest.mark.parametrize("query", ["", "   ", "1234", "+7 99", "anna 89991234567", "crm-42"])
def test_short_numbers_and_words_never_read_as_phones(query):
    terms = search_terms(query, "RU")
    assert (terms.phones, terms.digits) == ((), "")


def test_a_phone_region_is_a_supported_code_in_capitals():
    assert normalize_phone_region(" ru ") == "RU"
    assert normalize_phone_region("") == ""
    with pytest.raises(ValueError, match=r"^'XX' is not a region code"):
        normalize_phone_region("XX")
    with pytest.raises(ValueError, match=r"^'RUS' is not a region code"):
        normalize_phone_region("RUS")
