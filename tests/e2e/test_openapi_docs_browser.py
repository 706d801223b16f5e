"""The API docs page in a real browser (Debian's chromium, driven by Playwright): Swagger UI renders every
operation of the document, loads nothing from anywhere but this host, and breaks no rule of its own
Content-Security-Policy."""
from __future__ import annotations

import pytest

from shared.web.openapi import operations
from tests.e2e.conftest import start_host, stop_host
from tests.e2e.test_storefront_browser import browser  # noqa: F401 - the module's chromium, as a fixture

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def live_host(tmp_path):
    host = start_host(tmp_path / "data")
    yield host
    stop_host(host)


def test_the_docs_page_shows_every_operation_from_this_host_only(browser, live_host):  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    requested: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        page.goto(live_host.url("docs"))
        page.wait_for_selector(".opblock")
        shown = {(block.locator(".opblock-summary-method").inner_text().strip(),
                  block.locator(".opblock-summary-path").get_attribute("data-path"))
                 for block in page.locator(".opblock").all()}
    finally:
        context.close()
    assert shown == {(op.method, "/" + op.route) for op in operations()}
    assert requested and all(url.startswith((live_host.base_url + "/", "data:")) for url in requested), requested
    assert not [line for line in console if "Content Security Policy" in line or "Refused to" in line], console
