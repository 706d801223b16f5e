"""Erasing an applicant's personal data, by the retention timer and on request, on SQLite and on Azurite: a scan
of the whole store, the queues (poison ones too) and the kept emails finds none of the applicant's values after,
and the pseudonymized audit remains."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.audit import AuditAction
from shared.domain.erasure import ERASED, ErasureRefused
from shared.domain.errors import InvalidInput
from shared.domain.model import ProspectStatus
from shared.queue_worker import poison_queue_name
from tests.erasure_scan import scan
from tests.services.flow import work

DAY = 24 * 3600


def applicant(n: int) -> dict:
    """A sole trader: the company is the person (name, registration number = personal identity number)."""
    first, last = f"Astridia{n}", f"Lindqvistsson{n}"
    return {
        "company": {"name": f"{last} Konsult", "registration_number": f"19800101-12{n:02d}",
                    "vat_number": f"SE19800101{n:02d}3401", "phone": f"+46 8 123 45{n:02d}",
                    "address": {"street": f"Storgatan {70 + n}", "city": "Uppsala", "zip_code": f"753 {n:02d}",
                                "country": "SE"}},
        "contact": {"first_name": first, "last_name": last, "email": f"{first.lower()}@{last.lower()}.example",
                    "phone": f"+46 70 111 22 {n:02d}", "preferred_language": "sv"},
        "comments": f"Ring mig på +46 70 111 22 {n:02d}, {first}",
        "channel_id": "b2b-web",
    }


def values_of(body: dict) -> set[str]:
    company, contact = body["company"], body["contact"]
    return {company["name"], company["registration_number"], company["vat_number"], company["phone"],
            company["address"]["street"], contact["first_name"], contact["last_name"], contact["email"],
            contact["phone"]}


@pytest.fixture(params=["sqlite", "azure"])
def c(request, tmp_path, clock):
    """The container on SQLite (.eml folder), or on Azurite (tables, queues and the blob outbox)."""
    settings = {"RETENTION_DAYS": "90", "LOG_LEVEL": "DEBUG"}
    if request.param == "azure":
        unique = uuid.uuid4().hex[:12]
        settings |= {"STATE_BACKEND": "azure", "EMAIL_TRANSPORT": "storage",
                     "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
                     "STATE_TABLE": f"state{unique}", "LEAD_QUEUE": f"leads-{unique}",
                     "OUTCOME_QUEUE": f"outcomes-{unique}", "EMAIL_QUEUE": f"emails-{unique}",
                     "EMAIL_OUTBOX_CONTAINER": f"outbox-{unique}"}
    container = Container.build(Settings.from_env(settings, data_dir=tmp_path), clock=clock)
    yield container
    for adapter in (container.store, container.queue, container.sales):
        adapter.close()


def three_applicants(c: Container) -> tuple[str, str, str]:
    """PRO-000001 qualified then lost in Sales (Rejected, with customers), PRO-000002 won (an approved partner),
    PRO-000003 still Pending; their emails delivered, and poison messages about the first and the second."""
    for n in (1, 2, 3):
        c.intake.submit(applicant(n))
        c.clock.advance(1)
    c.channel_sync.run()
    work(c)
    leads = {n: c.operator.prospect(n).prospect.lead_id for n in ("PRO-000001", "PRO-000002")}
    c.sales.lose(c.sales.qualify(leads["PRO-000001"]).opportunity_id, 5)
    c.sales.win(c.sales.qualify(leads["PRO-000002"]).opportunity_id)
    work(c)
    first = c.operator.prospect("PRO-000001").prospect
    assert first.status is ProspectStatus.REJECTED and first.person_customer_id
    # A message that failed for good, naming the prospect; one whose body holds the applicant's email itself;
    # and one of another applicant (it must stay).
    c.queue.send(poison_queue_name(c.settings.lead_queue), '{"schema": "create-lead", "version": 1, '
                 f'"prospect_id": "{first.id}"}}')
    c.queue.send(poison_queue_name(c.settings.outcome_queue), f'not json: {applicant(1)["contact"]["email"]}')
    c.queue.send(poison_queue_name(c.settings.outcome_queue), f'not json: {applicant(2)["contact"]["email"]}')
    return "PRO-000001", "PRO-000002", "PRO-000003"


def test_retention_erases_a_rejected_applicant_everywhere_and_keeps_a_pseudonymized_audit(c, caplog):
    rejected, approved, pending = three_applicants(c)
    assert scan(c, values_of(applicant(1)))  # the scan sees the applicant before
    c.clock.advance(89 * DAY)
    assert c.erasure.run().prospects == 0  # not yet: 90 days after the decision
    assert scan(c, values_of(applicant(1)))

    c.clock.advance(2 * DAY)
    with caplog.at_level(logging.DEBUG):
        report = c.erasure.run()
    assert (report.prospects, report.messages) == (1, 2)
    assert scan(c, values_of(applicant(1))) == []
    # the others are untouched: an approved partner and an undecided prospect are never the timer's
    assert {f.value for f in scan(c, values_of(applicant(2)))} >= {"astridia2@lindqvistsson2.example"}
    assert scan(c, values_of(applicant(3)))
    assert c.queue.count(poison_queue_name(c.settings.outcome_queue)) == 1

    view = c.prospect_timeline.show(rejected)
    p = view.prospect
    assert (p.status, p.number, p.erased_by, p.request.company.name) == (ProspectStatus.REJECTED, rejected,
                                                                          "retention", ERASED)
    assert p.request.company.address.country == "SE" and p.request.contact.preferred_language == "sv"
    assert view.emails == []
    history = [(e.actor, e.action) for e in c.operator.prospect(rejected).history]
    assert history[0] == ("channel-sync", "prospect created") and history[-1] == ("retention", "personal data erased")
    assert any("outcome" in action or "rejected" in action.lower() for _, action in history)
    audit = [e for e in c.operator.audit() if e.action is AuditAction.ERASE]
    assert [(e.operator, e.about) for e in audit] == [("retention", f"prospect {rejected}")]
    # the list still counts it, under its number, and no search finds it by the applicant's values
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.prospect_counts()["Rejected"] == 1
    # the log said what happened, never to whom
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "retention erased personal data" in logged
    for value in values_of(applicant(1)):
        assert value.casefold() not in logged.casefold()

    assert c.erasure.run().prospects == 0  # idempotent: nothing left to do
    assert len([e for e in c.operator.audit() if e.action is AuditAction.ERASE]) == 1


def test_on_request_an_operator_erases_a_rejected_prospect_and_is_refused_for_a_partner_or_an_open_one(c):
    rejected, approved, pending = three_applicants(c)
    with pytest.raises(ErasureRefused, match="approved partner .* Remove the person"):
        c.erasure.erase(approved, "the applicant asked", "alice")
    with pytest.raises(ErasureRefused, match="not decided yet: reject it first"):
        c.erasure.erase(pending, "the applicant asked", "alice")
    with pytest.raises(InvalidInput):
        c.erasure.erase(rejected, "", "alice")  # a reason is required

    done = c.erasure.erase(rejected.lower(), "the applicant asked by phone", "alice")
    assert done.changed and done.emails == 2 and done.kept_emails == 2 and done.messages == 2
    assert scan(c, values_of(applicant(1))) == []
    assert scan(c, values_of(applicant(2))) and scan(c, values_of(applicant(3)))
    entry = next(e for e in c.operator.audit() if e.action is AuditAction.ERASE)
    assert (entry.operator, entry.about, entry.reason) == ("alice", f"prospect {rejected}",
                                                           "the applicant asked by phone")
    assert c.operator.prospect(rejected).history[-1].actor == "back-office:alice"

    again = c.erasure.erase(rejected, "asked twice", "alice")
    assert not again.changed and "erased already" in again.describe()


def test_retention_erases_requests_that_never_became_a_prospect_and_their_emails(c):
    c.intake.submit(applicant(4))  # never synced: no prospect (an unconfirmed or stuck request)
    c.clock.advance(2 * DAY)
    c.intake.submit(applicant(5))  # younger
    c.relay.sweep(grace=timedelta(0))
    work(c)
    assert len(c.transport.list()) == 2
    c.clock.advance(89 * DAY)
    report = c.erasure.run()
    assert report.requests == 1
    assert scan(c, values_of(applicant(4))) == []
    assert scan(c, values_of(applicant(5)))
    assert len(c.transport.list()) == 1
    audit = [e for e in c.operator.audit() if e.action is AuditAction.ERASE]
    assert len(audit) == 1 and audit[0].about.startswith("request ") and audit[0].operator == "retention"


def test_retention_days_zero_keeps_everything(tmp_path, clock):
    c = Container.build(Settings.from_env({"RETENTION_DAYS": "0"}, data_dir=tmp_path), clock=clock)
    c.intake.submit(applicant(6))
    clock.advance(10_000 * DAY)
    assert c.erasure.run().cutoff is None
    assert scan(c, values_of(applicant(6)))


def test_retention_works_in_batches_and_a_run_that_stops_half_way_is_finished_by_the_next(tmp_path, clock,
                                                                                           monkeypatch):
    c = Container.build(Settings.from_env({"SALES_MODE": "none", "SYNC_BATCH_SIZE": "2"}, data_dir=tmp_path),
                        clock=clock)
    for n in range(1, 6):
        c.intake.submit(applicant(n))
        clock.advance(1)
    c.channel_sync.run()
    for n in range(1, 6):
        c.back_office.reject(f"PRO-{n:06d}", "not a retailer", "setup")
    work(c)
    clock.advance(91 * DAY)

    real, calls = type(c.erasure)._commit_prospect, []

    def crash_on_the_third(self, *args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise RuntimeError("the instance died")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(c.erasure), "_commit_prospect", crash_on_the_third)
    with pytest.raises(RuntimeError):
        c.erasure.run()
    assert not scan(c, values_of(applicant(1))) and scan(c, values_of(applicant(3)))
    monkeypatch.setattr(type(c.erasure), "_commit_prospect", real)
    assert c.erasure.run().prospects == 3  # the rest, a page of two at a time
    for n in range(1, 6):
        assert scan(c, values_of(applicant(n))) == [], n
    erased = [e.about for e in c.operator.audit() if e.action is AuditAction.ERASE]
    assert sorted(erased) == [f"prospect PRO-{n:06d}" for n in range(1, 6)]  # one record each, none twice


def test_the_merchants_notice_of_an_applicant_is_erased_with_it(tmp_path, clock):
    c = Container.build(Settings.from_env({"SALES_MODE": "none", "OPERATOR_EMAIL": "orders@contoso.example"},
                                          data_dir=tmp_path), clock=clock)
    c.intake.submit(applicant(7))
    c.channel_sync.run()
    c.back_office.reject("PRO-000001", "not a retailer", "setup")
    work(c)
    notice = [m for m in c.transport.list() if m["to"] == "orders@contoso.example"]
    assert len(notice) == 1 and "Lindqvistsson7 Konsult" in notice[0]["subject"]
    assert c.erasure.erase("PRO-000001", "the applicant asked", "alice").kept_emails == 3
    assert scan(c, values_of(applicant(7))) == []


def test_emails_left_by_a_request_deleted_unconfirmed_go_after_the_retention_days(c):
    received = c.intake.submit(applicant(8))
    work(c)
    with c.store.unit_of_work() as uow:  # deleted on expiry, as an unconfirmed request is: its email stays
        uow.delete_signup(received.signup_id)
    assert scan(c, values_of(applicant(8)))
    c.clock.advance(91 * DAY)
    report = c.erasure.run()
    assert (report.requests, report.emails) == (0, 1)
    assert scan(c, values_of(applicant(8))) == []
    assert c.erasure.run().emails == 0
