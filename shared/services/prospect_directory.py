"""All prospects: the back office's list, one page at a time (console, JSON route, CLI), and its CSV export.

Query values arrive as text (a URL's query, a form, the CLI's options); ``ListQuery.parse`` checks them all and
names each bad one (InvalidQuery: 400). Pages are keyset pages: an opaque cursor holds the position of the
row a page ended (or began) with, so the next page is a range read that costs the page, however deep.
"""
from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import IO, Iterator, Mapping

from shared.domain.errors import InvalidQuery
from shared.domain.model import ProspectStatus
from shared.domain.prospect_directory import Position, ProspectFilter, ProspectSummary, search_prefix
from shared.domain.signup import CHANNEL_ID_PATTERN
from shared.ports import Store

log = logging.getLogger("b2b.directory")

DEFAULT_PAGE = 50
MAX_PAGE = 200
EXPORT_PAGE = 500  # the CSV export reads this many rows at a time: never the whole list at once
MAX_SEARCH = 100
SORTS = ("newest", "oldest")
PARAMETERS = ("status", "attention", "channel", "from", "to", "q", "sort", "cursor", "limit")
CSV_COLUMNS = ("number", "status", "company", "requester", "requester_email", "country", "channel",
               "registration_number", "vat_number", "needs_attention", "attention_reason", "received_at",
               "updated_at")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a cell gets a
# leading apostrophe, which spreadsheets show as text. Tab and carriage return start formulas in some too.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a GET form sends empty when a field is left blank: no filter. The others are never blank on a link.
_BLANK_MEANS_ANY = ("status", "attention", "channel", "from", "to", "q", "sort")


@dataclass(frozen=True)
class ListQuery:
    """What a person asked the list for: the filter, the order, the page size and where the page starts."""

    where: ProspectFilter = ProspectFilter()
    newest_first: bool = True
    limit: int = DEFAULT_PAGE
    cursor: Cursor | None = None
    # As given, for the links a page offers (filters kept, cursor replaced) and the form's values.
    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ListQuery:
        """From query values (a blank form field counts as absent); unknown names are ignored (a function
        key's ``code``, say). Values are taken as the console's form and links write them (lower case, no
        spaces around), so that the OpenAPI document can say exactly which are valid. Every bad value is
        named at once."""
        problems: list[tuple[str, str]] = []
        given = {name: str(params[name]) for name in PARAMETERS
                 if name in params and not (name in _BLANK_MEANS_ANY and not str(params[name]).strip())}

        def check(name: str, parse):
            if name not in given:
                return None
            try:
                return parse(given[name])
            except ValueError as error:
                problems.append((name, str(error)))
                return None

        status = check("status", _status)
        attention = check("attention", _flag) or False
        channel = check("channel", _channel)
        received_from = check("from", lambda text: _day(text, end=False))
        received_to = check("to", lambda text: _day(text, end=True))  # from after to: simply nothing matches
        search = check("q", _search)
        sort = check("sort", _sort) or "newest"
        limit = check("limit", _limit) or DEFAULT_PAGE
        where = ProspectFilter(status=status, attention=attention, channel=channel, received_from=received_from,
                               received_to=received_to, search=search)
        query = cls(where, sort == "newest", limit,
                    values=tuple((name, value) for name, value in given.items() if name != "cursor"))
        cursor = check("cursor", lambda text: Cursor.decode(text, query.fingerprint))
        if problems:
            raise InvalidQuery(problems)
        return replace(query, cursor=cursor)

    @property
    def fingerprint(self) -> str:
        """What a cursor is valid for: the filter and the order (a cursor of another list would skip rows)."""
        w = self.where
        text = json.dumps([w.status.value if w.status else None, w.attention, w.channel,
                           w.received_from.isoformat() if w.received_from else None,
                           w.received_to.isoformat() if w.received_to else None, w.search, self.newest_first])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def value(self, name: str) -> str:
        return dict(self.values).get(name, "")

    def link(self, **changes: str | None) -> list[tuple[str, str]]:
        """The query values with ``changes`` applied (None removes one): for links that keep the filter."""
        values = dict(self.values)
        for name, value in changes.items():
            if value is None:
                values.pop(name, None)
            else:
                values[name] = value
        return [(name, values[name]) for name in PARAMETERS if name in values]


STATUS_VALUES = tuple(status.value.lower() for status in ProspectStatus)


def _status(text: str) -> ProspectStatus:
    if text not in STATUS_VALUES:
        raise ValueError(f"must be one of {', '.join(STATUS_VALUES)}")
    return ProspectStatus(text.capitalize())


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("must be true or false")
    return text == "true"


def _channel(text: str) -> str:
    if not re.fullmatch(CHANNEL_ID_PATTERN, text):
        raise ValueError("must be a channel id: 1 to 64 letters, digits, '.', '_' or '-'")
    return text


def _day(text: str, *, end: bool) -> datetime:
    """A day in UTC (2026-01-31), from its start; as ``to``, through its end (the next day's start, exclusive)."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a day as 2026-01-31") from None
    return datetime.combine(day + timedelta(days=1) if end else day, time(), timezone.utc)


def _search(text: str) -> str | None:
    if len(text) > MAX_SEARCH:
        raise ValueError(f"may be at most {MAX_SEARCH} characters")
    return search_prefix(text) or None  # only punctuation or spaces: no search


def _sort(text: str) -> str:
    if text not in SORTS:
        raise ValueError("must be newest or oldest")
    return text


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE:
        raise ValueError(f"must be a whole number from 1 to {MAX_PAGE}")
    return int(text)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (``forward``) or before the row at ``position``. Opaque to callers."""

    position: Position
    forward: bool

    def encode(self, fingerprint: str) -> str:
        text = json.dumps([self.position.received_at.isoformat(), self.position.number, self.forward, fingerprint])
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, fingerprint: str) -> Cursor:
        try:
            received, number, forward, made_for = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            position = Position(datetime.fromisoformat(received), str(number))
        except (ValueError, TypeError, binascii.Error):
            raise ValueError("is not a cursor this list gave") from None
        if made_for != fingerprint:
            raise ValueError("belongs to another filter or order: start from the first page")
        return cls(position, bool(forward))


@dataclass(frozen=True)
class ProspectPage:
    rows: list[ProspectSummary]
    counts: dict[str, int]
    query: ListQuery
    next_cursor: str | None
    previous_cursor: str | None


class ProspectDirectory:
    def __init__(self, store: Store):
        self._store = store

    def page(self, query: ListQuery) -> ProspectPage:
        """One page and the counts per status. Backwards (a previous cursor) reads the other way from the
        cursor's row and turns the rows round; one row more than the page tells whether there is more."""
        cursor = query.cursor
        backwards = cursor is not None and not cursor.forward
        with self._store.unit_of_work(read_only=True) as uow:
            rows = uow.prospect_directory(query.where, newest_first=query.newest_first != backwards,
                                          after=cursor.position if cursor else None, limit=query.limit + 1)
            counts = uow.prospect_counts()
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        if backwards:
            rows.reverse()
        mark = query.fingerprint
        next_cursor = previous_cursor = None
        if rows and (more if not backwards else True):
            next_cursor = Cursor(rows[-1].position, forward=True).encode(mark)
        if rows and (more if backwards else cursor is not None):
            previous_cursor = Cursor(rows[0].position, forward=False).encode(mark)
        log.info("prospect page", extra={"rows": len(rows), "search": bool(query.where.search)})
        return ProspectPage(rows, counts, query, next_cursor, previous_cursor)

    def counts(self) -> dict[str, int]:
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.prospect_counts()

    def rows(self, query: ListQuery) -> Iterator[ProspectSummary]:
        """Every row of the query's filter, in its order, read a page at a time (each page in a unit of work
        of its own: an export of 100,000 rows never holds them all)."""
        after = None
        while True:
            with self._store.unit_of_work(read_only=True) as uow:
                batch = uow.prospect_directory(query.where, newest_first=query.newest_first, after=after,
                                               limit=EXPORT_PAGE)
            yield from batch
            if len(batch) < EXPORT_PAGE:
                return
            after = batch[-1].position

    def write_csv(self, query: ListQuery, out: IO[bytes]) -> int:
        """The filter's rows as CSV (UTF-8 with a byte-order mark, which spreadsheets need to read it as UTF-8),
        written as they are read; returns how many."""
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        count = 0
        for row in self.rows(query):
            writer.writerow(csv_cells(row))
            count += 1
        text.flush()
        text.detach()  # the caller's stream stays open
        log.info("prospects exported", extra={"rows": count})
        return count


def csv_cells(row: ProspectSummary) -> list[str]:
    values = {**row.model_dump(mode="json"), "status": row.status.value,
              "needs_attention": "yes" if row.needs_attention else "no"}
    return [_cell(values[column]) for column in CSV_COLUMNS]


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def summary_json(row: ProspectSummary) -> dict:
    """A row as the JSON route answers it (camelCase, as the partner routes)."""
    return {"id": row.id, "number": row.number, "status": row.status.value, "company": row.company,
            "requester": row.requester, "requesterEmail": row.requester_email, "country": row.country,
            "channel": row.channel, "registrationNumber": row.registration_number, "vatNumber": row.vat_number,
            "needsAttention": row.needs_attention, "attentionReason": row.attention_reason,
            "receivedAt": row.received_at.isoformat(), "updatedAt": row.updated_at.isoformat()}


def page_json(page: ProspectPage) -> dict:
    return {"prospects": [summary_json(row) for row in page.rows], "counts": page.counts,
            "nextCursor": page.next_cursor, "previousCursor": page.previous_cursor}
