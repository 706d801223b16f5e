"""The Store port's contract: every Store adapter must pass this suite unchanged.

To add an adapter, add a builder to ``STORE_BUILDERS`` (a context manager that yields a ``StoreHarness``
on a fresh, empty store). Tests use only the methods of ``shared.ports.Store`` / ``UnitOfWork`` and,
following the port's rule, never read back in the unit of work that wrote (an adapter may buffer writes).
"""
from __future__ import annotations

import random
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Callable, ContextManager

import pytest

from shared.adapters.sqlite_store import SqliteStore
from shared.domain.errors import DuplicateRecord
from shared.domain.model import (
    CustomerType,
    EmailStatus,
    HierarchyRole,
    MemberStatus,
    ProspectStatus,
    SignupStatus,
)
from shared.ports import Store
from tests.contract.factories import (
    build_harness,
    at,
    customer,
    email_record,
    hierarchy,
    history_entry,
    member,
    outbox_message,
    prospect,
    signup_record,
)


@dataclass
class StoreHarness:
    store: Store
    # Errors an optimistic adapter raises when a unit of work lost a race (etag mismatch); the caller retries.
    conflict_errors: tuple[type[BaseException], ...] = field(default_factory=tuple)


@contextmanager
def _sqlite(tmp_path):
    store = SqliteStore(tmp_path / "store.db")
    try:
        yield StoreHarness(store)
    finally:
        store.close()


@contextmanager
def _azure_tables(tmp_path, azurite):
    # Azure Table Storage as Azurite serves it; a table of its own for each test.
    from azure.data.tables import TableServiceClient

    from shared.adapters.azure_table_store import AzureTableStore
    from shared.domain.errors import ConcurrencyConflict

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    store = AzureTableStore(service, "state" + uuid.uuid4().hex[:16])
    try:
        yield StoreHarness(store, conflict_errors=(ConcurrencyConflict,))
    finally:
        store.close()


_azure_tables.fixtures = ("azurite",)

STORE_BUILDERS: dict[str, Callable[..., ContextManager[StoreHarness]]] = {"sqlite": _sqlite, "azure": _azure_tables}


@pytest.fixture(params=sorted(STORE_BUILDERS))
def harness(request, tmp_path) -> StoreHarness:
    with build_harness(STORE_BUILDERS, request, tmp_path) as built:
        yield built


@pytest.fixture
def store(harness) -> Store:
    return harness.store


def retrying(harness: StoreHarness, work: Callable[[], object], attempts: int = 200):
    for _ in range(attempts):
        try:
            return work()
        except harness.conflict_errors:
            continue
    raise AssertionError("unit of work kept losing its race")


def racing(harness: StoreHarness, works: list[Callable[[], object]], timeout: float = 120) -> None:
    """Start every work in its own thread at the same moment, each retried while it loses its race;
    fails with the first error any of them raised."""
    start = threading.Barrier(len(works))
    errors: list[BaseException] = []

    def worker(work: Callable[[], object]) -> None:
        try:
            start.wait()
            retrying(harness, work)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(work,)) for work in works]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=timeout)
    assert not errors, errors


class Boom(Exception):
    pass


# --- signups ---------------------------------------------------------------------------------------

def test_signup_add_get_save(store):
    record = signup_record(1, key="key-1")
    with store.unit_of_work() as uow:
        uow.add_signup(record)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(record.id) == record
        assert uow.get_signup("no-such-signup") is None
    synced = record.model_copy(update={"status": SignupStatus.SYNCED, "prospect_id": "prospect-1"})
    with store.unit_of_work() as uow:
        uow.save_signup(synced)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(record.id) == synced


# Each add writes a record with an identity; a second add with that identity (two workers racing on one
# deterministic id) is refused, and the caller's retry finds the first.
SECOND_ADDS = {
    "signup": lambda uow, n: uow.add_signup(signup_record(1)),
    "prospect": lambda uow, n: uow.add_prospect(prospect(1)),
    "event": lambda uow, n: uow.record_event("p-1", "event-1", "opportunity_won", f"approved {n}"),
    "outbox message": lambda uow, n: uow.add_outbox_message(outbox_message("m-1", at(n))),
    "email": lambda uow, n: uow.add_email(email_record("e-1", at(n))),
}


@pytest.mark.parametrize("kind", sorted(SECOND_ADDS))
def test_a_second_add_with_the_same_identity_is_refused(store, kind):
    with store.unit_of_work() as uow:
        SECOND_ADDS[kind](uow, 0)
    with pytest.raises(DuplicateRecord):
        with store.unit_of_work() as uow:
            SECOND_ADDS[kind](uow, 1)


def test_signup_duplicate_idempotency_key_is_refused(store):
    """Intake relies on this: two requests racing with the same Idempotency-Key store only one signup."""
    with store.unit_of_work() as uow:
        uow.add_signup(signup_record(1, key="same-key"))
    with pytest.raises(DuplicateRecord):
        with store.unit_of_work() as uow:
            uow.add_signup(signup_record(2, key="same-key"))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(signup_record(2).id) is None


def test_signups_without_idempotency_key_coexist(store):
    with store.unit_of_work() as uow:
        uow.add_signup(signup_record(1))
        uow.add_signup(signup_record(2))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(signup_record(1).id) is not None
        assert uow.get_signup(signup_record(2).id) is not None


def test_find_signup_by_idempotency_key(store):
    first = signup_record(1, key="key-one")
    second = signup_record(2, key="key-two")
    with store.unit_of_work() as uow:
        uow.add_signup(first)
        uow.add_signup(second)
        uow.add_signup(signup_record(3))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.find_signup_by_idempotency_key(first.idempotency_key_hash) == first
        assert uow.find_signup_by_idempotency_key(second.idempotency_key_hash) == second
        assert uow.find_signup_by_idempotency_key("0" * 64) is None


def test_pending_signups_oldest_first_with_limit(store):
    numbers = [5, 2, 4, 1, 3, 6]
    with store.unit_of_work() as uow:
        for n in numbers:
            uow.add_signup(signup_record(n, received=at(n * 10)))
    synced = signup_record(2, received=at(20)).model_copy(update={"status": SignupStatus.SYNCED})
    with store.unit_of_work() as uow:
        uow.save_signup(synced)
    with store.unit_of_work(read_only=True) as uow:
        assert [s.id for s in uow.pending_signups(limit=3)] == [signup_record(n).id for n in (1, 3, 4)]
        assert [s.id for s in uow.pending_signups(limit=100)] == [signup_record(n).id for n in (1, 3, 4, 5, 6)]
        assert all(s.status is SignupStatus.RECEIVED for s in uow.pending_signups(limit=100))


def test_pending_signups_order_across_sub_second_times(store):
    """Times that differ by microseconds and whole seconds still come back in time order."""
    times = [at(1), at(0.5), at(0.000001), at(0), at(10), at(2.25)]
    with store.unit_of_work() as uow:
        for n, when in enumerate(times, start=1):
            uow.add_signup(signup_record(n, received=when))
    with store.unit_of_work(read_only=True) as uow:
        got = [s.received_at for s in uow.pending_signups(limit=100)]
    assert got == sorted(times)


# --- prospects and history -------------------------------------------------------------------------

def test_prospect_add_get_save(store):
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_prospect(p.id) == p
        assert uow.get_prospect("no-such-prospect") is None
    changed = p.with_lead(at(100)).flagged("late lost after won", at(101))
    with store.unit_of_work() as uow:
        uow.save_prospect(changed)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_prospect(p.id) == changed


def test_find_prospect_by_lead_and_number(store):
    one, two = prospect(1), prospect(2)
    with store.unit_of_work() as uow:
        uow.add_prospect(one)
        uow.add_prospect(two)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.find_prospect_by_lead(two.lead_id) == two
        assert uow.find_prospect_by_lead(two.lead_id.upper()) == two  # Dataverse GUIDs come in any case
        assert uow.find_prospect_by_lead("00000000-0000-0000-0000-000000000000") is None
        assert uow.find_prospect_by_number(one.number) == one
        assert uow.find_prospect_by_number("PRO-999999") is None


def test_find_prospect_by_lead_whatever_the_case_it_was_stored_in(request, store):
    p = prospect(1)
    p = p.model_copy(update={"lead_id": p.lead_id.upper()})
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.find_prospect_by_lead(p.lead_id) == p
        assert uow.find_prospect_by_lead(p.lead_id.lower()) == p


def test_find_prospect_by_lead_and_number_see_saved_status(store):
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    rejected = p.reject("lead disqualified", at(50), by="test")
    with store.unit_of_work() as uow:
        uow.save_prospect(rejected)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.find_prospect_by_lead(p.lead_id).status is ProspectStatus.REJECTED
        assert uow.find_prospect_by_number(p.number).status is ProspectStatus.REJECTED


def test_list_prospects_by_status(store):
    prospects = [prospect(n, created=at(100 - n)) for n in range(1, 7)]  # created in reverse number order
    with store.unit_of_work() as uow:
        for p in prospects:
            uow.add_prospect(p)
    approved = prospects[0].with_customers("person", "org", "opp", at(200)).approve("H-1", at(200), by="test")
    rejected = [p.reject("no", at(200), by="test") for p in prospects[1:3]]
    with store.unit_of_work() as uow:
        uow.save_prospect(approved)
        for p in rejected:
            uow.save_prospect(p)
    with store.unit_of_work(read_only=True) as uow:
        everything = uow.list_prospects(None, limit=100)
        assert [p.id for p in everything] == [p.id for p in sorted(prospects, key=lambda p: p.created_at)]
        assert [p.id for p in uow.list_prospects(None, limit=2)] == [p.id for p in everything[:2]]
        pending = uow.list_prospects(ProspectStatus.PENDING, limit=100)
        assert [p.number for p in pending] == ["PRO-000006", "PRO-000005", "PRO-000004"]
        assert all(p.status is ProspectStatus.PENDING for p in pending)
        assert [p.number for p in uow.list_prospects(ProspectStatus.PENDING, limit=1)] == ["PRO-000006"]
        assert [p.id for p in uow.list_prospects(ProspectStatus.APPROVED, limit=100)] == [approved.id]
        assert {p.id for p in uow.list_prospects(ProspectStatus.REJECTED, limit=100)} == {p.id for p in rejected}


def test_history_in_append_order_per_prospect(store):
    one, two = prospect(1), prospect(2)
    with store.unit_of_work() as uow:
        uow.add_prospect(one)
        uow.add_prospect(two)
        uow.append_history(history_entry(one.id, 3))
        uow.append_history(history_entry(two.id, 1))
        uow.append_history(history_entry(one.id, 1))  # an earlier `at` appended later stays later
    with store.unit_of_work() as uow:
        uow.append_history(history_entry(one.id, 2))
    with store.unit_of_work(read_only=True) as uow:
        assert [e.action for e in uow.history(one.id)] == ["action-3", "action-1", "action-2"]
        assert uow.history(two.id) == [history_entry(two.id, 1)]
        assert uow.history("nobody") == []


def test_history_keeps_many_entries_in_order(store):
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    for chunk in range(5):
        with store.unit_of_work() as uow:
            for i in range(chunk * 20, chunk * 20 + 20):
                uow.append_history(history_entry(p.id, i))
    with store.unit_of_work(read_only=True) as uow:
        assert [e.action for e in uow.history(p.id)] == [f"action-{i}" for i in range(100)]


# --- customers, hierarchies, members ---------------------------------------------------------------

def test_customer_save_get_upsert(store):
    person = customer("c-1")
    organization = customer("c-2", CustomerType.ORGANIZATION, name="Company AB")
    with store.unit_of_work() as uow:
        uow.save_customer(person)
        uow.save_customer(organization)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer("c-1") == person
        assert uow.get_customer("c-2") == organization
        assert uow.get_customer("c-3") is None
    renamed = person.model_copy(update={"name": "Åsa Berg", "email": "asa.berg@example.com"})
    with store.unit_of_work() as uow:
        uow.save_customer(renamed)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_customer("c-1") == renamed


def test_hierarchy_save_get_find_by_prospect(store):
    h = hierarchy("H-000001", "prospect-1")
    with store.unit_of_work() as uow:
        uow.save_hierarchy(h)
        uow.save_hierarchy(hierarchy("H-000002", None))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_hierarchy("H-000001") == h
        assert uow.find_hierarchy_by_prospect("prospect-1") == h
        assert uow.find_hierarchy_by_prospect("prospect-2") is None
        assert uow.get_hierarchy("H-000003") is None
    renamed = h.model_copy(update={"name": "Renamed AB"})
    with store.unit_of_work() as uow:
        uow.save_hierarchy(renamed)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_hierarchy("H-000001") == renamed
        assert uow.find_hierarchy_by_prospect("prospect-1") == renamed


def test_one_hierarchy_per_prospect(store):
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("H-000001", "prospect-1"))
    for looked_up_first in (False, True):
        with pytest.raises(DuplicateRecord):
            with store.unit_of_work() as uow:
                if looked_up_first:
                    assert uow.find_hierarchy_by_prospect("prospect-1").id == "H-000001"
                uow.save_hierarchy(hierarchy("H-000002", "prospect-1"))
    with store.unit_of_work() as uow:  # the prospect's own hierarchy saves again
        found = uow.find_hierarchy_by_prospect("prospect-1")
        uow.save_hierarchy(found.model_copy(update={"name": "Renamed AB"}))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.find_hierarchy_by_prospect("prospect-1").name == "Renamed AB"
        assert uow.get_hierarchy("H-000002") is None


def test_list_hierarchies_in_number_order(store):
    with store.unit_of_work() as uow:
        for hierarchy_id, prospect_id in (("CH-000010", None), ("CH-000002", "p-2"), ("CH-1000000", None),
                                          ("CH-000001", "p-1")):
            uow.save_hierarchy(hierarchy(hierarchy_id, prospect_id))
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000002", "p-2", name="Renamed AB"))  # saved again: listed once
    with store.unit_of_work(read_only=True) as uow:
        listed = uow.list_hierarchies(limit=100)
        assert [h.id for h in listed] == ["CH-000001", "CH-000002", "CH-000010", "CH-1000000"]
        assert listed[1].name == "Renamed AB" and listed[1].prospect_id == "p-2"
        assert [h.id for h in uow.list_hierarchies(limit=2)] == ["CH-000001", "CH-000002"]


def test_members_upsert_by_hierarchy_and_customer(store):
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("H-1", "p-1"))
        uow.save_hierarchy(hierarchy("H-2", "p-2"))
        uow.save_member(member("H-1", "c-admin", HierarchyRole.ADMIN, MemberStatus.PENDING))
        uow.save_member(member("H-2", "c-other"))
    with store.unit_of_work() as uow:
        uow.save_member(member("H-1", "c-admin", HierarchyRole.ADMIN, MemberStatus.ACTIVE))
        uow.save_member(member("H-1", "c-user", HierarchyRole.USER, MemberStatus.PENDING))
    with store.unit_of_work(read_only=True) as uow:
        members = {m.customer_id: m for m in uow.members("H-1")}
        assert set(members) == {"c-admin", "c-user"}
        assert members["c-admin"].status is MemberStatus.ACTIVE
        assert members["c-admin"].role is HierarchyRole.ADMIN
        assert members["c-user"] == member("H-1", "c-user", HierarchyRole.USER, MemberStatus.PENDING)
        assert [m.customer_id for m in uow.members("H-2")] == ["c-other"]
        assert uow.members("H-3") == []


# --- number sequences ------------------------------------------------------------------------------

def test_numbers_increment_per_sequence_and_belong_to_their_owner(store):
    with store.unit_of_work() as uow:
        first = [uow.number_for("prospect", "a"), uow.number_for("prospect", "b")]
        other = uow.number_for("hierarchy", "a")
    with store.unit_of_work() as uow:
        later = uow.number_for("prospect", "c")
        again = uow.number_for("prospect", "a")
        other_later = uow.number_for("hierarchy", "b")
    assert first == [1, 2] and later == 3 and again == 1
    assert (other, other_later) == (1, 2)


def test_an_owner_whose_unit_of_work_failed_keeps_no_number_from_anyone_else(store):
    with store.unit_of_work() as uow:
        assert uow.number_for("prospect", "a") == 1
    with pytest.raises(Boom):
        with store.unit_of_work() as uow:
            assert uow.number_for("prospect", "b") == 2
            raise Boom
    with store.unit_of_work() as uow:
        # The failed owner retries: it gets 2 again (the claim rolled back, or it stayed its own).
        assert uow.number_for("prospect", "b") == 2
        assert uow.number_for("prospect", "c") == 3


def test_numbers_are_gap_free_and_unique_under_concurrency(harness):
    """8 threads take numbers for 50 owners each; now and then a unit of work fails after taking one
    and its owner retries later, as the sync does with a signup that stays pending."""
    store = harness.store
    threads, per_thread = 8, 50
    results: list[dict[str, int]] = [{} for _ in range(threads)]
    failed = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        rng = random.Random(index)
        try:
            start.wait()
            owners = [f"owner-{index}-{n}" for n in range(per_thread)]
            while owners:
                owner = owners.pop(0)
                if rng.random() < 0.1:
                    try:
                        with store.unit_of_work() as uow:
                            uow.number_for("concurrent", owner)
                            raise Boom
                    except Boom:
                        failed[index] += 1
                    except harness.conflict_errors:
                        pass
                    owners.append(owner)  # retried later
                    continue

                def take(owner=owner) -> int:
                    with store.unit_of_work() as uow:
                        return uow.number_for("concurrent", owner)

                results[index][owner] = retrying(harness, take)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(failed) > 0
    taken = sorted(n for chunk in results for n in chunk.values())
    assert taken == list(range(1, threads * per_thread + 1))


# --- idempotency of events -------------------------------------------------------------------------

def test_event_seen_after_record(store):
    with store.unit_of_work(read_only=True) as uow:
        assert not uow.event_seen("p-1", "event-1")
    with store.unit_of_work() as uow:
        uow.record_event("p-1", "event-1", "opportunity_won", "approved")
    with store.unit_of_work(read_only=True) as uow:
        assert uow.event_seen("p-1", "event-1")
        assert not uow.event_seen("p-1", "event-2")


def test_events_are_scoped_to_their_aggregate(store):
    with store.unit_of_work() as uow:
        uow.record_event("p-1", "event-1", "opportunity_won", "approved")
    with store.unit_of_work(read_only=True) as uow:
        assert uow.event_seen("p-1", "event-1") and not uow.event_seen("p-2", "event-1")


# --- watermarks ------------------------------------------------------------------------------------

def test_watermark_is_none_until_set_then_reads_back_exactly(store):
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_watermark("sales-decisions") is None
    moment = at(0) + timedelta(microseconds=123456)
    with store.unit_of_work() as uow:
        assert uow.get_watermark("sales-decisions") is None
        uow.set_watermark("sales-decisions", moment)
    with store.unit_of_work(read_only=True) as uow:
        read = uow.get_watermark("sales-decisions")
    assert read == moment and read.utcoffset() == timedelta(0)


def test_watermark_set_again_replaces_it_and_names_are_independent(store):
    with store.unit_of_work() as uow:
        uow.set_watermark("a", at(10))
        uow.set_watermark("b/with#odd?chars", at(20))
    with store.unit_of_work() as uow:
        assert uow.get_watermark("a") == at(10)
        uow.set_watermark("a", at(30))
    with store.unit_of_work() as uow:
        uow.set_watermark("b/with#odd?chars", at(5))  # a blind set (not read first) may move it anywhere
    with store.unit_of_work(read_only=True) as uow:
        assert (uow.get_watermark("a"), uow.get_watermark("b/with#odd?chars")) == (at(30), at(5))
        assert uow.get_watermark("c") is None


def test_watermark_of_a_failed_unit_of_work_is_not_kept(store):
    with store.unit_of_work() as uow:
        uow.set_watermark("a", at(10))
    with pytest.raises(Boom):
        with store.unit_of_work() as uow:
            uow.get_watermark("a")
            uow.set_watermark("a", at(20))
            uow.set_watermark("new", at(20))
            raise Boom
    with store.unit_of_work(read_only=True) as uow:
        assert (uow.get_watermark("a"), uow.get_watermark("new")) == (at(10), None)


def test_concurrent_advances_never_move_the_watermark_back(harness):
    """Read, then set the later of the two: racing units of work end with the latest value, whichever
    committed last (the losers of a race fail and run again, as the port allows)."""
    store = harness.store
    threads = 8
    values = [at(s) for s in random.Random(7).sample(range(1000), threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def advance(value) -> None:
        with store.unit_of_work() as uow:
            current = uow.get_watermark("race")
            if current is None or value > current:
                uow.set_watermark("race", value)

    def worker(value) -> None:
        try:
            start.wait()
            for _ in range(200):
                try:
                    return advance(value)
                except (DuplicateRecord, *harness.conflict_errors):
                    continue
            raise AssertionError("unit of work kept losing its race")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(v,)) for v in values]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_watermark("race") == max(values)


# --- transactional outbox --------------------------------------------------------------------------

def test_outbox_pending_in_creation_order_and_mark_sent(store):
    messages = [outbox_message(f"m-{i}", at(s)) for i, s in enumerate([20, 0, 10, 30])]
    with store.unit_of_work() as uow:
        for m in messages:
            uow.add_outbox_message(m)
    with store.unit_of_work(read_only=True) as uow:
        pending = uow.pending_outbox_messages(None, limit=100)
        assert [m.id for m in pending] == ["m-1", "m-2", "m-0", "m-3"]
        assert pending[0] == messages[1]
        assert [m.id for m in uow.pending_outbox_messages(None, limit=2)] == ["m-1", "m-2"]
    with store.unit_of_work() as uow:
        uow.mark_outbox_sent(messages[2], at(40))
    with store.unit_of_work() as uow:
        uow.mark_outbox_sent(messages[2], at(50))  # again: harmless
    with store.unit_of_work(read_only=True) as uow:
        assert [m.id for m in uow.pending_outbox_messages(None, limit=100)] == ["m-1", "m-0", "m-3"]


def test_outbox_pending_older_than(store):
    with store.unit_of_work() as uow:
        for i, s in enumerate([0, 10, 20, 30.5]):
            uow.add_outbox_message(outbox_message(f"m-{i}", at(s)))
    with store.unit_of_work(read_only=True) as uow:
        assert [m.id for m in uow.pending_outbox_messages(at(15), limit=100)] == ["m-0", "m-1"]
        assert [m.id for m in uow.pending_outbox_messages(at(30), limit=100)] == ["m-0", "m-1", "m-2"]
        assert [m.id for m in uow.pending_outbox_messages(at(-1), limit=100)] == []
        assert [m.id for m in uow.pending_outbox_messages(at(3600), limit=1)] == ["m-0"]
        assert len(uow.pending_outbox_messages(at(31), limit=100)) == 4


def test_outbox_keeps_body_and_queue_exactly(store):
    body = '{"schema":"deliver-email","version":1,"email_id":"é 😀 \\u2028"}' + " " * 3 + "\n"
    message = outbox_message("m-1", at(0), queue="deliver-email", body=body)
    with store.unit_of_work() as uow:
        uow.add_outbox_message(message)
    with store.unit_of_work(read_only=True) as uow:
        (got,) = uow.pending_outbox_messages(None, limit=10)
    assert got == message
    assert got.created_at.utcoffset() == timedelta(0)


def test_a_message_a_losing_racer_added_again_is_pending_once_and_marked_sent(store):
    """Two writers add one message (one id, each its own clock); the loser's unit of work fails, but what
    it wrote before its transaction (an adapter's index entry) must not make the message pending twice,
    nor fail the relay that marks it sent twice in one unit of work."""
    message = outbox_message("m-1", at(0))
    with store.unit_of_work() as uow:
        uow.add_outbox_message(message)
    with pytest.raises(DuplicateRecord):
        with store.unit_of_work() as uow:
            uow.add_outbox_message(outbox_message("m-1", at(5)))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.pending_outbox_messages(None, limit=10) == [message]
    with store.unit_of_work() as uow:
        assert uow.pending_outbox_messages(None, limit=10) == [message]
    with store.unit_of_work() as uow:  # a relay given the message twice marks it twice
        uow.mark_outbox_sent(message, at(10))
        uow.mark_outbox_sent(message, at(10))
    with store.unit_of_work() as uow:
        assert uow.pending_outbox_messages(None, limit=10) == []


# --- emails ----------------------------------------------------------------------------------------

def test_email_add_get_save(store):
    email = email_record("e-1", at(0))
    with store.unit_of_work() as uow:
        uow.add_email(email)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_email("e-1") == email
        assert uow.get_email("e-2") is None
    delivered = email.model_copy(update={"status": EmailStatus.DELIVERED, "attempts": 2, "delivered_at": at(5),
                                         "last_error": None})
    with store.unit_of_work() as uow:
        uow.save_email(delivered)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_email("e-1") == delivered


def test_list_emails_and_pending_only(store):
    with store.unit_of_work() as uow:
        for i, s in enumerate([30, 10, 20, 0]):
            uow.add_email(email_record(f"e-{i}", at(s)))
    with store.unit_of_work() as uow:
        e2 = email_record("e-2", at(20)).model_copy(update={"status": EmailStatus.DELIVERED, "delivered_at": at(40)})
        e3 = email_record("e-3", at(0)).model_copy(update={"status": EmailStatus.FAILED, "attempts": 8})
        uow.save_email(e2)
        uow.save_email(e3)
    with store.unit_of_work(read_only=True) as uow:
        assert [e.id for e in uow.list_emails(limit=100)] == ["e-3", "e-1", "e-2", "e-0"]
        assert [e.id for e in uow.list_emails(limit=2)] == ["e-3", "e-1"]
        assert [e.id for e in uow.list_emails(limit=100, pending_only=True)] == ["e-1", "e-0"]
        assert [e.id for e in uow.list_emails(limit=1, pending_only=True)] == ["e-1"]



def test_prospect_emails_are_the_prospects_own_oldest_first(store):
    other = email_record("e-other", at(5)).model_copy(update={"prospect_id": "p-2"})
    partner = email_record("e-partner", at(6)).model_copy(update={"prospect_id": None, "aggregate_id": "p-1"})
    with store.unit_of_work() as uow:
        for email in (email_record("e-2", at(20)), email_record("e-1", at(10)), other, partner):
            uow.add_email(email)
    with store.unit_of_work() as uow:
        uow.save_email(email_record("e-2", at(20)).model_copy(update={"status": EmailStatus.FAILED, "attempts": 8}))
    with store.unit_of_work(read_only=True) as uow:
        found = uow.prospect_emails("p-1")
        assert [(e.id, e.status) for e in found] == [("e-1", EmailStatus.PENDING), ("e-2", EmailStatus.FAILED)]
        assert [e.id for e in uow.prospect_emails("p-2")] == ["e-other"]
        assert uow.prospect_emails("p-3") == []


# --- transactions ----------------------------------------------------------------------------------

def test_unit_of_work_that_raises_writes_nothing(store):
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    with pytest.raises(Boom):
        with store.unit_of_work() as uow:
            uow.add_signup(signup_record(2, key="k"))
            uow.add_prospect(prospect(2))
            uow.save_prospect(p.reject("nope", at(10), by="test"))
            uow.append_history(history_entry(p.id, 1))
            uow.save_customer(customer("c-1"))
            uow.save_hierarchy(hierarchy("H-1", p.id))
            uow.save_member(member("H-1", "c-1"))
            uow.record_event("p-1", "event-1", "lead_disqualified", "rejected")
            uow.add_outbox_message(outbox_message("m-1", at(0)))
            uow.add_email(email_record("e-1", at(0)))
            raise Boom
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(signup_record(2).id) is None
        assert uow.find_signup_by_idempotency_key(signup_record(2, key="k").idempotency_key_hash) is None
        assert uow.pending_signups(limit=10) == []
        assert uow.get_prospect(prospect(2).id) is None
        assert uow.get_prospect(p.id) == p
        assert uow.list_prospects(None, limit=10) == [p]
        assert uow.history(p.id) == []
        assert uow.get_customer("c-1") is None
        assert uow.get_hierarchy("H-1") is None
        assert uow.find_hierarchy_by_prospect(p.id) is None
        assert uow.members("H-1") == []
        assert not uow.event_seen("p-1", "event-1")
        assert uow.pending_outbox_messages(None, limit=10) == []
        assert uow.get_email("e-1") is None
        assert uow.list_emails(limit=10) == []


def test_duplicate_in_a_unit_of_work_fails_it_as_a_whole(store):
    """A unit of work that ends with DuplicateRecord commits none of its other writes."""
    with store.unit_of_work() as uow:
        uow.add_email(email_record("e-1", at(0)))
    with pytest.raises(DuplicateRecord):
        with store.unit_of_work() as uow:
            uow.add_outbox_message(outbox_message("m-1", at(0)))
            uow.add_email(email_record("e-1", at(1)))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.pending_outbox_messages(None, limit=10) == []


def test_committed_writes_are_visible_to_later_units_of_work(store):
    with store.unit_of_work() as uow:
        uow.add_signup(signup_record(1))
        uow.add_prospect(prospect(1))
        uow.add_outbox_message(outbox_message("m-1", at(0)))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_signup(signup_record(1).id) is not None
        assert uow.get_prospect(prospect(1).id) is not None
        assert len(uow.pending_outbox_messages(None, limit=10)) == 1


def test_concurrent_read_modify_write_never_loses_an_update(harness):
    store = harness.store
    p = prospect(1)
    with store.unit_of_work() as uow:
        uow.add_prospect(p)
    threads, per_thread = 8, 20

    def increment(tag: str) -> None:
        with store.unit_of_work() as uow:
            current = uow.get_prospect(p.id)
            uow.save_prospect(current.model_copy(update={"attention_reason": (current.attention_reason or "") + tag}))

    def increments(tag: str) -> None:
        for _ in range(per_thread):
            retrying(harness, lambda: increment(tag))

    racing(harness, [lambda i=i: increments(chr(ord("a") + i)) for i in range(threads)])
    with store.unit_of_work(read_only=True) as uow:
        final = uow.get_prospect(p.id).attention_reason
    assert len(final) == threads * per_thread
    for i in range(threads):
        assert final.count(chr(ord("a") + i)) == per_thread


def test_concurrent_adds_of_the_same_id_store_one(harness):
    """Two workers racing on one deterministic id: exactly one add commits, the other gets DuplicateRecord."""
    store = harness.store
    threads = 8
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(index: int) -> None:
        start.wait()
        try:
            with store.unit_of_work() as uow:
                uow.add_email(email_record("e-race", at(index)))
            result = "added"
        except DuplicateRecord:
            result = "duplicate"
        except harness.conflict_errors:
            result = "duplicate"
        with lock:
            outcomes.append(result)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert sorted(outcomes) == ["added"] + ["duplicate"] * (threads - 1)
    with store.unit_of_work(read_only=True) as uow:
        assert len(uow.list_emails(limit=100)) == 1
