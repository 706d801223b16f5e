"""Erasing an applicant's personal data, by the retention timer and on request, on SQLite and on Azurite: a scan
of the whole store, the queues (poison ones too) and the kept emails finds none of the applicant's values after,
and the pseudonymized audit remains."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.audit import AuditAction
from shared.domain.duplicates import index_keys
from shared.domain.email_templates import SIGNUP_CONFIRM, SIGNUP_REPEAT
from shared.domain.erasure import ERASED, ErasureRefused
from shared.domain.errors import InvalidInput
from shared.domain.ids import prospect_id_for
from shared.domain.model import ProspectStatus, SignupStatus
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


def _container(request, tmp_path, clock, **extra: str) -> Container:
    """The container on SQLite (.eml folder), or on Azurite (tables, queues and the blob outbox)."""
    settings = {"RETENTION_DAYS": "90", "LOG_LEVEL": "DEBUG", **extra}
    if request.param == "azure":
        unique = uuid.uuid4().hex[:12]
        settings |= {"STATE_BACKEND": "azure", "EMAIL_TRANSPORT": "storage",
                     "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
                     "STATE_TABLE": f"state{unique}", "LEAD_QUEUE": f"leads-{unique}",
                     "OUTCOME_QUEUE": f"outcomes-{unique}", "EMAIL_QUEUE": f"emails-{unique}",
                     "EMAIL_OUTBOX_CONTAINER": f"outbox-{unique}"}
    return Container.build(Settings.from_env(settings, data_dir=tmp_path), clock=clock)


@pytest.fixture(params=["sqlite", "azure"])
def c(request, tmp_path, clock):
    container = _container(request, tmp_path, clock)
    yield container
    for adapter in (container.store, container.queue, container.sales):
        adapter.close()


@pytest.fixture(params=["sqlite", "azure"])
def confirming(request, tmp_path, clock):
    """With the double opt-in (REQUIRE_EMAIL_CONFIRMATION) and no Sales: the clerk decides."""
    container = _container(request, tmp_path, clock, REQUIRE_EMAIL_CONFIRMATION="true", SALES_MODE="none",
                           PUBLIC_BASE_URL="https://b2b.contoso.example",
                           SIGNUP_LINK_SECRET="a-test-secret-of-enough-length-0123456789")
    yield container
    for adapter in (container.store, container.queue, container.sales):
        if adapter is not None:  # no Sales here
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


def test_emails_left_by_a_request_no_longer_kept_go_after_the_retention_days(c):
    """A store written before delete_signup took a request's emails with it kept them when an unconfirmed
    request expired: the signup gone, its email left. Retention's pass over the emails takes those."""
    received = c.intake.submit(applicant(8))
    work(c)
    with c.store.unit_of_work() as uow:  # the signup alone gone, as such a store left it
        left = uow.prospect_emails(prospect_id_for(received.signup_id))
        uow.delete_signup(received.signup_id)
    with c.store.unit_of_work() as uow:
        for email in left:
            uow.add_email(email)
    assert scan(c, values_of(applicant(8)))
    c.clock.advance(91 * DAY)
    report = c.erasure.run()
    assert (report.requests, report.emails) == (0, 1)
    assert scan(c, values_of(applicant(8))) == []
    assert c.erasure.run().emails == 0


def _confirmed(c: Container, body: dict) -> str:
    """Submit ``body`` and open its emailed link and confirm it, as the requester does; its request id."""
    received = c.intake.submit(body)
    c.clock.advance(1)
    [email] = [e for e in c.operator.emails() if e.template == SIGNUP_CONFIRM and received.signup_id in
               e.values["confirmurl"]]
    c.email_confirmation.confirm(*urlsplit(email.values["confirmurl"]).path.split("/")[-3:])
    return received.signup_id


def test_erasure_with_the_double_opt_in_takes_repeats_unconfirmed_requests_duplicate_keys_and_flags(confirming):
    """The applicant asked with one email three times (once never confirming, then a repeat), and once from
    a second address of the same company (a prospect flagged as a possible duplicate of the first). Erasing its
    two prospects leaves nothing of it: no value, no digest of its duplicate keys, no flag pointing at it."""
    c = confirming
    other_address = {**applicant(1)["contact"], "email": "kontor@lindqvistsson1.example"}
    unconfirmed = c.intake.submit(applicant(1)).signup_id  # its link never opened
    first = _confirmed(c, applicant(1))
    c.channel_sync.run()
    repeat = c.intake.submit(applicant(1)).signup_id  # PRO-000001 is open: linked to it, a "you asked already"
    _confirmed(c, {**applicant(1), "contact": other_address})
    _confirmed(c, applicant(2))  # another applicant: kept, and the scan must see it
    c.channel_sync.run()
    work(c)
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(repeat).repeat_of == first  # kept as its repeat (awaiting: the link is in the email)
        assert uow.get_signup(unconfirmed).status is SignupStatus.AWAITING_CONFIRMATION
        duplicate = uow.find_prospect_by_number("PRO-000002")
        digests = set(index_keys(uow.get_signup(first).request)) | set(index_keys(duplicate.request))
    assert duplicate.possible_duplicate_of == ["PRO-000001"] and duplicate.needs_attention
    # Every email intake wrote for a request names it as the prospect it is or was to become: erasure finds them.
    for email in c.operator.emails():
        if email.template == SIGNUP_CONFIRM:
            assert email.prospect_id == prospect_id_for(urlsplit(email.values["confirmurl"]).path.split("/")[-3])
    assert [e.prospect_id for e in c.operator.emails() if e.template == SIGNUP_REPEAT] == [prospect_id_for(repeat)]
    # The address's domain too: the emails' order rows (Azure Tables) keep it, and a sole trader's is its name.
    personal = values_of(applicant(1)) | {other_address["email"], "lindqvistsson1.example"}
    assert scan(c, personal | digests) and scan(c, values_of(applicant(2)))

    for number in ("PRO-000002", "PRO-000001"):
        c.back_office.reject(number, "not a retailer", "alice")
        c.erasure.erase(number, "the applicant asked", "alice")
    assert scan(c, personal | digests) == []
    assert scan(c, values_of(applicant(2)))
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(repeat) is None and uow.get_signup(unconfirmed) is None
        erased = uow.find_prospect_by_number("PRO-000002")
        assert (erased.possible_duplicate_of, erased.requester_user_of, erased.attention_reason) == ([], [], None)
        assert all(uow.signups_with_key(digest, 10) == [] for digest in digests)
    assert c.channel_sync.run().prospects_created == 0  # nothing of it comes back as a new prospect


def test_an_unconfirmed_request_that_expires_takes_its_kept_confirmation_email_with_it(confirming):
    c = confirming
    c.intake.submit(applicant(3))
    work(c)
    assert scan(c, values_of(applicant(3)))
    c.clock.advance(49 * 3600)
    c.channel_sync.run()
    assert scan(c, values_of(applicant(3))) == []
