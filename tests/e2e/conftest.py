"""End-to-end fixtures: Debian's headless Chromium driven by Playwright.

Never a browser download: Playwright only drives ``/usr/bin/chromium`` (installed by
``scripts/bootstrap --browser``). One browser per session (tests/support/chromium.py),
a fresh context per test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def new_page(browser):
    """Make pages in fresh contexts (no shared cookies): ``new_page(viewport=PHONE)``."""
    contexts = []

    def make(viewport=DESKTOP, locale="ms-MY"):
        context = browser.new_context(viewport=viewport, locale=locale)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def screenshot(artifacts_dir, request):
    """Save a full-page screenshot under test-artifacts/<test name>/<step>.png."""
    folder = artifacts_dir / re.sub(r"[^\w.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):  # a previous run's pages would mix with this run's
        stale.unlink()
    counter = iter(range(1, 1000))

    def take(page, step: str) -> Path:
        # Python 3.11 allows no backslash inside an f-string's braces.
        name = re.sub(r"[^\w.-]+", "_", step)
        path = folder / f"{next(counter):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
