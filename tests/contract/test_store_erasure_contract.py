"""The Store port's contract for erasure (``erase_prospect``, ``erase_history``, ``delete_email``, ``delete_signup``,
``stale_signups``): every Store adapter, the builders of test_store_contract."""
from __future__ import annotations

from shared.domain.erasure import ERASED, erased_prospect
from shared.domain.duplicates import index_keys
from shared.domain.model import EmailStatus, ProspectStatus, SignupStatus
from shared.ports import EmailQuery
from shared.domain.prospect_directory import ProspectFilter, search_prefix
from tests.contract.factories import at, email_record, history_entry, prospect, signup_record
from tests.contract.test_store_contract import harness, store  # noqa: F401 - fixtures


def _found(store, text: str) -> list[str]:
    with store.unit_of_work(read_only=True) as uow:
        rows = uow.prospect_directory(ProspectFilter(search=search_prefix(text)), newest_first=False, after=None,
                                      limit=10)
    return [row.number for row in rows]


def test_an_erased_prospect_is_found_by_no_search_on_its_old_values_and_keeps_its_number_and_status(store):
    first, second = prospect(1, status=ProspectStatus.REJECTED), prospect(2)
    with store.unit_of_work() as uow:
        uow.add_prospect(first)
        uow.add_prospect(second)
    assert _found(store, "asa1@example.com") == ["PRO-000001"]
    with store.unit_of_work() as uow:
        uow.erase_prospect(erased_prospect(first, at(50), "retention"))
    for text in ("asa1@example.com", "Company 1", "PRO-000001"):
        assert _found(store, text) == ([] if text != "PRO-000001" else ["PRO-000001"])
    assert _found(store, "asa2@example.com") == ["PRO-000002"]
    with store.unit_of_work(read_only=True) as uow:
        kept = uow.get_prospect(first.id)
        assert (kept.number, kept.status, kept.request.company.name, kept.erased_by) == (
            "PRO-000001", ProspectStatus.REJECTED, ERASED, "retention")
        assert uow.prospect_counts()["Rejected"] == 1


def test_erase_history_keeps_what_when_and_who_in_order_and_drops_the_details(store):
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
        for i in range(3):
            uow.append_history(history_entry(p.id, i))
    with store.unit_of_work() as uow:
        uow.erase_history(p.id)
    with store.unit_of_work(read_only=True) as uow:
        history = uow.history(p.id)
    assert [(h.action, h.actor, h.at, h.detail) for h in history] == [(f"action-{i}", "test", at(i), ERASED)
                                                                       for i in range(3)]


def test_a_deleted_email_is_gone_from_its_prospect_and_every_page_of_the_list(store):
    email = email_record("e-1", at(1))
    with store.unit_of_work() as uow:
        uow.add_email(email)
    with store.unit_of_work() as uow:
        uow.delete_email("e-1")
        uow.delete_email("no-such-email")
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_email("e-1") is None and uow.prospect_emails("p-1") == []
        for status in (None, *EmailStatus):
            assert uow.email_page(EmailQuery(status=status), 10) == []


def test_an_erased_prospect_is_found_by_no_duplicate_key_of_its_request(store):
    first = prospect(1, status=ProspectStatus.REJECTED)  # the prospect signup 1 became
    signup = signup_record(1).model_copy(update={"status": SignupStatus.SYNCED, "prospect_id": first.id})
    with store.unit_of_work() as uow:
        uow.add_signup(signup)
        uow.add_prospect(first)
    keys = index_keys(signup.request)
    with store.unit_of_work(read_only=True) as uow:
        assert all([s.id for s in uow.signups_with_key(key, 10)] == [signup.id] for key in keys)
    with store.unit_of_work() as uow:
        uow.erase_prospect(erased_prospect(first, at(50), "retention"))
    with store.unit_of_work(read_only=True) as uow:
        assert [key for key in keys if uow.signups_with_key(key, 10)] == []


def test_stale_signups_are_those_never_a_prospect_received_before_the_cutoff_oldest_first(store):
    with store.unit_of_work() as uow:
        for n in (3, 1, 2, 4):
            uow.add_signup(signup_record(n))
    with store.unit_of_work() as uow:  # signup 2 became a prospect
        uow.save_signup(signup_record(2).model_copy(update={"status": SignupStatus.SYNCED, "prospect_id": "p-2"}))
    with store.unit_of_work(read_only=True) as uow:
        assert [s.id for s in uow.stale_signups(at(4), 10)] == ["signup-0001", "signup-0003"]
        assert [s.id for s in uow.stale_signups(at(4), 1)] == ["signup-0001"]
