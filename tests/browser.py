"""A real browser for the page tests: Debian's chromium driven by Playwright, axe-core run in the page, and a
screenshot of each page saved by the run.

Use the fixtures in a test module with ``from tests.browser import browser, page  # noqa: F401`` and mark it
``pytestmark = [pytest.mark.browser, pytest.mark.e2e]``. A missing browser skips on a developer's machine and
fails under CI=true (tests/parts.py)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import NoReturn

import pytest

from tests.parts import missing_part

CHROMIUM = "/usr/bin/chromium"
# Playwright cannot download its own browser here; without the background-networking switches chromium
# keeps trying to reach a network that is closed.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "screenshots"  # git-ignored; README links the ones copied to docs/
DESKTOP = {"width": 1200, "height": 900}
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> NoReturn:
    missing_part(f"the browser test cannot run: {reason}")


@pytest.fixture(scope="module")
def browser():
    """One chromium per test module (starting it takes a second or two)."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        _unavailable(f"the playwright package is not installed ({error})")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        manager = sync_playwright().start()
    except Exception as error:  # noqa: BLE001 - the driver itself is missing or broken
        _unavailable(f"playwright does not start: {error}")
    try:
        launched = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
    except PlaywrightError as error:
        manager.stop()
        _unavailable(f"{CHROMIUM} does not start under playwright: {error}")
    yield launched
    launched.close()
    manager.stop()


def open_page(browser, viewport: dict | None = None, **context_options):
    """A page in a fresh context (its own cookies); ``page.dialogs`` lists any alert/confirm it raised,
    ``page.console_errors`` the errors its scripts logged (a CSP refusal shows there)."""
    context = browser.new_context(viewport=viewport or DESKTOP, **context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.dialogs, page.console_errors = [], []

    def on_dialog(dialog) -> None:
        page.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
    return context, page


@pytest.fixture
def page(browser):
    context, opened = open_page(browser)
    yield opened
    context.close()


def axe_serious(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now (empty: none), each with its rule,
    impact, help text and the first offending elements, so a failing assert says what to fix."""
    results = _axe_run(page)
    return [{"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [node["target"] for node in v["nodes"][:5]]}
            for v in results["violations"] if v["impact"] in ("serious", "critical")]


def axe_counts(page) -> dict[str, int]:
    """Every violation axe finds, counted by impact: the totals the notes report."""
    results = _axe_run(page)
    counts: dict[str, int] = {}
    for violation in results["violations"]:
        counts[violation["impact"]] = counts.get(violation["impact"], 0) + len(violation["nodes"])
    return counts


def _axe_run(page) -> dict:
    if not AXE.is_file():
        missing_part(f"axe-core is not installed ({AXE}): run `make test`, which installs it with npm")
    # Evaluated by the driver, not added as a <script>: the pages' CSP forbids inline scripts, and rightly.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    return page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")


def screenshot(page, name: str) -> Path:
    """Saves the whole page as screenshots/<name>.png (the run's record of what each page looks like)."""
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise ValueError(f"screenshot names are lowercase words with dashes, not {name!r}")
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def console_sign_in(page, base_url: str, role: str = "operator", name: str = "Alice Clerk") -> None:
    """Signs the page's context in to the console through the local host's development sign-in."""
    page.goto(f"{base_url}/api/console/sign-in")
    page.get_by_label("Your name").fill(name)
    page.get_by_role("radio", name=re.compile("^Operator" if role == "operator" else "^Viewer")).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def describe(violations: list[dict]) -> str:
    return json.dumps(violations, indent=2)
