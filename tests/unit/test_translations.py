"""The Russian catalogue is complete: every string of ours that gettext can find is translated,
placeholders survive translation, and the compiled catalogue Django loads is the one in the .po."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_0-9]*\}")


@pytest.fixture(scope="module")
def catalogue() -> polib.POFile:
    return polib.pofile(str(PO))


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue):
    left = [e.msgid for e in catalogue.untranslated_entries()] + [e.msgid for e in catalogue.fuzzy_entries()]
    assert left == []


def test_translations_keep_every_placeholder_of_the_english(catalogue):
    broken = []
    for entry in catalogue.translated_entries():
        forms = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        wanted = sorted(set(PLACEHOLDER.findall(entry.msgid)) | set(PLACEHOLDER.findall(entry.msgid_plural or "")))
        for form in forms:
            if sorted(set(PLACEHOLDER.findall(form))) != wanted:
                broken.append((entry.msgid, form))
    assert broken == []


def test_the_compiled_catalogue_is_the_po_file(catalogue, tmp_path):
    fresh = tmp_path / "fresh.mo"
    catalogue.save_as_mofile(str(fresh))
    with MO.open("rb") as shipped, fresh.open("rb") as made:
        shipped_messages, made_messages = (
            {k: v for k, v in gettext.GNUTranslations(f)._catalog.items() if k != ""} for f in (shipped, made))
    assert shipped_messages == made_messages, "locale/ru/LC_MESSAGES/django.mo is out of date: run `make messages`"


def test_every_translatable_string_in_the_code_is_in_the_catalogue(catalogue, tmp_path):
    """makemessages over a copy of the source finds nothing the shipped catalogue lacks."""
    for part in ("campaigns", "channels", "config", "manage.py"):
        source = ROOT / part
        copy = shutil.copytree if source.is_dir() else shutil.copy
        copy(source, tmp_path / part, **({"ignore": shutil.ignore_patterns("__pycache__")} if source.is_dir() else {}))
    (tmp_path / "locale").mkdir()
    done = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-location", "-v", "0"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "TACT_ENV_FILE": str(tmp_path / ".env")},
    )
    assert done.returncode == 0, done.stderr
    found = polib.pofile(str(tmp_path / "locale" / "ru" / "LC_MESSAGES" / "django.po"))
    shipped = {(e.msgctxt, e.msgid) for e in catalogue.translated_entries()}
    missing = sorted(e.msgid for e in found if (e.msgctxt, e.msgid) not in shipped)
    assert missing == [], "not in the Russian catalogue (run `make messages` and translate): " + repr(missing[:20])


def test_django_loads_our_catalogue_for_russian(catalogue):
    from campaigns.models import Campaign

    ours = catalogue.find("campaign").msgstr
    with translation.override("ru"):
        assert str(Campaign._meta.verbose_name) == ours != "campaign"
    with translation.override("en"):
        assert str(Campaign._meta.verbose_name) == "campaign"
