"""The Store port's contract for the duplicate checks and the email confirmation (issue 11): signups found by a
duplicate key, the awaiting ones by their age, and an unconfirmed signup deleted with what was written with it.

Runs on every Store adapter (the builders of test_store_contract)."""
from __future__ import annotations

from shared.domain.duplicates import index_key, organization_keys, requester_key
from shared.domain.ids import derived_id, prospect_id_for
from shared.domain.model import SignupStatus
from shared.ports import EmailQuery
from shared.services.notifications import queue_email
from tests.contract.factories import at, signup_record
from tests.contract.test_store_contract import harness, store  # noqa: F401 - fixtures


def _same_email(n: int, like: int, **changes):
    """Signup ``n`` with the requester email of signup ``like`` (in another case: the key folds it)."""
    record = signup_record(n, **changes)
    contact = record.request.contact.model_copy(update={"email": f"ASA{like}@example.com"})
    request = record.request.model_copy(update={"contact": contact})
    return record.model_copy(update={"request": request})


def test_signups_are_found_by_a_duplicate_key_oldest_first(store):
    with store.unit_of_work() as uow:
        uow.add_signup(_same_email(3, like=1, received=at(30)))
        uow.add_signup(signup_record(2))
        uow.add_signup(signup_record(1, received=at(10)))
    key = index_key(requester_key(signup_record(1).request))
    with store.unit_of_work(read_only=True) as uow:
        assert [s.id for s in uow.signups_with_key(key, 10)] == ["signup-0001", "signup-0003"]
        assert [s.id for s in uow.signups_with_key(key, 1)] == ["signup-0001"]
        assert [s.id for s in uow.signups_with_key(key, 10, excluding="signup-0001")] == ["signup-0003"]
        assert uow.signups_with_key(index_key("email:nobody@example.com"), 10) == []
        # The organization keys too: signup 2 is another company ("Company 2 & Söner <AB>").
        [name] = organization_keys(signup_record(2).request)
        assert [s.id for s in uow.signups_with_key(index_key(name), 10)] == ["signup-0002"]


def test_awaiting_signups_are_listed_by_age_until_confirmed(store):
    awaiting = SignupStatus.AWAITING_CONFIRMATION
    with store.unit_of_work() as uow:
        uow.add_signup(signup_record(1, received=at(10), status=awaiting))
        uow.add_signup(signup_record(2, received=at(20), status=awaiting))
        uow.add_signup(signup_record(3, received=at(5)))  # received (no confirmation asked): never listed
    with store.unit_of_work(read_only=True) as uow:
        assert [s.id for s in uow.signups_awaiting_confirmation(at(21), 10)] == ["signup-0001", "signup-0002"]
        assert [s.id for s in uow.signups_awaiting_confirmation(at(20), 10)] == ["signup-0001"]
        assert [s.id for s in uow.signups_awaiting_confirmation(at(21), 1)] == ["signup-0001"]
        first = uow.get_signup("signup-0001")
    with store.unit_of_work() as uow:  # confirmed: the sync's to take now, no longer awaiting
        uow.save_signup(first.model_copy(update={"status": SignupStatus.RECEIVED, "confirmed_at": at(15)}))
    with store.unit_of_work() as uow:
        assert [s.id for s in uow.signups_awaiting_confirmation(at(99), 10)] == ["signup-0002"]
        assert [s.id for s in uow.pending_signups(10)] == ["signup-0003", "signup-0001"]


def test_an_awaiting_signup_is_never_pending_for_the_sync(store):
    with store.unit_of_work() as uow:
        uow.add_signup(signup_record(1, status=SignupStatus.AWAITING_CONFIRMATION))
    with store.unit_of_work() as uow:
        assert uow.pending_signups(10) == []
    with store.unit_of_work(read_only=True) as uow:  # and a sync that looked did not lose it from its index
        assert [s.id for s in uow.signups_awaiting_confirmation(at(99), 10)] == ["signup-0001"]


def test_deleting_a_signup_removes_it_its_keys_and_its_emails(store):
    """The one ``delete_signup``: an unconfirmed request expiring, and erasure of a request (retention, or with
    its applicant's prospect) — an awaiting one and one waiting for the sync alike."""
    record = signup_record(1, status=SignupStatus.AWAITING_CONFIRMATION, key="form-1")
    other = _same_email(2, like=1)
    waiting = signup_record(3, key="form-3")  # RECEIVED: the sync's pending mark finds it
    aggregate = prospect_id_for(record.id)
    with store.unit_of_work() as uow:
        uow.add_signup(record)
        uow.add_signup(other)
        uow.add_signup(waiting)
        queue_email(uow, template="signup_confirm", to="asa1@example.com", language="sv", values={"x": "y"},
                    email_id=derived_id("email", record.id, "signup_confirm"), aggregate_id=aggregate,
                    prospect_id=aggregate, email_queue="emails", now=at(1))
    with store.unit_of_work() as uow:
        uow.delete_signup(record.id)
        uow.delete_signup(waiting.id)
        uow.delete_signup("no-such-signup")  # nothing to do
    key = index_key(requester_key(record.request))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(record.id) is None
        assert uow.find_signup_by_idempotency_key(record.idempotency_key_hash) is None
        assert [s.id for s in uow.signups_with_key(key, 10)] == ["signup-0002"]
        assert uow.signups_awaiting_confirmation(at(99), 10) == []
        assert uow.prospect_emails(aggregate) == []
        assert uow.get_email(derived_id("email", record.id, "signup_confirm")) is None
        assert [m.aggregate_id for m in uow.pending_outbox_messages(None, 10)] == []
        assert uow.get_signup(waiting.id) is None and uow.find_signup_by_idempotency_key(waiting.idempotency_key_hash) is None
        assert [s.id for s in uow.pending_signups(10)] == ["signup-0002"]
        assert uow.email_page(EmailQuery(), 10) == []


def test_partners_are_found_by_a_duplicate_key_in_number_order(store):
    from tests.contract.factories import hierarchy

    with store.unit_of_work() as uow:
        for hierarchy_id in ("CH-000010", "CH-000002"):
            uow.save_hierarchy(hierarchy(hierarchy_id, None, name="Fabrikam AB"))
            uow.index_partner(index_key("name:SE:fabrikam"), hierarchy_id)
        uow.index_partner(index_key("name:SE:fabrikam"), "CH-000099")  # a partner that never committed
    with store.unit_of_work(read_only=True) as uow:
        assert [h.id for h in uow.partners_with_key(index_key("name:SE:fabrikam"), 10)] == ["CH-000002", "CH-000010"]
        assert [h.id for h in uow.partners_with_key(index_key("name:SE:fabrikam"), 1)] == ["CH-000002"]
        assert uow.partners_with_key(index_key("name:NO:fabrikam"), 10) == []
