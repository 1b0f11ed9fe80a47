"""Helpers shared by the browser tests."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

_axe = Axe()


def accessibility(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    violations = _axe.run(page).response["violations"]
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def violations_summary(violations: list[dict]) -> dict[str, list[str]]:
    """Rule id -> the elements breaking it (axe's CSS targets), to compare and to read."""
    return {v["id"]: sorted(", ".join(map(str, node["target"])) for node in v["nodes"]) for v in violations}


def log_in(page: Page, username: str, password: str) -> None:
    """Fill and send the admin's login form as a person does."""
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label(re.compile("username", re.I)).fill(username)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name=re.compile("log in", re.I)).click()
