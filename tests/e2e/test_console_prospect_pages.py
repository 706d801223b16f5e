"""The prospect and drift pages over plain HTTP, as a browser without JavaScript uses them: every refusal said in
words (a decision made the other way names who and when; a reject without a reason shows the form again), the
prospect found by its number or its id, and the Sales records linked to Dynamics 365 when DATAVERSE_URL is set."""
from __future__ import annotations

import html
import re

import pytest

from tests.console_client import ConsoleClient
from tests.e2e.conftest import start_host, stop_host, wait_for
from tests.services.flow import signup_body

pytestmark = [pytest.mark.e2e]

ORG = "https://contoso.crm4.dynamics.com"


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    live = start_host(tmp_path_factory.mktemp("prospect-pages") / "data", {"DATAVERSE_URL": ORG})
    c = live.container()
    try:
        for n in (1, 2):
            c.intake.submit(signup_body(n))
        wait_for(lambda: len(c.operator.prospects()) == 2 and all(p.lead_created_at for p in c.operator.prospects()),
                 timeout=60, what="two prospects with their leads")
        yield live, c
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
        stop_host(live)


def notice(client: ConsoleClient, path: str) -> str:
    page = client.get(path)
    found = re.search(r'<p class="notice( refused)?" role="status">(.*?)</p>', page.text, re.S)
    assert found, page.text[:500]
    return ("refused: " if found.group(1) else "") + html.unescape(found.group(2))


def test_the_page_by_number_or_id_links_sales_records_to_dynamics(host):
    live, c = host
    client = ConsoleClient(live.base_url)
    prospect = c.operator.prospect("PRO-000001").prospect
    by_id = client.get(f"/api/console/prospects/{prospect.id}")
    by_number = client.get("/api/console/prospects/pro-000001")
    assert by_id.status_code == by_number.status_code == 200
    assert "no-store" in by_id.headers["Cache-Control"] and "frame-ancestors 'none'" in by_id.headers[
        "Content-Security-Policy"]
    link = f"{ORG}/main.aspx?etn=lead&amp;pagetype=entityrecord&amp;id=%7B{prospect.lead_id}%7D"
    assert link in by_id.text and link in by_number.text
    missing = client.get("/api/console/prospects/PRO-424242")
    assert missing.status_code == 404 and "no prospect PRO-424242" in missing.text


def test_refusals_are_said_in_words(host):
    live, c = host
    client = ConsoleClient(live.base_url, name="Bo Clerk")
    page = "/api/console/prospects/PRO-000002"
    assert client.post(f"{page}/reject", {"reason": "Outside our market"}).status_code == 303
    assert notice(client, page) == "PRO-000002 rejected; the decline email with your reason is queued"

    assert client.post(f"{page}/approve").status_code == 303
    decided_at = c.operator.prospect("PRO-000002").prospect.decided_at
    assert notice(client, page) == (
        "refused: PRO-000002 was not approved: rejected already by back-office:Bo Clerk (development sign-in) on "
        f"{decided_at.day} {decided_at:%b %Y, %H:%M:%S} UTC")

    again = client.post("/api/console/prospects/PRO-000001/reject", {"reason": "  "})
    assert again.status_code == 422 and 'aria-invalid="true"' in again.text and "the reason" in again.text
    assert c.operator.prospect("PRO-000001").prospect.status.value == "Pending"

    assert client.post("/api/console/prospects/PRO-000001/acknowledge", {"note": "done"}).status_code == 303
    assert notice(client, "/api/console/prospects/PRO-000001") == "PRO-000001 is not flagged; nothing changed"
    assert client.post("/api/console/prospects/PRO-000001/replay").status_code == 303
    assert notice(client, "/api/console/prospects/PRO-000001") == (
        "refused: PRO-000001 has no poisoned message (any more); nothing replayed")
    missing = client.post("/api/console/prospects/PRO-000001/emails/no-such-email/retry")
    assert missing.status_code == 404 and "no email no-such-email" in missing.text

    forged = client.post("/api/console/prospects/PRO-000001/approve", csrf="forged")
    assert forged.status_code == 403
    assert c.operator.prospect("PRO-000001").prospect.status.value == "Pending"


def test_with_no_prospect_yet_the_list_and_drift_say_so_and_when_they_come(tmp_path):
    """A newcomer's first look: not "no prospect matches this filter" when nothing was filtered, nor "checked 0
    prospects … every prospect checked agrees with Sales"."""
    live = start_host(tmp_path / "data")
    try:
        client = ConsoleClient(live.base_url)
        listing = html.unescape(client.get("/api/console").text)
        assert "No prospects yet: a storefront signup becomes one when the channel sync takes it in" in listing
        assert "No prospect matches this filter." not in listing
        assert "No prospects yet" in html.unescape(client.get("/api/console?status=pending").text)  # none at all
        drift = html.unescape(client.get("/api/console/drift").text)
        assert "No prospects yet, so nothing to compare with Sales." in drift
        assert "Checked 0 prospects" not in drift and "Every prospect checked agrees" not in drift
    finally:
        stop_host(live)
