"""Files for the phone apps' lists: contacts as vCard 3.0 and a CSV with the text to paste.

Pure functions over plain values (no ORM, no I/O). A list is imported into the phone's
contacts (WhatsApp broadcast lists and Viber groups are built from contacts), so the vCard
follows RFC 2426 (3.0) with RFC 6350's care for UTF-8: CRLF line ends, text values escaped,
lines folded at 75 octets without splitting a character.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from channels.limits import button_line

from .rules import spreadsheet_safe

# The platforms whose phone apps have lists to fill (broadcast lists, groups); Telegram has none.
MANUAL_PLATFORMS = ("whatsapp", "viber")
CRLF = "\r\n"
LINE_OCTETS = 75  # RFC 2425 5.8.1 / RFC 6350 3.2: lines SHOULD NOT be longer
CSV_HEADER = ("name", "phone", "message")


@dataclass(frozen=True)
class Contact:
    """One person of a list: the name shown in the phone's contacts and an E.164 number."""

    name: str
    phone: str


def escape_text(value: str) -> str:
    """A vCard text value (RFC 2426 5.8.4, RFC 6350 3.4): backslash, comma and semicolon
    escaped, a line break as \\n; other control characters dropped."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char in ",;":
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            continue
        else:
            out.append(char)
    return "".join(out)


def fold(line: str) -> str:
    """One content line folded into physical lines of at most 75 octets (UTF-8), each
    continuation starting with a space; a character is never split across lines."""
    lines: list[str] = []
    current: list[str] = []
    size = 0
    for char in line:
        octets = len(char.encode("utf-8"))
        # the continuation's leading space counts against its 75 octets
        limit = LINE_OCTETS if not lines else LINE_OCTETS - 1
        if size + octets > limit:
            lines.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += octets
    lines.append("".join(current))
    return (CRLF + " ").join(lines)


def vcard(contact: Contact) -> str:
    """One VCARD 3.0: FN, N (the whole name as the given name: names are not split into
    family and given parts, which differs by country) and the mobile number."""
    name = " ".join(contact.name.split()) or contact.phone
    text = escape_text(name)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{text}", f"N:;{text};;;", f"TEL;TYPE=CELL:{contact.phone}",
             "END:VCARD"]
    return "".join(fold(line) + CRLF for line in lines)


def vcards(contacts: Iterable[Contact]) -> bytes:
    """A .vcf file: one VCARD per person, UTF-8."""
    return "".join(vcard(c) for c in contacts).encode("utf-8")


def text_to_paste(body: str, buttons: Sequence[dict]) -> str:
    """The message as typed into the app: the text, then each button as a "Text: URL" line
    (the apps have no buttons; a copy button becomes "Text: CODE")."""
    return body + "".join(button_line(b) for b in buttons if b.get("url") or "copy_text" in b)


def csv_file(contacts: Iterable[Contact], message: str) -> bytes:
    """name,phone,message (the same text on every row), UTF-8 with a BOM so that Excel reads
    it right; a name or text a spreadsheet would run as a formula starts with '."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator=CRLF)
    writer.writerow(CSV_HEADER)
    safe_message = spreadsheet_safe(message)
    for c in contacts:
        writer.writerow([spreadsheet_safe(" ".join(c.name.split())), c.phone, safe_message])
    return out.getvalue().encode("utf-8")
