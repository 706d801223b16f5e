"""The console's front door in a real browser and over HTTP, on the local host: the development sign-in page
(labelled, accessible), the signed cookie it sets, the pages' stylesheet, and a principal header that only the
platform may set refused when no platform stands in front."""
from __future__ import annotations

import re

import pytest
import requests

from tests.browser import axe_serious, browser, console_sign_in, describe, page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.e2e.conftest import start_host, stop_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(scope="module")
def live_host(tmp_path_factory):
    host = start_host(tmp_path_factory.mktemp("console") / "data")
    yield host
    stop_host(host)


def test_the_development_sign_in_page_is_labelled_accessible_and_signs_in(live_host, page):
    page.goto(live_host.url("/console/sign-in"))
    assert "only on this computer" in page.get_by_role("note").inner_text()
    assert axe_serious(page) == [], describe(axe_serious(page))
    screenshot(page, "console-sign-in")
    console_sign_in(page, live_host.base_url, role="viewer", name="Bo Clerk")
    names = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert names["b2b_console_dev"]["httpOnly"] and names["b2b_csrf"]["sameSite"] == "Strict"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]  # nothing the policy refused


def test_the_stylesheet_is_served_with_its_type_and_kept_a_year_by_its_fingerprint(live_host):
    with requests.Session() as http:  # keep-alive, as a browser fetches a page and its stylesheet
        form = http.get(live_host.url("/signup"), timeout=10)
        href = re.search(r'href="(/api/assets/site\.css\?v=[0-9a-f]+)"', form.text).group(1)
        sheet = http.get(live_host.base_url + href, timeout=10)
        stale = http.get(live_host.url("/assets/site.css?v=old"), timeout=10)
        missing = http.get(live_host.url("/assets/..%2Fpages.py"), timeout=10)
    assert "style-src 'self'" in form.headers["Content-Security-Policy"]
    assert sheet.headers["Content-Type"].startswith("text/css") and "immutable" in sheet.headers["Cache-Control"]
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]
    assert missing.status_code == 404


def test_a_principal_header_sent_to_the_local_host_is_refused_not_believed(live_host):
    """Only App Service Authentication may set X-MS-CLIENT-PRINCIPAL (it strips the header from every request
    that reaches it); where it does not stand in front of the app, a request carrying one is refused."""
    import base64
    import json

    forged = base64.b64encode(json.dumps({"claims": [{"typ": "name", "val": "Mallory"},
                                                      {"typ": "roles", "val": "B2B.Operator"}]}).encode()).decode()
    client = ConsoleClient(live_host.base_url, sign_in=False)
    client.get("/api/console/sign-in")
    answer = client.post("/api/console/sign-out", headers={"X-MS-CLIENT-PRINCIPAL": forged})
    assert answer.status_code == 403 and "App Service Authentication" in answer.text


def test_a_clerk_without_javascript_signs_in_and_out(live_host):
    client = ConsoleClient(live_host.base_url, role="operator")
    assert "b2b_console_dev" in client.session.cookies
    forged = client.post("/api/console/sign-out", csrf="x" * 43)
    assert forged.status_code == 403
    out = client.post("/api/console/sign-out")
    assert out.status_code == 303 and "b2b_console_dev" not in client.session.cookies
