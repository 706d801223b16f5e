"""Duplicate requests (issue 11): one open request per requester email, and a flag on a prospect whose organization
is already an open prospect or a partner, or whose requester already signs in for a partner.

Everything here reads through the store's duplicate-key index (``UnitOfWork.signups_with_key``) and keyed
lookups, in the caller's unit of work, so that the decision commits with what it decides."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.duplicates import index_key, organization_keys, requester_key
from shared.domain.model import HistoryEntry, Prospect, ProspectStatus, SignupRecord, SignupStatus
from shared.domain.partners import UserStatus, user_id_for
from shared.domain.ids import prospect_id_for
from shared.ports import UnitOfWork

log = logging.getLogger("b2b.duplicates")

# At most this many earlier requests are read per key: a key shared by more is a company applying over and
# over, and the first open ones are what the flag names.
MATCHES_PER_KEY = 20
REPEAT_ACTION = "repeat request received"


def _open_prospect(uow: UnitOfWork, signup: SignupRecord) -> Prospect | None:
    if signup.status is not SignupStatus.SYNCED or signup.prospect_id is None:
        return None
    prospect = uow.get_prospect(signup.prospect_id)
    return prospect if prospect is not None and prospect.status is ProspectStatus.PENDING else None


def is_open(uow: UnitOfWork, signup: SignupRecord) -> bool:
    """A request that still counts as the requester's one: confirmed (or needing no confirmation) and not yet
    a prospect, or a prospect not decided. One awaiting confirmation does not count: anyone can type someone
    else's email, and such a request must not hold the real requester's back."""
    return signup.status is SignupStatus.RECEIVED or _open_prospect(uow, signup) is not None


def first_open_request(uow: UnitOfWork, signup: SignupRecord, *, only_earlier: bool = False) -> SignupRecord | None:
    """The earliest open request with ``signup``'s requester email, never itself. ``only_earlier``: only one that
    comes before it in the sync's order (received time, then id), so that of two open ones the sync links the
    later to the earlier, never each to the other (a store may show it a stale status of the other)."""
    for other in uow.signups_with_key(index_key(requester_key(signup.request)), MATCHES_PER_KEY, excluding=signup.id):
        if only_earlier and (other.received_at, other.id) >= (signup.received_at, signup.id):
            break
        if is_open(uow, other):
            return other
    return None


def link_repeat(uow: UnitOfWork, repeat: SignupRecord, first: SignupRecord, now: datetime, *, status: SignupStatus,
                new: bool = False) -> SignupRecord:
    """``repeat`` kept as linked to ``first`` (added when ``new``, else saved) with ``status``, then the first's
    history (its prospect's, kept under the prospect id the first request has or will have) says a repeat came,
    without personal data. The record first: a store that commits partition by partition never keeps the line
    of a repeat it did not keep."""
    linked = repeat.model_copy(update={"repeat_of": first.id, "status": status})
    (uow.add_signup if new else uow.save_signup)(linked)
    uow.append_history(HistoryEntry(prospect_id=first.prospect_id or prospect_id_for(first.id), at=now,
                                    actor="intake", action=REPEAT_ACTION, detail=f"request {repeat.id}"))
    log.info("repeat request linked", extra={"signup_id": repeat.id, "first_signup_id": first.id})
    return linked


@dataclass
class BatchMemory:
    """What a sync batch made so far, for its later signups: a store may buffer writes until commit, so the
    batch's own prospects are not yet in the index it reads."""

    by_email: dict[str, SignupRecord] = field(default_factory=dict)
    by_organization: dict[str, list[str]] = field(default_factory=dict)  # key: prospect numbers

    def remember(self, signup: SignupRecord, prospect: Prospect) -> None:
        self.by_email.setdefault(requester_key(signup.request), signup)
        for key in organization_keys(signup.request):
            self.by_organization.setdefault(key, []).append(prospect.number)


def organization_matches(uow: UnitOfWork, signup: SignupRecord, memory: BatchMemory | None = None) -> list[str]:
    """The open prospects (PRO-…) and the partners (CH-…: from an approved prospect, or onboarded by hand from an
    organization customer) of ``signup``'s organization: the same registration number, VAT number, or name in the
    same country."""
    found: list[str] = []
    for key in sorted(organization_keys(signup.request)):
        found += (memory.by_organization.get(key, []) if memory else [])
        for other in uow.signups_with_key(index_key(key), MATCHES_PER_KEY, excluding=signup.id):
            if other.prospect_id is None or other.status is not SignupStatus.SYNCED:
                continue
            prospect = uow.get_prospect(other.prospect_id)
            if prospect is None:
                continue
            if prospect.status is ProspectStatus.PENDING:
                found.append(prospect.number)
            elif prospect.status is ProspectStatus.APPROVED and prospect.hierarchy_id:
                found.append(prospect.hierarchy_id)
        if key.startswith("name:"):  # partners onboarded by hand are known by their organization's name only
            found += [partner.id for partner in uow.partners_with_key(index_key(key), MATCHES_PER_KEY)]
    return list(dict.fromkeys(found))


def partners_of_requester(uow: UnitOfWork, email: str) -> list[str]:
    """The partner (CH-…) the requester's email already signs in for as an active user, if any."""
    user = uow.get_partner_user(user_id_for(email))
    return [user.hierarchy_id] if user is not None and user.status is UserStatus.ACTIVE else []


def flag_reason(duplicates: list[str], user_of: list[str]) -> str | None:
    parts = []
    if duplicates:
        parts.append("possible duplicate of " + " / ".join(duplicates))
    if user_of:
        parts.append("requester already a user of " + " / ".join(user_of))
    return "; ".join(parts) or None


def checked(uow: UnitOfWork, signup: SignupRecord, prospect: Prospect, memory: BatchMemory) -> Prospect:
    """The new prospect with what the checks found, flagged when they found anything."""
    duplicates = organization_matches(uow, signup, memory)
    user_of = partners_of_requester(uow, signup.request.contact.email)
    reason = flag_reason(duplicates, user_of)
    if reason is None:
        return prospect
    log.info("prospect flagged at intake", extra={"prospect": prospect.number, "duplicates": len(duplicates),
                                                  "requester_user_of": len(user_of)})
    return prospect.model_copy(update={"possible_duplicate_of": duplicates, "requester_user_of": user_of}) \
        .flagged(reason, prospect.created_at)
