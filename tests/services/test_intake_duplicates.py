"""Duplicate requests (issue 11) through the services, on SQLite and on Azure Tables (Azurite): a repeat of an
open request's email makes no second prospect, an organization that applied before or is a partner flags the new
prospect (and the lead's note says so), a requester who already signs in for a partner is flagged at intake."""
from __future__ import annotations

import uuid

import pytest

from shared.adapters.clock import ManualClock
from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.email_templates import SIGNUP_RECEIVED, SIGNUP_REPEAT
from shared.domain.ids import prospect_id_for
from shared.domain.model import ProspectStatus, SignupRecord, SignupStatus
from shared.domain.signup import SignupRequest
from shared.services.duplicates import REPEAT_ACTION
from shared.services.leads import lead_draft
from tests.services.flow import signup_body, work
from tests.services.partners import approved_partner


def build(tmp_path, backend: str, request, **environ: str) -> Container:
    settings = {"PUBLIC_BASE_URL": "https://b2b.contoso.example", **environ}
    if backend == "azure":
        unique = uuid.uuid4().hex[:12]
        settings |= {"STATE_BACKEND": "azure", "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
                     "STATE_TABLE": f"state{unique}", "LEAD_QUEUE": f"leads-{unique}",
                     "OUTCOME_QUEUE": f"outcomes-{unique}", "EMAIL_QUEUE": f"emails-{unique}"}
    return Container.build(Settings.from_env(settings, data_dir=tmp_path), clock=ManualClock())


@pytest.fixture(params=["sqlite", "azure"])
def c(request, tmp_path):
    container = build(tmp_path, request.param, request)
    yield container
    for adapter in (container.store, container.queue, container.sales):
        adapter.close()


def prospects(c: Container):
    return c.operator.prospects()


def emails(c: Container, template: str):
    return [e for e in c.operator.emails() if e.template == template]


def submit(c: Container, body: dict):
    """A second later than the one before: requests are taken in the order they came."""
    c.clock.advance(1)
    return c.intake.submit(body)


def same_person(n: int, email: str, **company) -> dict:
    body = signup_body(n)
    body["contact"]["email"] = email
    body["company"].update(company)
    return body


def test_a_repeat_of_an_open_prospects_email_is_linked_not_a_second_prospect(c):
    first = submit(c, signup_body(1))
    c.channel_sync.run()
    [prospect] = prospects(c)
    # Another company name, the email in another case: the same requester (the whole address is folded).
    repeat = submit(c, same_person(2, "PERSON1@example.com"))
    assert repeat.created and repeat.status == "pending" and repeat.signup_id != first.signup_id
    c.channel_sync.run()
    assert [p.number for p in prospects(c)] == [prospect.number]  # no second prospect, no second lead

    with c.store.unit_of_work(read_only=True) as uow:
        kept = uow.get_signup(repeat.signup_id)
        history = uow.history(prospect.id)
    assert kept.status is SignupStatus.REPEAT and kept.repeat_of == first.signup_id
    [line] = [h for h in history if h.action == REPEAT_ACTION]
    assert line.detail == f"request {repeat.signup_id}"  # no name, no email
    assert "person1" not in line.detail.lower()
    # Its status page works and shows what any request's does at first (nothing about the first one).
    view = c.signup_status.status(repeat.signup_id)
    assert view.status == "received" and [name for name, _ in view.steps] == ["received"]
    # The requester (only they read their mail) gets the first request's status link.
    [email] = emails(c, SIGNUP_REPEAT)
    assert email.to == "PERSON1@example.com"
    assert email.values["statusurl"] == f"https://b2b.contoso.example/api/signups/{first.signup_id}"
    assert [e.to for e in emails(c, SIGNUP_RECEIVED)] == ["person1@example.com"]  # the repeat got no "received"


def test_a_repeat_before_the_first_is_synced_and_after_it_is_decided(c):
    first = submit(c, signup_body(1))
    submit(c, same_person(2, "person1@example.com"))  # the first is not a prospect yet: still open
    c.channel_sync.run()
    [prospect] = prospects(c)
    assert prospect.signup_id == first.signup_id
    with c.store.unit_of_work(read_only=True) as uow:
        assert [h.action for h in uow.history(prospect.id)].count(REPEAT_ACTION) == 1
    c.back_office.reject(prospect.number, "alice", "not now")
    again = submit(c, same_person(3, "person1@example.com"))  # decided: a new request stands on its own
    c.channel_sync.run()
    assert len(prospects(c)) == 2
    assert c.signup_status.status(again.signup_id).status == "prospect_created"


def test_two_requests_of_one_email_the_intake_could_not_see_together_make_one_prospect(c):
    """Two instances taking the same email at once (Azure Tables does not serialize them): the sync links the later."""
    now = c.clock.now()
    records = [SignupRecord(id=f"signup-{n}", received_at=now, request=SignupRequest.model_validate(signup_body(n)),
                            request_fingerprint=str(n)) for n in (1, 2)]
    records[1] = records[1].model_copy(update={"request": SignupRequest.model_validate(same_person(2, "person1@example.com"))})
    for record in records:
        with c.store.unit_of_work() as uow:
            uow.add_signup(record)
    c.channel_sync.run()
    [prospect] = prospects(c)
    assert prospect.signup_id == "signup-1"
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup("signup-2").status is SignupStatus.REPEAT
    assert [e.values["statusurl"] for e in emails(c, SIGNUP_REPEAT)] == \
        ["https://b2b.contoso.example/api/signups/signup-1"]


def test_the_same_organization_flags_the_new_prospect_and_the_leads_note_says_so(c):
    submit(c, same_person(1, "anna@fabrikam.example", name="Fabrikam AB", registration_number="556677-8899"))
    submit(c, same_person(2, "bo@fabrikam.example", name="Fabrikam Nordic", registration_number="5566778899"))
    submit(c, same_person(3, "cy@other.example", name="FABRIKAM", vat_number="SE556677889901"))
    submit(c, same_person(4, "di@other.example", name="Fabrikam", vat_number="se 5566 7788 9901"))
    submit(c, same_person(5, "ed@unrelated.example", name="Contoso AB"))
    c.channel_sync.run()
    by_company = {p.request.company.name: p for p in prospects(c)}
    assert not by_company["Fabrikam AB"].needs_attention
    assert by_company["Fabrikam Nordic"].possible_duplicate_of == ["PRO-000001"]  # registration number, compacted
    assert by_company["FABRIKAM"].possible_duplicate_of == ["PRO-000001"]  # name + country, without "AB"
    assert by_company["Fabrikam"].possible_duplicate_of == ["PRO-000001", "PRO-000003"]  # name; VAT of PRO-000003
    assert by_company["Fabrikam"].attention_reason == "possible duplicate of PRO-000001 / PRO-000003"
    assert not by_company["Contoso AB"].needs_attention
    # The lead's timeline note in Sales (the embedded Sales here; the Dataverse stand-in in tests/integration).
    work(c)
    flagged = by_company["Fabrikam"]
    [note] = c.sales.notes(flagged.lead_id)
    assert "Possible duplicate of PRO-000001 / PRO-000003" in note["notetext"]
    [plain] = c.sales.notes(by_company["Contoso AB"].lead_id)
    assert "duplicate" not in plain["notetext"].lower()
    with c.store.unit_of_work(read_only=True) as uow:
        assert any(h.action == "flagged" and "PRO-000001" in h.detail for h in uow.history(flagged.id))


def test_an_organization_that_is_a_partner_and_a_requester_who_signs_in_for_one_are_flagged(c):
    hierarchy, _admin = approved_partner(c, 1)  # Company 1 & Sons, person1@example.com its Admin
    submit(c, same_person(7, "someone@else.example", name="Company 1 & Sons"))
    submit(c, same_person(8, "person1@example.com", name="Another Business"))
    c.channel_sync.run()
    by_company = {p.request.company.name: p for p in prospects(c) if p.status is ProspectStatus.PENDING}
    assert by_company["Company 1 & Sons"].attention_reason == f"possible duplicate of {hierarchy}"
    assert by_company["Another Business"].attention_reason == f"requester already a user of {hierarchy}"
    assert by_company["Another Business"].requester_user_of == [hierarchy]
    assert f"already signs in as a user of {hierarchy}" in lead_draft(by_company["Another Business"]).timeline_note


def test_a_request_of_another_country_or_without_keys_in_common_is_not_flagged(c):
    submit(c, same_person(1, "a@one.example", name="Fabrikam AB"))
    body = same_person(2, "b@two.example", name="Fabrikam AB")
    body["company"]["address"]["country"] = "NO"
    submit(c, body)
    c.channel_sync.run()
    assert [p.needs_attention for p in prospects(c)] == [False, False]


def test_the_repeats_history_line_waits_under_the_id_the_first_prospect_gets(c):
    first = submit(c, signup_body(1))
    submit(c, same_person(2, "person1@example.com"))
    with c.store.unit_of_work(read_only=True) as uow:
        assert [h.action for h in uow.history(prospect_id_for(first.signup_id))] == [REPEAT_ACTION]


def test_a_partner_onboarded_by_hand_is_found_by_its_organizations_name(c):
    from tests.services.partners import customers

    org, anna, _bo = customers(c)  # Fabrikam AB in SE, as the ERP knows it
    onboarded = c.partner_onboarding.onboard({"operator": "alice", "organizationCustomerId": org.id,
                                              "members": [{"customerId": anna.id, "role": "Admin"}]})
    submit(c, same_person(1, "new@fabrikam.example", name="FABRIKAM"))
    c.channel_sync.run()
    [prospect] = prospects(c)
    assert prospect.possible_duplicate_of == [onboarded.hierarchy.id]
