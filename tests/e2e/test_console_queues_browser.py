"""The console's Queues and Emails pages in a real browser on the local host: a clerk sees the queue depths,
reads a poisoned message masked, reveals it (the audit shows who), replays it, discards another with a reason,
reads a failed email as rendered (sandboxed: its script does not run, its remote image is not fetched) and
retries it; a viewer sees no action and is refused a POST. axe-core finds nothing serious on any page."""
from __future__ import annotations

import json
import re
import socket
import threading

import pytest

from shared.domain.model import EmailStatus
from shared.queue_worker import poison_queue_name
from tests.browser import axe_serious, browser, console_sign_in, describe, page  # noqa: F401
from tests.browser import screenshot
from tests.console_client import ConsoleClient
from tests.contract.factories import T0, email_record
from tests.e2e.conftest import azure_backend, start_host, stop_host, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

LEAD = {"schema": "create-lead", "version": 1, "prospect_id": "p-console",
        "contact": {"first_name": "Åsa", "last_name": "Öberg", "email": "asa@fabrikam.example",
                    "phone": "+46 70 123 45 67"}}
# An operator's template override with what an email must never do inside the console: run a script, load a
# remote image (a tracker), post a form.
HOSTILE_TEMPLATE = """<!DOCTYPE html>
<html lang="sv"><head><meta charset="utf-8"><title>Avslag för %company%</title></head>
<body><p>Hej %firstname% %lastname%,</p><p>Vi kan tyvärr inte godkänna <strong>%company%</strong>.</p>
<script>parent.document.title = "PWNED"; document.body.append("SCRIPT RAN");</script>
<img alt="" src="{tracker}"></body></html>
"""


@pytest.fixture(scope="module")
def tracker():
    """An https address on another origin that counts the connections made to it: an email's remote image would
    be asked for there (the pages' own policy allows https images, so only the email's policy stops it). No TLS
    is answered: the connection attempt is what gives the email's opening away."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    connections: list[tuple] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, address = listener.accept()
            except OSError:
                continue
            connections.append(address)
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}/tracker.png", connections
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture(scope="module", params=["sqlite", "azure"])
def live_host(request, tmp_path_factory, tracker):
    """The host on the embedded default, and on the Azure backend (Tables and Queues on Azurite, with queue
    names of its own: the pages are walked by the names the settings give)."""
    templates = tmp_path_factory.mktemp("templates")
    (templates / "prospect_rejected.sv.html").write_text(HOSTILE_TEMPLATE.replace("{tracker}", tracker[0]),
                                                         encoding="utf-8")
    data = tmp_path_factory.mktemp("console-queues") / "data"
    backend = azure_backend(request.getfixturevalue("azurite")) if request.param == "azure" else {}
    host = start_host(data, {"EMAIL_TEMPLATES_DIR": str(templates), **backend})
    host.leads, host.emails = host.settings["LEAD_QUEUE"], host.settings["EMAIL_QUEUE"]
    host.backend = request.param
    c = host.container()
    try:
        poison = poison_queue_name(c.settings.lead_queue)
        host.kept = c.queue.send(poison, json.dumps(LEAD))
        host.junk = c.queue.send(poison, "a test message sent by hand")
        with c.store.unit_of_work() as uow:
            uow.add_email(email_record("e-console-failed", T0, EmailStatus.FAILED).model_copy(
                update={"attempts": 8, "last_error": "SMTPRecipientsRefused: 550 mailbox unavailable"}))
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
    yield host
    stop_host(host)


def _screenshot(live_host, page, name: str) -> None:
    # Once, of the embedded default's pages: its queue names are the ones a newcomer sees (README shows them).
    if live_host.backend == "sqlite":
        screenshot(page, name)


def _accessible(page) -> None:
    violations = axe_serious(page)
    assert violations == [], describe(violations)


def test_a_clerk_reads_reveals_replays_and_discards_poison_messages(live_host, page):
    console_sign_in(page, live_host.base_url, role="operator", name="Alice Clerk")
    page.goto(live_host.url("/console/queues"))
    queue = live_host.leads
    leads = page.get_by_role("row", name=re.compile(f"^{queue} "))
    assert leads.get_by_role("cell").nth(2).inner_text() == "2"  # two poisoned, none waiting
    _accessible(page)
    _screenshot(live_host, page, "console-queues")

    leads.get_by_role("link", name=f"{queue}-poison").click()
    assert page.get_by_role("heading", level=1).inner_text() == f"Poison messages of {queue}"
    _accessible(page)
    page.get_by_role("link", name=live_host.kept).click()
    body = page.locator("pre.body").inner_text()
    assert "asa@fabrikam.example" not in body and "Åsa" not in body and "•••" in body and "p-console" in body
    _accessible(page)
    _screenshot(live_host, page, "console-poison-message")

    page.get_by_role("button", name="Reveal personal data").click()
    assert "asa@fabrikam.example" in page.locator("pre.body").inner_text()
    assert "The audit records that you revealed it" in page.get_by_role("status").inner_text()
    _accessible(page)
    page.goto(live_host.url("/console/queues"))
    audit = page.get_by_role("table", name="Audit")
    assert re.search(rf"Alice Clerk[^\t]*\s+reveal\s+{queue}-poison/{live_host.kept}", audit.inner_text())
    assert "asa@" not in audit.inner_text()

    page.goto(live_host.url(f"/console/queues/{queue}/poison/{live_host.kept}"))
    page.get_by_role("button", name="Replay").click()
    assert f"Message {live_host.kept} sent back to {queue}" in page.get_by_role("status").inner_text()

    page.goto(live_host.url(f"/console/queues/{queue}/poison/{live_host.junk}"))
    page.get_by_role("link", name="Discard…").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Discard this poison message?"
    _accessible(page)
    page.get_by_label(re.compile("^Why it is discarded")).fill("   ")  # only blanks: no reason at all
    page.get_by_role("button", name="Discard").click()
    assert "The reason is required" in page.get_by_role("alert").inner_text()
    _accessible(page)
    page.get_by_label(re.compile("^Why it is discarded")).fill("A test message somebody sent by hand")
    page.get_by_role("button", name="Discard").click()
    assert "discarded" in page.get_by_role("status").inner_text()
    page.goto(live_host.url("/console/queues"))
    audit = page.get_by_role("table", name="Audit").inner_text()
    assert re.search(rf"Alice Clerk[^\t]*\s+discard\s+{queue}-poison/.*not JSON \(27 bytes\).*A test message somebody",
                     audit, re.DOTALL)
    assert re.search(r"Alice Clerk[^\t]*\s+replay", audit)

    # The confirm page by its address: its link shows only while the poison queue holds something, and the
    # replayed message fails again on the host (its prospect does not exist), coming back when the host says.
    page.goto(live_host.url(f"/console/queues/{queue}/replay"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Replay every poison message of {queue}?"
    _accessible(page)
    page.get_by_role("button", name="Replay all").click()
    assert re.match(rf"Replayed 1 message from {queue}|Nothing replayed", page.get_by_role("status").inner_text())


def test_a_clerk_reads_a_failed_email_as_rendered_in_a_sandbox_and_retries_it(live_host, tracker, page):
    console_sign_in(page, live_host.base_url, role="operator")
    page.goto(live_host.url("/console/emails?status=failed"))
    row = page.get_by_role("row", name=re.compile("prospect_rejected"))
    assert "failed" in row.inner_text() and "…@example.com" in row.inner_text()
    _accessible(page)
    _screenshot(live_host, page, "console-emails")

    row.get_by_role("link").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Avslag för <Company> & Co"
    assert "550 mailbox unavailable" in page.locator("dl.facts").inner_text()
    frame = page.frame_locator("iframe.email")
    assert "Vi kan tyvärr inte godkänna" in frame.locator("body").inner_text()
    assert "SCRIPT RAN" not in frame.locator("body").inner_text() and page.title() != "PWNED"
    page.wait_for_load_state("load")  # the frame's image, had it been allowed, would have been asked for by now
    assert tracker[1] == []  # the remote image was never fetched
    _accessible(page)
    _screenshot(live_host, page, "console-email")

    page.get_by_role("button", name="Retry").click()
    assert "queued again" in page.get_by_role("status").inner_text()

    def sent() -> bool:
        page.reload()
        return "sent" in page.locator("dl.facts").inner_text()

    wait_for(sent, what="the retried email to be sent by the host")
    assert page.get_by_role("button", name="Retry").count() == 0


def test_a_viewer_sees_no_actions_and_is_refused_a_post(live_host, page):
    console_sign_in(page, live_host.base_url, role="viewer", name="Bo Viewer")
    page.goto(live_host.url("/console/queues"))
    page.get_by_role("link", name=f"{live_host.emails}-poison").click()
    _accessible(page)
    page.goto(live_host.url("/console/emails"))
    page.get_by_role("link", name=re.compile("…")).first.click()
    assert page.get_by_role("button").filter(has_text=re.compile("Retry|Replay|Discard|Reveal")).count() == 0
    _accessible(page)

    viewer = ConsoleClient(live_host.base_url, role="viewer")
    queue = live_host.leads
    for path in (f"/api/console/queues/{queue}/replay", "/api/console/emails/e-console-failed/retry",
                 f"/api/console/queues/{queue}/poison/x/discard"):
        assert viewer.post(path, {"reason": "x"}).status_code == 403, path
    assert viewer.get(f"/api/console/queues/{queue}/replay").status_code == 403  # the confirm page too
    operator = ConsoleClient(live_host.base_url, role="operator")
    assert operator.post(f"/api/console/queues/{queue}/replay", csrf="").status_code == 403
