"""Drafts' media go through Django's storage API: DJANGO_MEDIA_STORAGE picks the backend (an
S3-compatible one with the `s3` extra) and DJANGO_MEDIA_STORAGE_OPTIONS its options, read
by a fresh process as production reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
        "print(type(s).__module__ + '.' + type(s).__name__, s.location, s.base_url)")


def _storage(env: dict[str, str]) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_MEDIA")}
    answer = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    assert answer.returncode == 0, answer.stderr
    return answer.stdout.split()


def test_the_media_storage_and_its_options_come_from_the_environment(tmp_path):
    default = _storage({"DJANGO_MEDIA_ROOT": str(tmp_path / "root")})
    chosen = _storage({"DJANGO_MEDIA_STORAGE": "django.core.files.storage.FileSystemStorage",
                       "DJANGO_MEDIA_STORAGE_OPTIONS": json.dumps({"location": str(tmp_path / "elsewhere"),
                                                                   "base_url": "/files/"})})

    assert default == ["django.core.files.storage.filesystem.FileSystemStorage", str(tmp_path / "root"), "/media/"]
    assert chosen == ["django.core.files.storage.filesystem.FileSystemStorage", str(tmp_path / "elsewhere"), "/files/"]
