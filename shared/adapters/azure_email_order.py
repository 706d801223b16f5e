"""The back office's email list on Azure Tables: order rows, so that a page is one range read.

An email lives in its aggregate's partition (its prospect's or partner's), and a table reads in order only
within a partition. So every email has rows in the ``index-email-order`` partition, newest first by row key:

- ``all-<inverted created>-<id>``: every email, whatever its state (created and id never change);
- ``<status>-<inverted created>-<id>``: the email while it has that status (pending, delivered, failed).

They are pointers like the store's others (``index-…``): written before the email's transaction, holding
its partition and what never changes of it (template, recipient's domain, the filters a page may ask for);
a status's row is dropped after the transaction that moves the email on. A row is a hint: the page reads the
email itself and the email decides (a status row that a crash left behind is passed over).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Iterator

from shared.domain.model import EmailRecord, EmailStatus
from shared.ports import EmailQuery

log = logging.getLogger("b2b.store.emails")

EMAIL_ORDER = "email-order"  # the pointer kind: rows in the "index-email-order" partition
_PARTITION = "index-" + EMAIL_ORDER
_ALL = "all"
_BUILT = "built-1"  # the marker: the emails of an older store have their rows
_LATEST = 10**17  # microseconds after the epoch beyond any time stored: ``_LATEST - t`` sorts newest first
_STAMP = 18  # digits of an inverted time


def _newest_first(at: datetime) -> str:
    return f"{_LATEST - int(at.timestamp() * 1_000_000):0{_STAMP}d}"


def email_order_key(email: EmailRecord, status: EmailStatus | None = None) -> str:
    """The email's row in the whole list (``status`` None) or in its status's."""
    return f"{status.value if status else _ALL}-{_newest_first(email.created_at)}-{email.id}"


def email_order_columns(email: EmailRecord) -> dict[str, str]:
    return {"email_id": email.id, "template": email.template, "domain": email.to.lower().rpartition("@")[2]}


def email_order(table, query: EmailQuery, limit: int) -> Iterator[tuple[str, str]]:
    """(partition, email id) of the rows ``query`` may select, newest first (the same moment: the greater id
    first, as the SQLite store orders them), from ``query.before``'s moment on (the caller drops the rows of
    that moment that are not before it). Template and domain are filtered by the service."""
    scope = f"{query.status.value if query.status else _ALL}-"
    low = scope + (_newest_first(query.before[0]) if query.before is not None else "")
    text = "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high"
    parameters = {"pk": _PARTITION, "low": low, "high": scope + "\uffff"}
    if query.template is not None:
        text, parameters = text + " and template eq @template", {**parameters, "template": query.template}
    if query.to_domain is not None:
        text, parameters = text + " and domain eq @domain", {**parameters, "domain": query.to_domain}
    rows = table.query_entities(text, parameters=parameters, results_per_page=min(1000, max(limit + 1, 100)))
    # Rows of one moment come in ascending id order; the list wants the greater id first.
    moment, together = None, []
    for row in rows:
        stamp = row["RowKey"][len(scope):len(scope) + _STAMP]
        if stamp != moment:
            yield from sorted(together, key=lambda found: found[1], reverse=True)
            moment, together = stamp, []
        together.append((row["target"], row["email_id"]))
    yield from sorted(together, key=lambda found: found[1], reverse=True)


def built_marker() -> dict:
    """The row that says every email has its order rows (a new store's, once the channel sync has run)."""
    return {"PartitionKey": _PARTITION, "RowKey": _BUILT, "kind": "email-order-marker"}


def index_older_emails(table) -> int:
    """The order rows of emails written before the index existed, once (then a marker says so)."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    try:
        table.get_entity(_PARTITION, _BUILT)
        return 0
    except ResourceNotFoundError:
        pass
    indexed = 0
    for row in table.query_entities("kind eq 'email'"):
        email = EmailRecord.model_validate_json(row["data"])
        for key in (email_order_key(email), email_order_key(email, email.status)):
            table.upsert_entity({"PartitionKey": _PARTITION, "RowKey": key, "target": row["PartitionKey"],
                                 **email_order_columns(email)}, mode=UpdateMode.REPLACE)
        indexed += 1
    try:
        table.create_entity(built_marker())
    except ResourceExistsError:
        pass
    if indexed:
        log.info("email order index built", extra={"emails": indexed})
    return indexed
