"""On Azure Table Storage the approval is one entity-group transaction: all of it, or none of it; so is
a partner user's change with its membership, email and message, and a user moving between partners is
never lost on the way. A row is written guarded by the ETag it was read with, whether a point read or a
query read it, and what a unit of work has read is not read again."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Callable

import pytest

from shared.bootstrap import Container
from shared.config import Settings
from shared.domain.errors import ConcurrencyConflict
from shared.domain.model import HierarchyRole, MemberStatus, ProspectStatus
from shared.domain.partners import UserChange, UserStatus
from tests.contract.factories import at, email_record, hierarchy, member, outbox_message, partner_user
from tests.services.flow import signup_body, take_all, work


@pytest.fixture
def azure_container(azurite, tmp_path):
    suffix = uuid.uuid4().hex[:10]
    c = Container.build(Settings.from_env({
        "STATE_BACKEND": "azure", "AzureWebJobsStorage": azurite.connection_string, "STATE_TABLE": f"atomic{suffix}",
        "LEAD_QUEUE": f"leads-{suffix}", "OUTCOME_QUEUE": f"outcomes-{suffix}", "EMAIL_QUEUE": f"emails-{suffix}",
        "SEND_RECEIVED_EMAIL": "false",  # the approval's email only
    }, data_dir=tmp_path))
    yield c
    c.store.close()


def won_outcome(c: Container) -> str:
    """A prospect with its lead, qualified and won in Sales; returns the "won" message, not yet applied."""
    c.intake.submit(signup_body())
    c.channel_sync.run()
    work(c)
    lead = c.sales.b2b_leads()[0]
    c.sales.win(c.sales.qualify(lead["leadid"]).opportunity_id)
    qualified, won = take_all(c, c.settings.outcome_queue)
    c.propagation.handle(qualified)
    return won


class Refused(Exception):
    pass


@contextmanager
def refusing(monkeypatch, table, matches: Callable[[dict], bool]):
    """The block fails with Refused: the storage service fails each transaction with an entity that
    ``matches``, and only those."""
    real = table.submit_transaction

    def refuse(operations):
        if any(matches(entity) for _, entity, *_ in operations):
            raise Refused("the storage service failed the transaction")
        return real(operations)

    with monkeypatch.context() as patch:
        patch.setattr(table, "submit_transaction", refuse)
        with pytest.raises(Refused):
            yield


def test_the_approval_commits_in_one_transaction(azure_container, monkeypatch):
    c = azure_container
    won = won_outcome(c)
    table = c.store.table
    transactions = []
    real = table.submit_transaction

    def spy(operations):
        transactions.append(operations)
        return real(operations)

    monkeypatch.setattr(table, "submit_transaction", spy)
    c.propagation.handle(won)
    approval = [ops for ops in transactions if any(entity.get("kind") == "hierarchy" for _, entity, *_ in ops)]
    assert len(approval) == 1
    kinds = {entity.get("kind") for _, entity, *_ in approval[0]}
    assert {"prospect", "hierarchy", "member", "email", "outbox", "history", "event"} <= kinds
    assert len({entity["PartitionKey"] for _, entity, *_ in approval[0]}) == 1


def test_a_failed_approval_leaves_nothing_and_its_retry_applies_once(azure_container, monkeypatch):
    c = azure_container
    won = won_outcome(c)
    with refusing(monkeypatch, c.store.table, lambda entity: entity.get("kind") == "hierarchy"):
        c.propagation.handle(won)
    prospect = c.operator.prospects()[0]
    assert prospect.status is ProspectStatus.PENDING and prospect.hierarchy_id is None
    assert c.operator.prospect(prospect.number).hierarchy is None and c.operator.emails() == []
    assert c.propagation.handle(won) == "applied"
    assert c.propagation.handle(won) == "duplicate"
    details = c.operator.prospect(prospect.number)
    assert details.prospect.status is ProspectStatus.APPROVED and details.hierarchy.id == "CH-000001"
    assert [m.role.value for m in details.members] == ["Admin"] and len(c.operator.emails()) == 1


# --- a partner's records, kept with its hierarchy (the adapter itself) ------------------------------

@pytest.fixture
def tables(azurite):
    from azure.data.tables import TableServiceClient

    from shared.adapters.azure_table_store import AzureTableStore

    store = AzureTableStore(TableServiceClient.from_connection_string(azurite.connection_string),
                            "partners" + uuid.uuid4().hex[:12])
    with store.unit_of_work() as uow:
        uow.save_hierarchy(hierarchy("CH-000001", "prospect-1"))
        uow.save_hierarchy(hierarchy("CH-000002", None))  # onboarded by hand: its partition is its own
    yield store
    store.close()


def user_sync(uow, user, partner) -> None:
    """What the user sync writes for one user: the user, its membership, an email and a message."""
    uow.save_partner_user(user.synced(at(60)))
    uow.save_member(member(partner.id, user.customer_id, user.role, MemberStatus.ACTIVE))
    uow.add_email(email_record(f"email-{user.id}", at(60)).model_copy(
        update={"prospect_id": None, "aggregate_id": partner.aggregate_id}))
    uow.add_outbox_message(outbox_message(f"message-{user.id}", at(60)).model_copy(
        update={"aggregate_id": partner.aggregate_id}))


def test_a_user_sync_of_a_hand_onboarded_partner_commits_in_one_transaction(tables, monkeypatch):
    partner = hierarchy("CH-000002", None)
    user = partner_user("new@two.example", partner.id, status=UserStatus.PENDING, sync=UserChange.ADD)
    with tables.unit_of_work() as uow:
        uow.save_partner_user(user)
    transactions = []
    real = tables.table.submit_transaction

    def spy(operations):
        transactions.append(operations)
        return real(operations)

    monkeypatch.setattr(tables.table, "submit_transaction", spy)
    with tables.unit_of_work() as uow:
        user_sync(uow, uow.users_to_sync(limit=10)[0], partner)
    # Pointers (index-… partitions: the email's order rows, say) are hints written before the commit.
    committed = [t for t in transactions if not t[0][1]["PartitionKey"].startswith("index-")]
    assert len(committed) == 1
    kinds = {entity.get("kind") for _, entity, *_ in committed[0]}
    assert {"partner-user", "roster", "member", "email", "outbox"} <= kinds
    assert {entity["PartitionKey"] for _, entity, *_ in committed[0]} == {partner.aggregate_id}


def test_a_failed_user_sync_leaves_nothing_and_its_retry_applies(tables, monkeypatch):
    partner = hierarchy("CH-000002", None)
    user = partner_user("new@two.example", partner.id, status=UserStatus.PENDING, sync=UserChange.ADD)
    with tables.unit_of_work() as uow:
        uow.save_partner_user(user)
    with refusing(monkeypatch, tables.table, lambda entity: entity.get("kind") == "member"):
        with tables.unit_of_work() as uow:
            user_sync(uow, uow.users_to_sync(limit=10)[0], partner)
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id) == user and uow.users_to_sync(limit=10) == [user]
        assert uow.members(partner.id) == [] and uow.list_emails(limit=10) == []
        assert uow.pending_outbox_messages(None, limit=10) == []
    with tables.unit_of_work() as uow:
        user_sync(uow, uow.users_to_sync(limit=10)[0], partner)
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id).status is UserStatus.ACTIVE and uow.users_to_sync(limit=10) == []
        assert [m.customer_id for m in uow.members(partner.id)] == [user.customer_id]
        assert len(uow.list_emails(limit=10)) == 1 and len(uow.pending_outbox_messages(None, limit=10)) == 1


def moved(user, hierarchy_id: str, seconds: float):
    return user.removed(at(seconds)).rejoin(hierarchy_id, "Åsa", "Öberg", HierarchyRole.USER, None, "sv",
                                            at(seconds + 1))


def test_a_move_that_never_committed_leaves_the_user_where_it_was(tables, monkeypatch):
    user = partner_user("mover@one.example", "CH-000001")
    with tables.unit_of_work() as uow:
        uow.save_partner_user(user)
    with refusing(monkeypatch, tables.table, lambda entity: entity["PartitionKey"] == "hierarchy-CH-000002"):
        with tables.unit_of_work() as uow:
            uow.save_partner_user(moved(user, "CH-000002", 10))
    [old_row] = tables.table.query_entities("PartitionKey eq 'prospect-1' and kind eq 'partner-user'")
    assert old_row["moving_to"] == "hierarchy-CH-000002"
    with tables.unit_of_work(read_only=True) as uow:  # the old row is marked as moving, the pointer moved
        assert uow.get_partner_user(user.id) == user
        assert uow.partner_users("CH-000001") == [user] and uow.partner_users("CH-000002") == []
        assert uow.users_to_sync(limit=10) == []
    with tables.unit_of_work() as uow:
        uow.save_partner_user(moved(user, "CH-000002", 20))
    with tables.unit_of_work(read_only=True) as uow:
        there = uow.get_partner_user(user.id)
        assert there.hierarchy_id == "CH-000002"
        assert uow.partner_users("CH-000001") == [] and uow.partner_users("CH-000002") == [there]
        assert [u.id for u in uow.users_to_sync(limit=10)] == [user.id]


def test_a_moved_users_old_row_left_behind_is_no_user_of_the_old_partner(tables, monkeypatch):
    user = partner_user("mover@one.example", "CH-000001")
    with tables.unit_of_work() as uow:
        uow.save_partner_user(user)
    with monkeypatch.context() as patch:  # the delete after the commit is lost (the process died)
        patch.setattr(tables.table, "delete_entity", lambda *args, **kwargs: None)
        with tables.unit_of_work() as uow:
            uow.save_partner_user(moved(user, "CH-000002", 10))
    assert len(list(tables.table.query_entities("PartitionKey eq 'prospect-1' and kind eq 'partner-user'"))) == 1
    with tables.unit_of_work(read_only=True) as uow:
        there = uow.get_partner_user(user.id)
        assert there.hierarchy_id == "CH-000002"
        assert uow.partner_users("CH-000001") == [] and uow.partner_users("CH-000002") == [there]
    back = moved(there, "CH-000001", 20)  # back to where the stale row is: it makes way first
    # A way back that fails too leaves no marks in a circle.
    with refusing(monkeypatch, tables.table, lambda entity: entity["PartitionKey"] == "prospect-1"):
        with tables.unit_of_work() as uow:
            uow.save_partner_user(back)
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id) == there
        assert uow.partner_users("CH-000001") == [] and uow.partner_users("CH-000002") == [there]
    with tables.unit_of_work() as uow:
        uow.save_partner_user(back)
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id) == back
        assert uow.partner_users("CH-000001") == [back] and uow.partner_users("CH-000002") == []


@pytest.fixture
def claim_store(azurite):
    from azure.data.tables import TableServiceClient

    from shared.adapters.azure_table_store import AzureTableStore

    service = TableServiceClient.from_connection_string(azurite.connection_string)
    name = "claims" + uuid.uuid4().hex[:10]

    def store(grace_seconds: float):
        from datetime import timedelta

        built = AzureTableStore(TableServiceClient.from_connection_string(azurite.connection_string), name,
                                claim_grace=timedelta(seconds=grace_seconds))
        with built.unit_of_work() as uow:
            uow.save_hierarchy(hierarchy("CH-000001", "prospect-1"))
            uow.save_hierarchy(hierarchy("CH-000002", "prospect-2"))
        return built

    yield store
    service.delete_table(name)
    service.close()


def test_a_new_users_claim_is_not_taken_over_while_its_writer_commits(claim_store):
    """Two partners add the same email at once: the one that claimed first commits, the other must retry
    (and then finds the user: one email, one user), never a second record."""
    from shared.domain.errors import ConcurrencyConflict

    store = claim_store(30)
    first = partner_user("same@example.com", "CH-000001", status=UserStatus.PENDING, sync=UserChange.ADD)
    with store.unit_of_work() as uow:
        uow.save_partner_user(first)  # claimed now; committed when the block ends
        with pytest.raises(ConcurrencyConflict):
            with store.unit_of_work() as racing:
                racing.save_partner_user(first.model_copy(update={"hierarchy_id": "CH-000002"}))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(first.id).hierarchy_id == "CH-000001"
        assert [u.id for u in uow.partner_users("CH-000001")] == [first.id]
        assert uow.partner_users("CH-000002") == []


def test_a_claim_whose_writer_crashed_is_taken_over_after_the_grace(claim_store):
    store = claim_store(0)
    user = partner_user("same@example.com", "CH-000001", status=UserStatus.PENDING, sync=UserChange.ADD)
    with pytest.raises(RuntimeError):
        with store.unit_of_work() as uow:
            uow.save_partner_user(user)
            raise RuntimeError("the writer crashed before its commit")
    with store.unit_of_work() as uow:
        uow.save_partner_user(user.model_copy(update={"hierarchy_id": "CH-000002"}))
    with store.unit_of_work(read_only=True) as uow:
        assert uow.get_partner_user(user.id).hierarchy_id == "CH-000002"
        assert [u.id for u in uow.partner_users("CH-000002")] == [user.id]


# --- what a unit of work read -------------------------------------------------------------------------
@pytest.mark.parametrize("read", ["get_hierarchy", "find_hierarchy_by_prospect"])
def test_a_hierarchy_changed_since_it_was_read_is_not_overwritten(tables, read):
    with pytest.raises(ConcurrencyConflict):
        with tables.unit_of_work() as uow:
            found = uow.get_hierarchy("CH-000001") if read == "get_hierarchy" else \
                uow.find_hierarchy_by_prospect("prospect-1")
            with tables.unit_of_work() as other:
                other.save_hierarchy(found.model_copy(update={"name": "Renamed elsewhere"}))
            uow.save_hierarchy(found.model_copy(update={"name": "Renamed here"}))
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.get_hierarchy("CH-000001").name == "Renamed elsewhere"


def test_a_new_hierarchy_the_prospect_query_found_missing_is_not_read_again(tables, monkeypatch):
    from shared.adapters.azure_partner_summary import PartnerSummaryTable

    reads, committed = [], []
    real, summarize = tables.table.get_entity, PartnerSummaryTable.apply

    def spy(partition, row, **kwargs):
        if not committed:
            reads.append((partition, row))
        return real(partition, row, **kwargs)

    def after_commit(self, hierarchy_id):
        committed.append(hierarchy_id)  # the partners list's summary reads the partner as committed: not this
        return summarize(self, hierarchy_id)

    monkeypatch.setattr(tables.table, "get_entity", spy)
    monkeypatch.setattr(PartnerSummaryTable, "apply", after_commit)
    with tables.unit_of_work() as uow:  # as an approval does
        assert uow.find_hierarchy_by_prospect("prospect-2") is None
        uow.save_hierarchy(hierarchy("CH-000003", "prospect-2"))
    assert committed == ["CH-000003"]
    assert not [read for read in reads if read[0] == "prospect-2"]
    with tables.unit_of_work(read_only=True) as uow:
        assert uow.find_hierarchy_by_prospect("prospect-2") == hierarchy("CH-000003", "prospect-2")
