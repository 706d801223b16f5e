"""The back office's list of prospects on Azure Tables: index rows, so that a page is one range query.

A prospect lives in its own partition, and a table can be read in order only within a partition, by row
key. So the list keeps rows of its own in one partition, ``directory-prospects``:

- ``order-<status>-a-<received>-<number>`` and ``order-<status>-d-<inverted received>-<inverted number>``:
  the prospect's row in oldest-first and newest-first order (a table reads ascending only), carrying the
  row the list shows; the whole list is the three statuses' ranges merged, a page from each.
- ``flagged-a-…`` / ``flagged-d-…``: the same for a flagged prospect only (flags are rare: no scan for them).
- ``search-<folded key>|<number>``: one per search key (a prefix search is a row-key range).
- ``count-<status>`` and ``count-attention``: the counts per status.
- ``entry-<prospect id>``: what the directory holds for the prospect: its row, the index rows it owns and the
  counters it is counted in. A status change deletes the rows of the old status and counts it out.

A prospect's index rows, its entry and the counters change in ONE entity-group transaction of that partition,
guarded by the ETags read (the entry's, each counter's): applied twice, or by two instances at once, the
counts stay exact (the second finds the entry up to date, or loses the race and reads again). That
transaction follows the prospect's own, in another partition; a pointer in ``index-directory-pending``,
written before the prospect's transaction, marks the update as owed until it is done, so that a crash in
between is repaired by ``settle`` (which the channel sync runs). Stores from before the directory existed
get their rows once, the first time ``settle`` runs.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator

from shared.domain.model import Prospect, ProspectStatus
from shared.domain.prospect_directory import (
    ATTENTION,
    Position,
    ProspectFilter,
    ProspectSummary,
    beyond,
    ordered,
    search_keys,
)

log = logging.getLogger("b2b.store.directory")

DIRECTORY = "directory-prospects"
PENDING = "index-directory-pending"
UPGRADED_MARKER = "upgraded-1"  # the marker: the prospects of an older store have their rows
_ATTEMPTS = 20  # an entry or counter changed under us: read again (the counters are shared by every prospect)
_TOP = "\uffff"
_INVERT = str.maketrans("0123456789", "9876543210")


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")


def _inverted(text: str) -> str:
    """Digits mirrored (0 ↔ 9): ascending row keys of inverted stamps and numbers read newest first."""
    return text.translate(_INVERT)


def _safe(value: str) -> str:
    # Row keys may not hold / \\ # ? or control characters.
    return "".join(ch if ch.isprintable() and ch not in "/\\#?" else f"~{ord(ch):x}" for ch in value)


def _ordered_key(base: str, newest_first: bool, position: Position) -> str:
    stamp = _stamp(position.received_at)
    if newest_first:
        return f"{base}d-{_inverted(stamp)}-{_inverted(position.number)}"
    return f"{base}a-{stamp}-{position.number}"


def _bounds(base: str, newest_first: bool, where: ProspectFilter, after: Position | None) -> tuple[str, str]:
    """The row-key range (both ends exclusive) holding the rows received between ``where``'s bounds that come
    after ``after``, in the chosen direction."""
    prefix = base + ("d-" if newest_first else "a-")
    low, high = [prefix], [prefix + _TOP]
    if newest_first:
        if where.received_to is not None:  # exclusive: rows received at that very moment stay out
            low.append(f"{prefix}{_inverted(_stamp(where.received_to))}-{_TOP}")
        if where.received_from is not None:
            high.append(f"{prefix}{_inverted(_stamp(where.received_from))}-{_TOP}")
    else:
        if where.received_from is not None:
            low.append(f"{prefix}{_stamp(where.received_from)}")
        if where.received_to is not None:
            high.append(f"{prefix}{_stamp(where.received_to)}")
    if after is not None:
        low.append(_ordered_key(base, newest_first, after))
    return max(low), min(high)


def _counted(row: ProspectSummary) -> set[str]:
    return {row.status.value} | ({ATTENTION} if row.needs_attention else set())


def _index_rows(row: ProspectSummary) -> dict[str, dict]:
    """Every index row the prospect has, by row key, with the properties a query filters on."""
    data = row.model_dump_json()
    columns = {"status": row.status.value, "channel": row.channel, "attention": row.needs_attention,
               "received": _stamp(row.received_at), "number": row.number, "prospect": row.id}
    rows: dict[str, dict] = {}
    bases = [f"order-{row.status.value}-"] + (["flagged-"] if row.needs_attention else [])
    for base in bases:
        for newest_first in (False, True):
            rows[_ordered_key(base, newest_first, row.position)] = {"kind": "directory-row", "data": data, **columns}
    for key in search_keys(row):
        rows[f"search-{_safe(key)}|{row.number}"] = {"kind": "directory-search", **columns}
    return rows


def _entry_entity(row: ProspectSummary, wanted: dict[str, dict]) -> dict:
    return {"PartitionKey": DIRECTORY, "RowKey": f"entry-{_safe(row.id)}", "kind": "directory-entry",
            "data": row.model_dump_json(), "rows": json.dumps(sorted(wanted)), "counted": json.dumps(sorted(_counted(row)))}


def fresh_directory(rows: Iterable[ProspectSummary]) -> Iterator[dict]:
    """Every entity the directory holds for these prospects (none listed yet), counters last: what applying
    each once would write, for loading a new store in entity-group batches of the directory's partition
    (bench/bench_console_prospects.py loads 100,000 prospects so) instead of a transaction per prospect."""
    counts: dict[str, int] = {}
    for row in rows:
        wanted = _index_rows(row)
        for key, columns in wanted.items():
            yield {"PartitionKey": DIRECTORY, "RowKey": key, **columns}
        yield _entry_entity(row, wanted)
        for name in _counted(row):
            counts[name] = counts.get(name, 0) + 1
    for name, n in counts.items():
        yield {"PartitionKey": DIRECTORY, "RowKey": f"count-{name}", "kind": "directory-count", "n": n}


def settle_marks(table, partition: str, grace: timedelta, limit: int, apply: Callable[[str], bool],
                 settled: int = 0) -> int:
    """Finish the updates whose pending marks (rows of ``partition``, each naming its ``target``) a crash left
    owed, until ``settled`` reaches ``limit``; a mark goes once ``apply`` has brought its target up to date. A
    mark younger than ``grace`` may belong to a unit of work still committing: left for later."""
    from azure.core.exceptions import ResourceNotFoundError

    now = datetime.now(timezone.utc)
    for mark in table.query_entities("PartitionKey eq @pk", parameters={"pk": partition}):
        if settled >= limit:
            break
        written = mark.metadata.get("timestamp")
        if written is not None and now - written < grace:
            continue
        if apply(mark["target"]):
            settled += 1
            try:
                table.delete_entity(partition, mark["RowKey"])
            except ResourceNotFoundError:
                pass
    return settled


class ProspectDirectoryTable:
    def __init__(self, table, grace: timedelta):
        self._table = table
        self._grace = grace  # a pending mark younger than this may belong to a unit of work still committing

    # --- reading ------------------------------------------------------------------------------
    def _range(self, low: str, high: str, extra: str = "", parameters: dict | None = None,
               page: int | None = None) -> Iterator[dict]:
        return iter(self._table.query_entities(
            f"PartitionKey eq @pk and RowKey gt @low and RowKey lt @high{extra}",
            parameters={"pk": DIRECTORY, "low": low, "high": high, **(parameters or {})}, results_per_page=page))

    def query(self, where: ProspectFilter, newest_first: bool, after: Position | None,
              limit: int) -> list[ProspectSummary]:
        if limit <= 0:
            return []
        if where.search:
            return self._search(where, newest_first, after, limit)
        if where.attention:
            bases = ["flagged-"]
        elif where.status is not None:
            bases = [f"order-{where.status.value}-"]
        else:  # every status: a page from each, merged
            bases = [f"order-{status.value}-" for status in ProspectStatus]
        extra, parameters = "", {}
        if where.channel is not None:
            extra, parameters = " and channel eq @channel", {"channel": where.channel}
        if where.attention and where.status is not None:
            extra, parameters = extra + " and status eq @status", {**parameters, "status": where.status.value}
        found: list[ProspectSummary] = []
        for base in bases:
            taken = 0
            for entity in self._range(*_bounds(base, newest_first, where, after), extra, parameters, page=limit):
                row = ProspectSummary.model_validate_json(entity["data"])
                if where.matches(row) and beyond(row, after, newest_first):  # the range says so; the row decides
                    found.append(row)
                    taken += 1
                    if taken == limit:
                        break
        return ordered(found, newest_first)[:limit]

    def _search(self, where: ProspectFilter, newest_first: bool, after: Position | None,
                limit: int) -> list[ProspectSummary]:
        """The search rows under the prefix (what matches), narrowed by their columns, then the page's rows
        read from their entries: the cost is what matches plus the page."""
        prefix = f"search-{_safe(where.search)}"
        candidates: dict[str, tuple[tuple, str]] = {}
        for entity in self._range(prefix, prefix + _TOP):
            if where.status is not None and entity["status"] != where.status.value:
                continue
            if (where.attention and not entity["attention"]) or (
                    where.channel is not None and entity["channel"] != where.channel):
                continue
            received = datetime.strptime(entity["received"], "%Y%m%dT%H%M%S%f").replace(tzinfo=timezone.utc)
            candidates[entity["prospect"]] = ((received, entity["number"]), entity["prospect"])
        keys = sorted(candidates.values(), reverse=newest_first)
        if after is not None:
            keys = [k for k in keys if (k[0] < after.key() if newest_first else k[0] > after.key())]
        found = []
        for _, prospect_id in keys:
            row = self._entry_row(prospect_id)
            if row is not None and where.matches(row) and beyond(row, after, newest_first):
                found.append(row)
                if len(found) == limit:
                    break
        return found

    def _row(self, key: str):
        """A row of the directory's partition (with its ETag), or None."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(DIRECTORY, key)
        except ResourceNotFoundError:
            return None

    def _entry(self, prospect_id: str):
        return self._row(f"entry-{_safe(prospect_id)}")

    def _entry_row(self, prospect_id: str) -> ProspectSummary | None:
        entry = self._entry(prospect_id)
        return None if entry is None else ProspectSummary.model_validate_json(entry["data"])

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in ProspectStatus} | {ATTENTION: 0}
        for entity in self._range("count-", "count-" + _TOP):
            counts[entity["RowKey"].removeprefix("count-")] = int(entity["n"])
        return counts

    # --- writing ------------------------------------------------------------------------------
    def apply(self, prospect_id: str) -> bool:
        """Bring the prospect's rows, entry and counts up to its committed state; True once they are (or there
        is nothing to do), False when other writers kept winning the race (a pending mark stays for settle)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        for _ in range(_ATTEMPTS):
            # The entry first, then the prospect: a writer that read the prospect before another's change
            # committed then finds the entry that other applied changed, and its guarded write fails. Read the
            # other way round, an older prospect could be written over a newer entry.
            entry = self._entry(prospect_id)
            try:
                prospect = Prospect.model_validate_json(self._table.get_entity(prospect_id, "prospect")["data"])
            except ResourceNotFoundError:
                return True  # never committed: nothing to list
            row = ProspectSummary.of(prospect)
            if entry is not None and entry["data"] == row.model_dump_json():
                return True
            try:
                self._table.submit_transaction(self._changes(prospect_id, entry, row))
                return True
            except HttpResponseError as error:
                if error.status_code not in (409, 412):
                    raise
        return False

    def _changes(self, prospect_id: str, entry, row: ProspectSummary) -> list[tuple]:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        def guarded(entity: dict, etag: str) -> tuple:
            return ("update", entity, {"mode": UpdateMode.REPLACE, "etag": etag,
                                       "match_condition": MatchConditions.IfNotModified})

        wanted = _index_rows(row)
        held = set(json.loads(entry["rows"])) if entry is not None else set()
        operations: list[tuple] = [("delete", {"PartitionKey": DIRECTORY, "RowKey": key}) for key in held - set(wanted)]
        operations += [("upsert", {"PartitionKey": DIRECTORY, "RowKey": key, **columns}, {"mode": UpdateMode.REPLACE})
                       for key, columns in wanted.items()]
        was, now = (set(json.loads(entry["counted"])) if entry is not None else set()), _counted(row)
        for name in sorted(was ^ now):
            step = 1 if name in now else -1
            counter = self._row(f"count-{name}")
            entity = {"PartitionKey": DIRECTORY, "RowKey": f"count-{name}", "kind": "directory-count",
                      "n": (0 if counter is None else int(counter["n"])) + step}
            operations.append(("create", entity) if counter is None else guarded(entity, counter.metadata["etag"]))
        new_entry = _entry_entity(row, wanted)
        operations.append(("create", new_entry) if entry is None else guarded(new_entry, entry.metadata["etag"]))
        return operations

    def settle(self, limit: int) -> int:
        """The prospects of an older store, once (then a marker says so), then those whose update a crash
        left owed. A mark younger than the grace may be a unit of work still committing: left for later."""
        from azure.core.exceptions import ResourceExistsError

        settled = 0
        if self._row(UPGRADED_MARKER) is None:
            for entity in self._table.query_entities("RowKey eq 'prospect'", select=["PartitionKey"]):
                settled += self.apply(entity["PartitionKey"])
            try:
                self._table.create_entity({"PartitionKey": DIRECTORY, "RowKey": UPGRADED_MARKER, "kind": "directory-marker"})
            except ResourceExistsError:
                pass
            log.info("prospect directory built", extra={"prospects": settled})
        return settle_marks(self._table, PENDING, self._grace, limit, self.apply, settled)
