"""The phone apps' list files: vCard 3.0 a contacts importer accepts (parsed back with vobject,
as a phone would), and the CSV with the text to paste (parsed back with csv)."""

from __future__ import annotations

import csv
import io

import pytest
import vobject

from campaigns.phone_lists import Contact, csv_file, escape_text, fold, text_to_paste, vcard, vcards

PEOPLE = [
    Contact("Анна Петрова", "+79990001122"),
    Contact("Smith, John; Jr.", "+447700900123"),
    Contact("Back\\slash", "+380501234567"),
    Contact("Ёжик-в-тумане 🦔", "+79161234567"),
]


def _parsed(data: bytes) -> list:
    return list(vobject.readComponents(data.decode("utf-8")))


def test_every_person_is_one_vcard_3_0_read_back_with_name_and_mobile_number():
    # when
    cards = _parsed(vcards(PEOPLE))

    # then
    assert [c.version.value for c in cards] == ["3.0"] * 4
    assert [c.fn.value for c in cards] == [p.name for p in PEOPLE]
    assert [c.n.value.given for c in cards] == [p.name for p in PEOPLE]
    assert [c.n.value.family for c in cards] == [""] * 4
    assert [(c.tel.value, c.tel.params["TYPE"]) for c in cards] == [(p.phone, ["CELL"]) for p in PEOPLE]


def test_commas_semicolons_backslashes_and_line_breaks_are_escaped():
    assert escape_text("Smith, John; Jr.\\x\nnext\r\nlast\x07") == "Smith\\, John\\; Jr.\\\\x\\nnext\\nlast"
    card = vcard(Contact("Smith, John; Jr.", "+447700900123"))
    assert "FN:Smith\\, John\\; Jr.\r\n" in card
    assert "N:;Smith\\, John\\; Jr.;;;\r\n" in card  # the name stays one component, not three


def test_lines_end_in_crlf_and_fold_at_75_octets_without_splitting_a_character():
    # given: a name far longer than a line, in two-byte and four-byte characters
    long_name = "Александра Константиновна Преображенская-Всесвятская " * 3 + "🦔" * 20
    data = vcards([Contact(long_name, "+79990001122")])

    # then: CRLF only, every physical line at most 75 octets, valid UTF-8 on its own
    assert b"\n" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # it was folded
    for line in lines:
        line.decode("utf-8")  # raises if a character was cut in two
    # and the name comes back whole
    assert _parsed(data)[0].fn.value == " ".join(long_name.split())


def test_folding_unfolds_to_the_same_line():
    line = "FN:" + "Ю" * 100
    folded = fold(line)
    assert folded.replace("\r\n ", "") == line
    assert fold("FN:short") == "FN:short"


def test_a_person_without_a_name_is_shown_by_number_and_whitespace_is_one_space():
    cards = _parsed(vcards([Contact("", "+79990001122"), Contact("  Анна \t Петрова \n", "+79990001133")]))
    assert [c.fn.value for c in cards] == ["+79990001122", "Анна Петрова"]


def test_the_csv_has_name_phone_and_the_text_to_paste_on_every_row():
    # given
    text = text_to_paste("−30% on everything today\nДетали внутри", [
        {"text": "Shop", "url": "https://example.com/sale?a=1"}, {"text": "Copy code", "copy_text": "BF2026"}])

    # when
    data = csv_file(PEOPLE, text)

    # then
    assert data.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["name", "phone", "message"]
    assert rows[1:] == [[p.name, p.phone, text] for p in PEOPLE]
    assert text == ("−30% on everything today\nДетали внутри\nShop: https://example.com/sale?a=1"
                    "\nCopy code: BF2026")


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)"])
def test_a_name_a_spreadsheet_would_run_as_a_formula_is_defused(name):
    data = csv_file([Contact(name, "+79990001122")], "Hi")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'" + name, "+79990001122", "Hi"]
