"""Logs without personal data: addresses masked at the log call, and a filter that masks
any long run of digits (a phone number, a chat id) that slipped through anyway."""

from __future__ import annotations

import logging
import re

# 7+ digits standing alone (not inside a word, a hex id, or after a decimal point as in
# "succeeded in 0.0123456789s").
_DIGITS = re.compile(r"(?<![0-9A-Za-z.])\+?\d{7,}(?![0-9A-Za-z])")
# A quoted value in an exception's message ('+7999...', 'Hello Anna'); short lowercase
# identifiers ('entry', 'chat') are field names and stay.
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
_FIELD_NAME = re.compile(r"""['"][a-z_][a-z0-9_]{0,31}['"]""")


def masked(address: object) -> str:
    """An address as a log may show it: its last two characters, the rest starred."""
    text = str(address)
    sign = "+" if text.startswith("+") else ""
    rest = text[len(sign):]
    return sign + "*" * max(len(rest) - 2, 0) + rest[-2:]


def masked_digits(text: str) -> str:
    """`text` with every standalone run of 7+ digits (optionally after a +) masked."""
    return _DIGITS.sub(lambda m: masked(m.group()), text)


def reason(exc: BaseException) -> str:
    """An exception's message for a log line: quoted values (addresses, texts, payloads)
    left out, field names kept, long digit runs masked."""
    text = _QUOTED.sub(lambda m: m.group() if _FIELD_NAME.fullmatch(m.group()) else "'…'", str(exc))
    return f"{type(exc).__name__}: {masked_digits(text)[:300]}"


class RedactFilter(logging.Filter):
    """Masks long digit runs in a record's final message and traceback (LOGGING's handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = masked_digits(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = masked_digits(record.exc_text)
        if record.stack_info:
            record.stack_info = masked_digits(record.stack_info)
        return True
