"""The back office's list of prospects ("All prospects"): what a row shows, how it is filtered, searched and
sorted, and the search keys a store indexes.

Stores answer one page in the cost of the page (indexes on SQLite, index rows on Azure Tables), never by
reading every prospect; this module is what both agree on, so the contract suite can hold them to it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict

from shared.domain.model import Prospect, ProspectStatus

# Search keys are cut to this many characters: a prefix longer than any key still matches what it starts with.
SEARCH_KEY_LENGTH = 100
ATTENTION = "attention"  # the counter of flagged prospects, beside one per status


def fold(text: str) -> str:
    """``text`` as the search compares it: transliterated to ASCII (Å → A, ø → o, ß → ss; anyascii, a kept
    table of every Unicode character, where NFKD alone leaves ø and ł as they are), lower-cased, runs of
    white space as one space. A person types "oberg" and finds "Öberg"."""
    from anyascii import anyascii

    return re.sub(r"\s+", " ", anyascii(text).lower()).strip()


def _compact(text: str) -> str:
    """Registration and VAT numbers are typed with and without their spaces, dots and dashes."""
    return re.sub(r"[^0-9a-z]", "", fold(text))


def search_keys(row: ProspectSummary) -> frozenset[str]:
    """What a search matches by prefix: the company name, the requester's email, the number, and the
    registration and VAT numbers (as typed, and without their spaces and punctuation)."""
    keys = {row.number.lower(), fold(row.requester_email), fold(row.company)}
    for number in (row.registration_number, row.vat_number):
        if number:
            keys.update({fold(number), _compact(number)})
    return frozenset(key[:SEARCH_KEY_LENGTH] for key in keys if key)


def search_prefix(query: str) -> str:
    """The folded prefix a search box's text looks for (cut as keys are: longer cannot match more)."""
    return fold(query)[:SEARCH_KEY_LENGTH]


class ProspectSummary(BaseModel):
    """One row of the list: what the table and the CSV show, without the request's other personal data."""

    model_config = ConfigDict(frozen=True)

    id: str
    number: str
    status: ProspectStatus
    company: str
    requester: str
    requester_email: str
    country: str
    channel: str
    registration_number: str | None = None
    vat_number: str | None = None
    needs_attention: bool = False
    attention_reason: str | None = None
    received_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, prospect: Prospect) -> ProspectSummary:
        request = prospect.request
        return cls(
            id=prospect.id, number=prospect.number, status=prospect.status, company=request.company.name,
            requester=f"{request.contact.first_name} {request.contact.last_name}",
            requester_email=request.contact.email, country=request.company.address.country,
            channel=request.channel_id, registration_number=request.company.registration_number,
            vat_number=request.company.vat_number, needs_attention=prospect.needs_attention,
            attention_reason=prospect.attention_reason, received_at=prospect.created_at,
            updated_at=prospect.updated_at,
        )

    @property
    def position(self) -> Position:
        return Position(self.received_at, self.number)


@dataclass(frozen=True)
class Position:
    """Where a row stands in the list's order: by the time the prospect was received, then its number."""

    received_at: datetime
    number: str

    def key(self) -> tuple[datetime, str]:
        return (self.received_at.astimezone(timezone.utc), self.number)


@dataclass(frozen=True)
class ProspectFilter:
    """Every part narrows the list (all of them together). ``received_from`` is inclusive, ``received_to``
    exclusive; ``search`` is a folded prefix (``search_prefix``) of any of a prospect's ``search_keys``."""

    status: ProspectStatus | None = None
    attention: bool = False
    channel: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    search: str | None = None

    def matches(self, row: ProspectSummary) -> bool:
        """The filter as a predicate: what each store's query must answer."""
        received = row.received_at.astimezone(timezone.utc)
        if self.status is not None and row.status is not self.status:
            return False
        if self.attention and not row.needs_attention:
            return False
        if self.channel is not None and row.channel != self.channel:
            return False
        if self.received_from is not None and received < self.received_from:
            return False
        if self.received_to is not None and received >= self.received_to:
            return False
        if self.search:
            return any(key.startswith(self.search) for key in search_keys(row))
        return True


def ordered(rows: list[ProspectSummary], newest_first: bool) -> list[ProspectSummary]:
    return sorted(rows, key=lambda row: row.position.key(), reverse=newest_first)


def beyond(row: ProspectSummary, after: Position | None, newest_first: bool) -> bool:
    """Whether ``row`` comes after ``after`` in the list's order (keyset paging)."""
    if after is None:
        return True
    return row.position.key() < after.key() if newest_first else row.position.key() > after.key()
