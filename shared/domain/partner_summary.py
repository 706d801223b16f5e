"""One line of the back office's partners list, kept whole so that a page of the list is one read.

``summarize`` is the one definition of what the line says: the partner (name, standing), how many users it
has (not removed), its Admins and its credit line. A store keeps the line with every change to what it
summarizes (the hierarchy: rename, block, reactivate; a user: added, removed, role or status changed, moved;
the credit line), in the unit of work that makes the change (shared/adapters/azure_partner_summary.py).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.domain.model import CustomerHierarchy, HierarchyRole
from shared.domain.partners import CreditLine, PartnerUser, UserStatus


class PartnerSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    hierarchy: CustomerHierarchy
    users: int  # not removed
    admins: list[PartnerUser]
    credit: CreditLine | None = None


def summarize(hierarchy: CustomerHierarchy, users: list[PartnerUser], credit: CreditLine | None) -> PartnerSummary:
    """The line of ``hierarchy``, from its users (``partner_users``: removed ones included) and credit line."""
    current = [u for u in users if u.status is not UserStatus.REMOVED and u.hierarchy_id == hierarchy.id]
    return PartnerSummary(hierarchy=hierarchy, users=len(current),
                          admins=[u for u in current if u.role is HierarchyRole.ADMIN], credit=credit)


def name_matches(hierarchy: CustomerHierarchy, name_contains: str | None) -> bool:
    return not name_contains or name_contains.casefold() in hierarchy.name.casefold()
