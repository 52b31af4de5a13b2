"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot work here, so the tests use /usr/bin/chromium (installed
by scripts/setup-system.sh). Under CI=true a missing browser fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("MUJUN_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} not found; run scripts/setup-system.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    require_browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()
