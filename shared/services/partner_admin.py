"""The back office's partners: find them, read one whole, rename it, block and reactivate it.

The console's pages, the key-based JSON routes and the ``b2b partner`` commands all call these functions (and
PartnerUsers' and Credit's operator functions for users and the credit line), so each action has one
implementation. Every change an operator makes is told in the partner's history (who, and for a block why) in
the unit of work that makes it; doing the same again changes nothing and says so (``changed`` False).

Blocking keeps everything (users, credit line, reservations): the partner's users are refused on the partner
routes until an operator reactivates it (shared.domain.partners.PartnerBlocked).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from shared.domain.errors import InvalidInput
from shared.domain.model import CustomerHierarchy, HistoryEntry
from shared.domain.partner_summary import PartnerSummary, summarize
from shared.domain.partner_inputs import PartnerBlock, PartnerReactivation, PartnerRename
from shared.domain.partners import (
    CreditLine,
    PartnerUser,
    Reservation,
    UserStatus,
    blocked,
    reactivated,
    renamed,
    user_id_for,
)
from shared.domain.validation import validated
from shared.ports import Clock, Store, UnitOfWork
from shared.services.partner_users import OPERATOR_ACTOR, existing_partner, partner_history
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.partner_admin")

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
OPEN_RESERVATIONS_SHOWN = 100
_NUMBER = re.compile(r"^CH-\d{1,12}$", re.IGNORECASE)
_CURSOR = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")  # a hierarchy id: what the previous page ended with


# One line of the partners list: the partner, its users (not removed), its Admins and its credit line. A store
# keeps it with every change it summarizes (see shared/domain/partner_summary.py), so a page is a page's reads.
PartnerRow = PartnerSummary


@dataclass(frozen=True)
class PartnerPage:
    rows: list[PartnerRow]
    next_cursor: str | None  # None: this is the last page


@dataclass(frozen=True)
class PartnerFile:
    """A partner as the back office reads it: everything on its page."""

    hierarchy: CustomerHierarchy
    users: list[PartnerUser]  # removed ones too: the back office sees the whole story
    credit: CreditLine | None
    open_reservations: list[Reservation]
    history: list[HistoryEntry]
    prospect_number: str | None = None  # the prospect it came from (PRO-000001), if any


@dataclass(frozen=True)
class PartnerChange:
    hierarchy: CustomerHierarchy
    changed: bool  # False: it was so already; nothing was written

    def to_json(self) -> dict:
        return {**standing_json(self.hierarchy), "changed": self.changed}


def standing_json(hierarchy: CustomerHierarchy) -> dict:
    """The partner with its standing (who blocked it, when and why)."""
    return {"hierarchyId": hierarchy.id, "name": hierarchy.name, "purpose": hierarchy.purpose,
            "organizationCustomerId": hierarchy.organization_customer_id, "prospectId": hierarchy.prospect_id,
            "createdAt": hierarchy.created_at.isoformat(), "status": hierarchy.status.value,
            "statusChangedAt": hierarchy.status_changed_at.isoformat() if hierarchy.status_changed_at else None,
            "statusChangedBy": hierarchy.status_changed_by, "blockReason": hierarchy.block_reason}


def _cursor(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _CURSOR.fullmatch(value):
        raise InvalidInput([("cursor", "is not a cursor this list gave")])
    return value


def _page_size(value: int | None) -> int:
    if value is None:
        return PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise InvalidInput([("limit", f"must be between 1 and {MAX_PAGE_SIZE}")])
    return value


class PartnerAdmin:
    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock

    # --- reading ---------------------------------------------------------------------------------
    def page(self, query: str | None = None, cursor: str | None = None, limit: int | None = None) -> PartnerPage:
        """A page of partners in number order. ``query``: a number (CH-000001) or a user's email finds that one
        partner; other text, the partners whose name contains it (any case)."""
        size, after = _page_size(limit), _cursor(cursor)
        query = (query or "").strip() or None
        with self._store.unit_of_work(read_only=True) as uow:
            if query is not None and (_NUMBER.fullmatch(query) or "@" in query):
                found = _one_partner(uow, query)
                return PartnerPage([_row(uow, h) for h in found if after is None], None)
            # One more than asked tells whether another page follows, without a count of everything.
            rows = uow.partner_summaries(after, size + 1, query)
        return PartnerPage(rows[:size], rows[size - 1].hierarchy.id if len(rows) > size else None)

    def file(self, hierarchy_id: str) -> PartnerFile:
        with self._store.unit_of_work(read_only=True) as uow:
            hierarchy = existing_partner(uow, hierarchy_id)
            prospect = uow.get_prospect(hierarchy.prospect_id) if hierarchy.prospect_id else None
            return PartnerFile(hierarchy, uow.partner_users(hierarchy_id), uow.get_credit_line(hierarchy_id),
                               uow.open_reservations(hierarchy_id, OPEN_RESERVATIONS_SHOWN),
                               uow.history(hierarchy.aggregate_id), prospect.number if prospect else None)

    # --- acting ----------------------------------------------------------------------------------
    def rename(self, hierarchy_id: str, payload: object) -> PartnerChange:
        given = validated(PartnerRename, payload)
        return self._change(hierarchy_id, given.operator, "partner renamed",
                            lambda h, by, now: (renamed(h, given.name), f"'{h.name}' → '{given.name}'"))

    def block(self, hierarchy_id: str, payload: object) -> PartnerChange:
        given = validated(PartnerBlock, payload)
        return self._change(hierarchy_id, given.operator, "partner blocked",
                            lambda h, by, now: (blocked(h, by, given.reason, now), given.reason))

    def reactivate(self, hierarchy_id: str, payload: object) -> PartnerChange:
        given = validated(PartnerReactivation, payload)
        return self._change(hierarchy_id, given.operator, "partner reactivated",
                            lambda h, by, now: (reactivated(h, by, now), given.note or ""))

    def _change(self, hierarchy_id: str, operator: str, action: str,
                make: Callable[[CustomerHierarchy, str, datetime], tuple[CustomerHierarchy | None, str]]) -> PartnerChange:
        by = f"{OPERATOR_ACTOR}:{operator}"

        def attempt() -> PartnerChange:
            now = self._clock.now()
            with self._store.unit_of_work() as uow:
                hierarchy = existing_partner(uow, hierarchy_id)
                changed, detail = make(hierarchy, by, now)
                if changed is None:
                    return PartnerChange(hierarchy, changed=False)
                uow.save_hierarchy(changed)
                partner_history(uow, changed, now, by, action, detail)
            return PartnerChange(changed, changed=True)

        done = on_conflict(attempt)
        if done.changed:
            log.info(action, extra={"hierarchy": hierarchy_id, "operator": operator})
        return done


def _one_partner(uow: UnitOfWork, query: str) -> list[CustomerHierarchy]:
    """The partner with this number, or the one whose user (not removed) signs in with this email."""
    if "@" in query:
        user = uow.get_partner_user(user_id_for(query))
        if user is None or user.status is UserStatus.REMOVED:
            return []
        hierarchy_id = user.hierarchy_id
    else:
        hierarchy_id = query.upper()
    hierarchy = uow.get_hierarchy(hierarchy_id)
    return [] if hierarchy is None else [hierarchy]


def _row(uow: UnitOfWork, hierarchy: CustomerHierarchy) -> PartnerRow:
    return summarize(hierarchy, uow.partner_users(hierarchy.id), uow.get_credit_line(hierarchy.id))


def row_json(row: PartnerRow) -> dict:
    from shared.services.credit import credit_line_json

    return {**standing_json(row.hierarchy), "users": row.users,
            "admins": [{"id": u.id, "email": u.email, "name": f"{u.first_name} {u.last_name}"} for u in row.admins],
            "credit": None if row.credit is None else credit_line_json(row.credit)}


def history_json(entry: HistoryEntry) -> dict:
    return {"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action, "detail": entry.detail}


def file_json(file: PartnerFile) -> dict:
    from shared.services.credit import credit_line_json, reservation_json
    from shared.services.partner_users import user_json

    return {**standing_json(file.hierarchy), "users": [user_json(u) for u in file.users],
            "credit": None if file.credit is None else credit_line_json(file.credit),
            "openReservations": [reservation_json(r) for r in file.open_reservations],
            "history": [history_json(e) for e in file.history]}
