"""A clerk's day on the prospect and drift pages, in a real browser on the local host: open a flagged prospect,
read its whole timeline (a failed email and a poisoned message in it), acknowledge the flag, retry the email once
the mail server is back, replay the poisoned message, approve one prospect and reject another with a reason, see
drift and reconcile it. A viewer reads the same pages without one action on them, and a viewer's POST is refused.
axe-core finds no serious or critical violation on either page.

The host runs with its Sales-outcome trigger off (``AzureWebJobs__propagate_sales_outcome__Disabled``), so a
decision made in Sales waits on its queue: that is the drift to see and reconcile. The flag comes from a Sales
decision that conflicts with the approval, applied beside the host as the trigger would; the approval email
fails because the SMTP server is not up yet (one attempt allowed), and a create-lead message of the prospect is
put on the poison queue as one that failed every try."""
from __future__ import annotations

import re

import pytest

from shared.domain.messages import CreateLead
from shared.domain.model import EmailStatus, ProspectStatus
from shared.queue_worker import poison_queue_name
from tests.browser import axe_serious, browser, console_sign_in, describe, open_page, screenshot  # noqa: F401
from tests.console_client import ConsoleClient
from tests.contract.email_sinks import SmtpSink, free_port
from tests.e2e.conftest import azure_backend, start_host, stop_host, wait_for
from tests.services.flow import DECISIONS_ONLY, signup_body, take_all

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture(params=["sqlite", "azure"])
def clerks_day(request, tmp_path):
    """The same day on the embedded default and on the Azure backend (Tables and Queues on Azurite)."""
    smtp_port = free_port()
    backend = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    host = start_host(tmp_path / "data", {
        **backend,
        "AzureWebJobs__propagate_sales_outcome__Disabled": "true",
        "EMAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "false",
        "EMAIL_MAX_ATTEMPTS": "1", **DECISIONS_ONLY,  # the approval's email is the one to fail
    })
    c = host.container()
    try:
        for n in range(1, 5):
            c.intake.submit(signup_body(n))
        wait_for(lambda: len(c.operator.prospects()) == 4 and all(p.lead_created_at for p in c.operator.prospects()),
                 timeout=60, what="four prospects with their leads")
        leads = {p.number: p.lead_id for p in c.operator.prospects()}
        # PRO-000001: approved here, then disqualified in Sales: the late outcome conflicts and flags it.
        c.back_office.approve("PRO-000001", "setup")
        c.sales.disqualify(leads["PRO-000001"], 5)
        for body in take_all(c, c.settings.outcome_queue):
            c.propagation.handle(body)
        wait_for(lambda: [e.status for e in c.operator.emails()] == [EmailStatus.FAILED], timeout=30,
                 what="the approval email to fail (no SMTP server yet)")
        prospect_id = c.operator.prospect("PRO-000001").prospect.id
        c.queue.send(poison_queue_name(c.settings.lead_queue), CreateLead(prospect_id=prospect_id).to_json())
        # PRO-000004: disqualified in Sales; the outcome waits on its queue (the trigger is off): drift.
        c.sales.disqualify(leads["PRO-000004"], 6)
        yield host, c, smtp_port
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
        stop_host(host)


def notice(page) -> str:
    return page.locator("p.notice").inner_text()


def test_a_clerks_day_on_the_prospect_and_drift_pages(browser, clerks_day):  # noqa: F811
    host, c, smtp_port = clerks_day
    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="operator", name="Alice Clerk")
        page.goto(host.url("console/prospects/PRO-000001"))
        assert "Needs attention" in page.locator("p.callout").inner_text()
        rows = [r.inner_text() for r in page.locator("table.timeline-table tbody tr").all()]
        assert any("create-lead poisoned" in r and "Queue" in r for r in rows), rows
        assert any("email “prospect approved” failed" in r and "Email" in r for r in rows), rows
        assert any("conflicting outcome ignored" in r and "Sales" in r for r in rows), rows
        assert any("prospect created" in r and "History" in r for r in rows), rows
        assert rows[-1].count("prospect created") == 1  # newest first: the first thing happened last
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-prospect")

        page.get_by_label("What was done about the flag").fill("Checked with the salesperson: the approval stands")
        page.get_by_role("button", name="Acknowledge the flag").click()
        assert "PRO-000001: flag acknowledged" in notice(page)
        assert page.locator("p.callout").count() == 0

        with SmtpSink(port=smtp_port) as mail:  # the mail server is back: the retry goes out
            page.get_by_role("button", name=re.compile("Retry the failed .prospect approved. email")).click()
            assert "queued again (it was failed)" in notice(page)
            wait_for(lambda: mail.envelopes, timeout=30, what="the retried email to arrive")
        page.reload()
        rows = [r.inner_text() for r in page.locator("table.timeline-table tbody tr").all()]
        assert any("email retried" in r and "back-office:Alice Clerk" in r for r in rows), rows
        assert any("email “prospect approved” sent" in r for r in rows), rows

        page.get_by_role("link", name="Replay 1 poisoned message…").click()
        assert "cannot" not in page.locator("h1").inner_text()
        page.get_by_role("button", name="Replay 1 message").click()
        assert "1 poisoned message of PRO-000001 sent back from" in notice(page)
        wait_for(lambda: c.queue.count(c.settings.lead_queue) == 0, what="the replayed message to be processed")

        page.goto(host.url("console/prospects/PRO-000002"))
        page.get_by_role("button", name="Approve PRO-000002").click()
        assert "PRO-000002 approved: partner CH-000002 created" in notice(page)
        assert page.locator("h1 .badge").inner_text() == "Approved"

        page.goto(host.url("console/prospects/PRO-000003"))
        page.get_by_role("link", name="Reject PRO-000003…").click()
        assert "cannot be undone" in page.locator("p.callout").inner_text()
        page.get_by_label(re.compile("^Reason")).fill("We sell to retailers only")
        page.get_by_role("button", name="Reject PRO-000003").click()
        assert "PRO-000003 rejected" in notice(page)
        rejected = c.operator.prospect("PRO-000003").prospect
        assert (rejected.status, rejected.rejection_reason) == (ProspectStatus.REJECTED, "We sell to retailers only")
        assert rejected.decided_by == "back-office:Alice Clerk (development sign-in)"

        page.get_by_role("link", name="Drift").click()
        row = page.locator("tr", has_text="PRO-000004")
        assert "Sales says Rejected, we say Pending" in row.inner_text()
        assert axe_serious(page) == [], describe(axe_serious(page))
        screenshot(page, "console-drift")
        row.get_by_role("button", name="Reconcile PRO-000004").click()
        assert "PRO-000004: applied lead disqualified; it agrees with Sales now" in notice(page)
        assert page.locator("tr", has_text="PRO-000004").count() == 0
        assert c.operator.prospect("PRO-000004").prospect.status is ProspectStatus.REJECTED
        assert not [e for e in page.console_errors if "Content Security Policy" in e]
    finally:
        context.close()

    context, page = open_page(browser)
    try:
        console_sign_in(page, host.base_url, role="viewer", name="Bo Viewer")
        for path in ("console/prospects/PRO-000001", "console/drift"):
            page.goto(host.url(path))
            assert page.locator("main form, main a.button").count() == 0, path  # not one action
            assert axe_serious(page) == [], describe(axe_serious(page))
    finally:
        context.close()
    viewer = ConsoleClient(host.base_url, "viewer")
    viewer.get("/api/console/prospects/PRO-000001")
    for path in ("/api/console/prospects/PRO-000001/approve", "/api/console/drift/reconcile",
                 "/api/console/prospects/PRO-000001/replay"):
        assert viewer.post(path).status_code == 403, path
    assert viewer.get("/api/console/prospects/PRO-000001/reject").status_code == 403
