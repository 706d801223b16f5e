"""The Store port's contract for the back office's email listing (``email_page``) and operator audit.

Runs on every Store adapter (the builders of test_store_contract)."""
from __future__ import annotations

from shared.domain.audit import AuditAction, AuditEntry
from shared.domain.model import EmailStatus
from shared.ports import EmailQuery
from tests.contract.factories import at, email_record
from tests.contract.test_store_contract import harness, store  # noqa: F401 - fixtures


def _emails(store):
    """e-0 … e-5, one second apart (e-3 and e-4 at the same time); their states and recipients differ."""
    records = []
    for i, seconds in enumerate([0, 1, 2, 3, 3, 5]):
        email = email_record(f"e-{i}", at(seconds))
        records.append(email.model_copy(update={"to": f"p{i}@{'one' if i % 2 else 'Two'}.example",
                                                "template": "prospect_approved" if i < 3 else "user_added"}))
    with store.unit_of_work() as uow:
        for email in records:
            uow.add_email(email)
    with store.unit_of_work() as uow:
        uow.save_email(records[1].model_copy(update={"status": EmailStatus.DELIVERED, "delivered_at": at(9)}))
        uow.save_email(records[2].model_copy(update={"status": EmailStatus.FAILED, "attempts": 8}))
        uow.save_email(records[4].model_copy(update={"delivery_started_at": at(8)}))
    return records


def _ids(store, query: EmailQuery = EmailQuery(), limit: int = 100) -> list[str]:
    with store.unit_of_work(read_only=True) as uow:
        return [e.id for e in uow.email_page(query, limit)]


def test_email_page_is_newest_first_and_pages_after_a_position(store):
    records = _emails(store)
    assert _ids(store) == ["e-5", "e-4", "e-3", "e-2", "e-1", "e-0"]  # the same time: the greater id first
    assert _ids(store, limit=2) == ["e-5", "e-4"]
    assert _ids(store, EmailQuery(before=(records[4].created_at, "e-4")), limit=2) == ["e-3", "e-2"]
    assert _ids(store, EmailQuery(before=(records[0].created_at, "e-0"))) == []


def test_email_page_filters_by_status_delivery_template_and_recipient_domain(store):
    _emails(store)
    assert _ids(store, EmailQuery(status=EmailStatus.PENDING)) == ["e-5", "e-4", "e-3", "e-0"]
    assert _ids(store, EmailQuery(status=EmailStatus.PENDING, in_flight=True)) == ["e-4"]
    assert _ids(store, EmailQuery(status=EmailStatus.PENDING, in_flight=False)) == ["e-5", "e-3", "e-0"]
    assert _ids(store, EmailQuery(status=EmailStatus.FAILED)) == ["e-2"]
    assert _ids(store, EmailQuery(template="user_added")) == ["e-5", "e-4", "e-3"]
    assert _ids(store, EmailQuery(to_domain="two.example")) == ["e-4", "e-2", "e-0"]  # any case in the address
    assert _ids(store, EmailQuery(to_domain="example")) == []  # the whole domain, not its end
    assert _ids(store, EmailQuery(to_domain="one.example", template="user_added", status=EmailStatus.PENDING),
                limit=1) == ["e-5"]


def test_audit_entries_are_kept_newest_first(store):
    entries = [AuditEntry(id=f"a-{i}", at=at(i), operator="alice", action=action, queue="q-poison",
                          message_id=f"m-{i}", reason="why" if action is AuditAction.DISCARD else None,
                          fingerprint="sha256:00", about="create-lead v1")
               for i, action in enumerate([AuditAction.REVEAL, AuditAction.DISCARD, AuditAction.REPLAY])]
    for entry in entries:
        with store.unit_of_work() as uow:
            uow.add_audit_entry(entry)
    with store.unit_of_work(read_only=True) as uow:
        assert uow.audit_entries(10) == entries[::-1]
        assert uow.audit_entries(1) == [entries[2]]


def test_an_email_moves_from_its_old_status_page_to_its_new_one(store):
    """Read, then saved with a new status (as delivery does): it leaves the old status's pages at once and is in
    the new one's, and the pages before and after a position still follow one another."""
    records = [email_record(f"m-{i:02d}", at(i)) for i in range(12)]
    with store.unit_of_work() as uow:
        for email in records:
            uow.add_email(email)
    for i in (3, 7, 8):
        with store.unit_of_work() as uow:
            current = uow.get_email(f"m-{i:02d}")
            uow.save_email(current.model_copy(update={"status": EmailStatus.DELIVERED, "delivered_at": at(20)}))
    with store.unit_of_work() as uow:
        current = uow.get_email("m-08")
        uow.save_email(current.model_copy(update={"status": EmailStatus.FAILED}))

    pending = [f"m-{i:02d}" for i in reversed(range(12)) if i not in (3, 7, 8)]
    assert _ids(store, EmailQuery(status=EmailStatus.PENDING)) == pending
    assert _ids(store, EmailQuery(status=EmailStatus.DELIVERED)) == ["m-07", "m-03"]
    assert _ids(store, EmailQuery(status=EmailStatus.FAILED)) == ["m-08"]
    assert _ids(store) == [f"m-{i:02d}" for i in reversed(range(12))]
    paged, before = [], None
    while True:
        page = _ids(store, EmailQuery(status=EmailStatus.PENDING, before=before), limit=4)
        if not page:
            break
        paged += page
        before = (records[int(page[-1][2:])].created_at, page[-1])
    assert paged == pending
