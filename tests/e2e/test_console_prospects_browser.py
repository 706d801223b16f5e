"""All prospects, the console's entry page, on the local host: in Chromium (filter by a status count, search,
page forward and back, download the CSV, axe), and over plain HTTP as a browser without JavaScript uses it, on
SQLite and on Azurite."""
from __future__ import annotations

import csv
import io
import re

import pytest

from shared.domain.prospect_directory import ProspectFilter
from tests.browser import axe_serious, browser, console_sign_in, describe, page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.e2e.conftest import azure_backend, start_host, stop_host
from tests.services.flow import signup_body

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

COMPANIES = ["Söderberg & Öhman AB", "Fabrikam AB", "Contoso Ltd", "Northwind Traders", "=cmd|' /C calc'!A0"]
PROSPECTS = 60  # more than one page of 50


def seed(c, count: int = PROSPECTS) -> None:
    """``count`` prospects as the sync makes them; every seventh rejected, the third flagged."""
    for n in range(1, count + 1):
        body = signup_body(n)
        body["company"]["name"] = f"{COMPANIES[n % len(COMPANIES)]} {n}"
        c.intake.submit(body)
    retried(c.channel_sync.run)  # the host's own sync timer may be at it too
    for n in range(7, count + 1, 7):
        retried(lambda: c.back_office.reject(f"PRO-{n:06d}", "We sell to retailers only", "seed"))

    def flag() -> None:  # a conflicting outcome's flag, as propagation sets it
        with c.store.unit_of_work() as uow:
            flagged = uow.find_prospect_by_number("PRO-000003")
            uow.save_prospect(flagged.flagged("Sales won it after it was rejected here", flagged.updated_at))

    retried(flag)


def retried(work, attempts: int = 50) -> None:
    """On Azure Tables the host's lead creation changes the same prospects meanwhile: a lost race runs again."""
    from shared.domain.errors import ConcurrencyConflict

    for _ in range(attempts - 1):
        try:
            return work()
        except ConcurrencyConflict:
            continue
    work()


def seeded_host(folder, extra_env: dict | None = None):
    host = start_host(folder / "data", extra_env)
    c = host.container()
    try:
        seed(c)
        with c.store.unit_of_work(read_only=True) as uow:  # the list is there before any test looks
            assert len(uow.prospect_directory(ProspectFilter(), newest_first=True, after=None, limit=100)) == PROSPECTS
    finally:
        c.store.close()
    return host


@pytest.fixture(scope="module")
def live_host(tmp_path_factory):
    host = seeded_host(tmp_path_factory.mktemp("console-prospects"))
    yield host
    stop_host(host)


def numbers(page) -> list[str]:
    return page.locator("tbody tr td:first-child a").all_inner_texts()


def test_a_clerk_filters_searches_pages_and_downloads_in_the_browser(live_host, page, tmp_path):
    console_sign_in(page, live_host.base_url, role="viewer", name="Bo Clerk")
    page.goto(live_host.url("/console"))
    assert page.get_by_role("heading", level=1).inner_text() == "All prospects"
    assert numbers(page)[:2] == ["PRO-000060", "PRO-000059"] and len(numbers(page)) == 50
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC", page.locator("tbody time").first.inner_text())
    assert axe_serious(page) == [], describe(axe_serious(page))
    screenshot(page, "console-prospects")

    # Next page, then back: the cursor links keep the order.
    page.get_by_role("link", name="Next page →").click()
    assert numbers(page) == [f"PRO-{n:06d}" for n in range(10, 0, -1)]
    page.get_by_role("link", name="← Previous page").click()
    assert numbers(page)[0] == "PRO-000060" and len(numbers(page)) == 50

    # The counts are filter links.
    counts = page.get_by_role("navigation", name="Prospects by status")
    assert "Rejected 8" in " ".join(counts.inner_text().split())
    counts.get_by_role("link", name=re.compile("^Rejected")).click()
    assert numbers(page) == [f"PRO-{n:06d}" for n in range(56, 0, -7)]
    page.get_by_role("navigation", name="Prospects by status").get_by_role(
        "link", name=re.compile("^Needs attention")).click()
    assert numbers(page) == ["PRO-000003"] and "Needs attention" in page.locator("tbody").inner_text()

    # A search, without case or accents, through the form.
    page.goto(live_host.url("/console"))
    page.get_by_label("Search").fill("SODERBERG & OHMAN AB 1")
    page.get_by_label("Order").select_option("oldest")
    page.get_by_role("button", name="Apply").click()
    assert numbers(page) == ["PRO-000010", "PRO-000015"]
    assert page.get_by_label("Search").input_value() == "SODERBERG & OHMAN AB 1"  # the form keeps its values
    assert axe_serious(page) == [], describe(axe_serious(page))

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "prospects.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [r["number"] for r in rows] == ["PRO-000010", "PRO-000015"]

    # A value the filter cannot use is named on the page, with the form to correct it.
    page.goto(live_host.url("/console?from=yesterday"))
    assert "Received from: must be a day" in page.get_by_role("alert").inner_text()
    assert axe_serious(page) == [], describe(axe_serious(page))


def test_the_csv_makes_a_formula_text(live_host):
    client = ConsoleClient(live_host.base_url, role="viewer")
    answer = client.get("/api/console/prospects.csv?q=%3Dcmd")
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows and all(r["company"].startswith("'=cmd") for r in rows)


def test_without_a_sign_in_the_page_sends_to_the_sign_in(live_host):
    client = ConsoleClient(live_host.base_url, sign_in=False)
    for path in ("/api/console", "/api/console/prospects.csv"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/api/console/sign-in" in answer.headers["Location"]


@pytest.fixture(scope="module")
def azurite_host(tmp_path_factory, azurite):
    host = seeded_host(tmp_path_factory.mktemp("console-prospects-azure"), azure_backend(azurite))
    yield host
    stop_host(host)


def test_the_page_works_without_javascript_on_azurite(azurite_host):
    client = ConsoleClient(azurite_host.base_url, role="viewer")
    first = client.get("/api/console?status=pending&sort=oldest")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    shown = re.findall(r'href="/api/console/prospects/(PRO-\d+)"', first.text)
    assert shown[:3] == ["PRO-000001", "PRO-000002", "PRO-000003"] and len(shown) == 50
    assert "PRO-000007" not in shown  # rejected
    after = re.search(r'href="(/api/console\?[^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    rest = re.findall(r'href="/api/console/prospects/(PRO-\d+)"', client.get(after).text)
    assert rest == ["PRO-000059", "PRO-000060"]  # 52 pending: 50, then 2
    found = client.get("/api/console?q=fabrikam+ab+1")
    assert re.findall(r'href="/api/console/prospects/(PRO-\d+)"', found.text) == ["PRO-000016", "PRO-000011",
                                                                                    "PRO-000001"]
    bad = client.get("/api/console?limit=0")
    assert bad.status_code == 400 and "Rows per page" in bad.text
