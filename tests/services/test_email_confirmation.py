"""The double opt-in (REQUIRE_EMAIL_CONFIRMATION, issue 11) through the services, on SQLite and on Azurite: a
request waits for its signed link, only a confirmed one becomes a prospect, links that are tampered, expired or
reused say so, and the sync deletes what was never confirmed (with a pseudonymized audit line)."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from shared.domain.audit import AuditAction
from shared.domain.email_templates import SIGNUP_CONFIRM, SIGNUP_RECEIVED, SIGNUP_REPEAT
from shared.domain.errors import NotFound
from shared.domain.ids import prospect_id_for
from shared.domain.model import SignupStatus
from shared.services.email_confirmation import LinkState
from tests.services.flow import signup_body
from tests.services.test_intake_duplicates import build, emails, prospects, same_person, submit

HOURS = 48


@pytest.fixture(params=["sqlite", "azure"])
def c(request, tmp_path):
    container = build(tmp_path, request.param, request, REQUIRE_EMAIL_CONFIRMATION="true",
                      SIGNUP_LINK_SECRET="a-test-secret-of-enough-length-0123456789")
    yield container
    for adapter in (container.store, container.queue, container.sales):
        adapter.close()


def link_of(c, signup_id: str) -> tuple[str, str, str]:
    """The (id, expires, signature) of the link in the request's confirm email."""
    [email] = [e for e in emails(c, SIGNUP_CONFIRM) if signup_id in e.values["confirmurl"]]
    url = email.values["confirmurl"]
    assert url.startswith("https://b2b.contoso.example/api/signup/confirm/")
    signup, expires, signature = urlsplit(url).path.split("/")[-3:]
    return signup, expires, signature


def test_a_request_waits_for_its_link_and_becomes_a_prospect_once_confirmed(c):
    receipt = submit(c, signup_body(1, language="sv"))
    assert receipt.status == "awaiting_confirmation"
    assert emails(c, SIGNUP_RECEIVED) == []  # the confirm email replaces it
    [email] = emails(c, SIGNUP_CONFIRM)
    assert email.to == "person1@example.com" and email.language == "sv"
    assert c.signup_status.status(receipt.signup_id).status == "awaiting_confirmation"
    c.channel_sync.run()
    assert prospects(c) == []  # not confirmed: never a prospect, never a lead

    link = link_of(c, receipt.signup_id)
    assert c.email_confirmation.look(*link).state is LinkState.READY  # opening the link confirms nothing
    assert c.email_confirmation.look(*link).state is LinkState.READY
    done = c.email_confirmation.confirm(*link)
    assert done.state is LinkState.CONFIRMED and done.signup_id == receipt.signup_id
    assert c.email_confirmation.confirm(*link).state is LinkState.ALREADY  # reused: fine, and said so
    assert c.email_confirmation.look(*link).state is LinkState.ALREADY
    c.channel_sync.run()
    [prospect] = prospects(c)
    assert prospect.signup_id == receipt.signup_id
    assert c.signup_status.status(receipt.signup_id).status == "prospect_created"


def test_a_tampered_or_foreign_link_is_invalid_and_an_old_one_expired(c):
    receipt = submit(c, signup_body(1))
    signup, expires, signature = link_of(c, receipt.signup_id)
    other = submit(c, signup_body(2))
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for link in [(signup, expires, flipped), (signup, str(int(expires) + 3600), signature),
                 (other.signup_id, expires, signature), (signup, "soon", signature), ("no-such", expires, signature)]:
        assert c.email_confirmation.look(*link).state is LinkState.INVALID, link
        assert c.email_confirmation.confirm(*link).state is LinkState.INVALID, link
    c.clock.advance(HOURS * 3600)
    assert c.email_confirmation.confirm(signup, expires, signature).state is LinkState.EXPIRED
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(signup).status is SignupStatus.AWAITING_CONFIRMATION


def test_unconfirmed_requests_are_deleted_by_the_sync_once_their_link_expired(c):
    old = submit(c, signup_body(1))
    c.clock.advance(HOURS * 3600 - 10)
    young = submit(c, signup_body(2))
    confirmed = submit(c, signup_body(3))
    c.email_confirmation.confirm(*link_of(c, confirmed.signup_id))
    old_link = link_of(c, old.signup_id)
    c.clock.advance(20)  # the first link is 48 h and 10 s old now
    report = c.channel_sync.run()
    assert report.prospects_created == 1
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(old.signup_id) is None
        assert uow.prospect_emails(prospect_id_for(old.signup_id)) == []  # its confirm email went with it
        assert uow.get_signup(young.signup_id).status is SignupStatus.AWAITING_CONFIRMATION
        audit = uow.audit_entries(10)
    assert [e.to for e in emails(c, SIGNUP_CONFIRM)] == ["person2@example.com", "person3@example.com"]
    [entry] = [e for e in audit if e.action is AuditAction.EXPIRE_UNCONFIRMED]
    assert entry.signup_id == old.signup_id and entry.operator == "channel-sync"
    assert "person1" not in entry.model_dump_json().lower() and "First1" not in entry.model_dump_json()
    assert c.email_confirmation.look(*old_link).state is LinkState.EXPIRED
    assert c.email_confirmation.confirm(*old_link).state is LinkState.EXPIRED
    with pytest.raises(NotFound):
        c.signup_status.status(old.signup_id)  # gone: the status page says it cannot find it


def test_a_repeat_while_confirmation_is_on_looks_like_any_request_and_expires_like_one(c):
    first = submit(c, signup_body(1))
    c.email_confirmation.confirm(*link_of(c, first.signup_id))
    repeat = submit(c, same_person(2, "person1@example.com"))
    assert repeat.status == "awaiting_confirmation"  # the same answer as any accepted request
    assert c.signup_status.status(repeat.signup_id).status == "awaiting_confirmation"
    [email] = emails(c, SIGNUP_REPEAT)  # no confirm link: the first one's status link instead
    assert email.values["statusurl"].endswith(f"/api/signups/{first.signup_id}")
    assert len(emails(c, SIGNUP_CONFIRM)) == 1
    c.channel_sync.run()
    assert len(prospects(c)) == 1
    c.clock.advance(HOURS * 3600 + 1)
    c.channel_sync.run()
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(repeat.signup_id) is None


def test_an_unconfirmed_request_does_not_hold_back_the_real_requesters(c):
    """Anyone can type someone else's email: a request awaiting confirmation is no "open request" of it."""
    squatter = submit(c, same_person(1, "person2@example.com"))
    real = submit(c, signup_body(2))
    assert [e.to for e in emails(c, SIGNUP_CONFIRM)] == ["person2@example.com", "person2@example.com"]
    c.email_confirmation.confirm(*link_of(c, real.signup_id))
    c.channel_sync.run()
    [prospect] = prospects(c)
    assert prospect.signup_id == real.signup_id
    # The squatter's link, confirmed later by the mailbox's owner, finds their request open: a repeat.
    assert c.email_confirmation.confirm(*link_of(c, squatter.signup_id)).state is LinkState.CONFIRMED
    c.channel_sync.run()
    assert len(prospects(c)) == 1
    with c.store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(squatter.signup_id).status is SignupStatus.REPEAT
    assert len(emails(c, SIGNUP_REPEAT)) == 1
