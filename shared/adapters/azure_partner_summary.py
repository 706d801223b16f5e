"""The back office's partners list on Azure Tables: a summary row per partner, so that a page is one range read.

A partner's records live in its own partition (hierarchy, users, credit line); a page that read them would
cost a few reads per partner (2.5 s a page of 25 on Azurite). So each partner has a row in the
``partner-summaries`` partition, keyed by its hierarchy id (the list's order), holding its line of the list
(``shared.domain.partner_summary.summarize``).

The row is brought up to date after the transaction of every unit of work that changes what it summarizes
(``TableUnitOfWork._partner_changed``, the one place the store's writes call): the summary row is read
first, then the partner as committed, and the new row written guarded by the ETag read, so of two writers
racing the one that read an older partner loses and reads again. A mark written before the partner's
transaction (``index-partner-summary-pending``) says the update is owed until it is done: a crash in between
is made good by ``settle`` (the channel sync runs it), which also gives a store from before the rows existed
its rows, once.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from shared.adapters.azure_prospect_directory import settle_marks
from shared.domain.partner_summary import PartnerSummary, name_matches, summarize

log = logging.getLogger("b2b.store.partners")

SUMMARIES = "partner-summaries"
PENDING_KIND = "partner-summary-pending"  # the pointer kind of the marks: partition "index-partner-summary-pending"
_PENDING = "index-" + PENDING_KIND
_BUILT = "built-1"  # in SUMMARIES: the partners of an older store have their rows (before every "CH-" key)
_ATTEMPTS = 20


def _key(value: str) -> str:
    # Row keys may not hold / \\ # ? or control characters (as the store escapes them).
    return "".join(ch if ch.isprintable() and ch not in "/\\#?" else f"~{ord(ch):x}" for ch in value)


def built_marker() -> dict:
    """The row that says every partner has its summary row (a new store's, once the channel sync has run)."""
    return {"PartitionKey": SUMMARIES, "RowKey": _BUILT, "kind": "partner-summary-marker"}


class PartnerSummaryTable:
    def __init__(self, table, grace: timedelta):
        self._table = table
        self._grace = grace  # a pending mark younger than this may belong to a unit of work still committing

    def page(self, after: str | None, limit: int, name_contains: str | None) -> list[PartnerSummary]:
        """Rows after ``after`` in key order, those whose name contains ``name_contains``: a range read that
        stops at a full page (a name search passes over the rows that do not match)."""
        if limit <= 0:
            return []
        low = _key(after) if after is not None else ""
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey gt @low and RowKey lt @high",
            parameters={"pk": SUMMARIES, "low": low, "high": "\uffff"},
            results_per_page=limit if not name_contains else 1000)
        found: list[PartnerSummary] = []
        for row in rows:
            if row.get("kind") != "partner-summary":
                continue
            if name_contains and name_contains.casefold() not in row["name"]:
                continue
            summary = PartnerSummary.model_validate_json(row["data"])
            if name_matches(summary.hierarchy, name_contains):
                found.append(summary)
                if len(found) == limit:
                    break
        return found

    def apply(self, hierarchy_id: str) -> bool:
        """Bring the partner's row up to its committed state; True once it is, False when other writers kept
        winning the race (the pending mark stays for settle)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        from shared.adapters.azure_table_store import TableUnitOfWork

        for _ in range(_ATTEMPTS):
            try:  # the row first, then the partner (see the module's docstring)
                current = self._table.get_entity(SUMMARIES, _key(hierarchy_id))
            except ResourceNotFoundError:
                current = None
            reader = TableUnitOfWork(self._table, read_only=True)
            hierarchy = reader.get_hierarchy(hierarchy_id)
            if hierarchy is None:
                return True  # never committed: nothing to list
            line = summarize(hierarchy, reader.partner_users(hierarchy_id), reader.get_credit_line(hierarchy_id))
            data = line.model_dump_json()
            if current is not None and current["data"] == data:
                return True
            entity = {"PartitionKey": SUMMARIES, "RowKey": _key(hierarchy_id), "kind": "partner-summary",
                      "name": hierarchy.name.casefold(), "data": data}
            try:
                if current is None:
                    self._table.create_entity(entity)
                else:
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                              match_condition=MatchConditions.IfNotModified)
                return True
            except HttpResponseError as error:
                if error.status_code not in (409, 412):
                    raise
        return False

    def settle(self, limit: int) -> int:
        """The partners of an older store, once (then a marker says so), then those whose update a crash left
        owed. A mark younger than the grace may be a unit of work still committing: left for later."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        settled = 0
        try:
            self._table.get_entity(SUMMARIES, _BUILT)
        except ResourceNotFoundError:
            for pointer in self._table.query_entities("PartitionKey eq 'index-hierarchy'", select=["RowKey"]):
                settled += self.apply(pointer["RowKey"])
            try:
                self._table.create_entity(built_marker())
            except ResourceExistsError:
                pass
            log.info("partner summaries built", extra={"partners": settled})
        return settle_marks(self._table, _PENDING, self._grace, limit, self.apply, settled)
