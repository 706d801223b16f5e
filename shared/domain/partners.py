"""What an approved partner has in Commerce: its sign-in users, its credit line and order reservations.

A partner user is added by email. Its id derives from that email alone, so one email is one user (and one
customer) across all partners: adding it to a second partner meets the first record. Who signs in as the
user is decided once, at the first sign-in: the token's issuer and subject are bound to the user (``sign_in``)
when the issuer vouches for the email; from then on the user is found by that binding only, never by an
email claim again (email claims are mutable and not meant for authorization).
Changes made by the partner's admin wait in ``sync`` until the user sync applies them to the customer
and the hierarchy (design.md §1: "edits and removals go through the same sync").
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

from shared.domain.errors import DomainError, Forbidden, IllegalTransition
from shared.domain.ids import derived_id
from shared.domain.model import CustomerHierarchy, HierarchyRole, PartnerStatus, _Entity


class UserStatus(str, Enum):
    PENDING = "Pending"  # added; the sync has not made it a member yet
    ACTIVE = "Active"
    REMOVED = "Removed"


class UserChange(str, Enum):
    """What the user sync still has to apply to the customer and the hierarchy."""

    ADD = "add"
    EDIT = "edit"
    REMOVE = "remove"


class EmailTaken(DomainError):
    """The sign-in email belongs to a user of a partner already (one email, one customer)."""


class SignInTaken(Forbidden):
    """The email's user is bound to another sign-in already: a second account with the same email address
    cannot take it over."""


class FromProspect(DomainError):
    """The organization came from a prospect: only deciding that prospect makes it a partner."""


class CurrencyInUse(DomainError):
    """The credit line's currency cannot change while amounts are set in it (users' spending limits)."""


class LastAdmin(DomainError):
    """The change would leave the partner without an Admin."""


PARTNER_BLOCKED = "partner_blocked"  # the reason code a blocked partner's orders are denied with


class PartnerBlocked(Forbidden):
    """The partner is blocked by the back office: its users may use none of the partner routes (403), and an
    order check denies with ``partner_blocked``. Nothing of the partner's is deleted; reactivating it gives
    everything back. ``problem_members`` are the members a problem+json answer adds (a client acts on the code,
    not the words); an order's check or reservation adds its decision, deny."""

    def __init__(self, hierarchy_id: str, order_id: str | None = None):
        self.hierarchy_id, self.order_id = hierarchy_id, order_id
        super().__init__(f"partner {hierarchy_id} is blocked; ask the back office")

    def for_order(self, order_id: str) -> PartnerBlocked:
        return PartnerBlocked(self.hierarchy_id, order_id)

    def problem_members(self) -> dict:
        members: dict = {"code": PARTNER_BLOCKED, "reasons": [{"code": PARTNER_BLOCKED, "message": str(self)}]}
        if self.order_id is not None:
            members["decision"] = "deny"
        return members


# A partner's standing: active ⇄ blocked, each by an operator; the same move again changes nothing.
_STANDING: dict[PartnerStatus, frozenset[PartnerStatus]] = {
    PartnerStatus.ACTIVE: frozenset({PartnerStatus.BLOCKED}),
    PartnerStatus.BLOCKED: frozenset({PartnerStatus.ACTIVE}),
}


def _standing(hierarchy: CustomerHierarchy, target: PartnerStatus, by: str, at: datetime,
              reason: str | None) -> CustomerHierarchy | None:
    """The hierarchy moved to ``target``; None when it is there already (idempotent: nothing to write)."""
    if hierarchy.status is target:
        return None
    if target not in _STANDING[hierarchy.status]:
        raise IllegalTransition(f"partner {hierarchy.id} is {hierarchy.status.value}; it cannot become {target.value}")
    return hierarchy.model_copy(update={"status": target, "status_changed_at": at, "status_changed_by": by,
                                        "block_reason": reason})


def blocked(hierarchy: CustomerHierarchy, by: str, reason: str, at: datetime) -> CustomerHierarchy | None:
    """Blocked, with who and why; None: it was blocked already (the first block's who and why stand)."""
    return _standing(hierarchy, PartnerStatus.BLOCKED, by, at, reason)


def reactivated(hierarchy: CustomerHierarchy, by: str, at: datetime) -> CustomerHierarchy | None:
    """Active again; None: it was not blocked."""
    return _standing(hierarchy, PartnerStatus.ACTIVE, by, at, None)


def renamed(hierarchy: CustomerHierarchy, name: str) -> CustomerHierarchy | None:
    """The hierarchy under ``name``; None: it has that name already."""
    return None if hierarchy.name == name else hierarchy.model_copy(update={"name": name})


def usable(hierarchy: CustomerHierarchy) -> CustomerHierarchy:
    """The hierarchy, if its users may use it; PartnerBlocked otherwise."""
    if hierarchy.is_blocked:
        raise PartnerBlocked(hierarchy.id)
    return hierarchy


def normalize_email(email: str) -> str:
    return email.strip().lower()


def user_id_for(email: str) -> str:
    return derived_id("partner-user", normalize_email(email))


def person_customer_id_for(user_id: str) -> str:
    """The customer made for a user the admin added (the requester's is the prospect's Person)."""
    return derived_id("customer", "partner-user", user_id)


class SignIn(_Entity):
    """The account that signs in as a partner user: a token's issuer and its stable subject (``sub`` or
    ``oid``), as bound at the user's first sign-in."""

    issuer: str
    subject: str
    subject_claim: str = "sub"  # the claim the subject came from: sub and oid are different ids of one account
    bound_at: datetime

    def same_account(self, issuer: str, subject: str) -> bool:
        return (self.issuer, self.subject) == (issuer, subject)


class PartnerUser(_Entity):
    id: str
    hierarchy_id: str
    customer_id: str
    email: str
    first_name: str
    last_name: str
    role: HierarchyRole
    spending_limit: Decimal | None = None  # per order; None: no per-user limit (the credit line still holds)
    language: str = "en"
    status: UserStatus
    sync: UserChange | None = None
    version: int = 1  # every change counts up; the sync's effects (emails) are keyed by it
    leaves_hierarchy_id: str | None = None  # re-added elsewhere before the sync took it out of this one
    activated_at: datetime | None = None
    sign_in: SignIn | None = None  # None until the first sign-in binds an account
    created_at: datetime
    updated_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status is UserStatus.ACTIVE

    @property
    def counts_as_admin(self) -> bool:
        return self.role is HierarchyRole.ADMIN and self.status is not UserStatus.REMOVED

    def rejoin(self, hierarchy_id: str, first_name: str, last_name: str, role: HierarchyRole,
               spending_limit: Decimal | None, language: str, at: datetime) -> PartnerUser:
        """A removed user added again (to this partner or another): the same user and customer."""
        if self.status is not UserStatus.REMOVED:
            raise EmailTaken("this email signs in for a partner already")
        pending_exit = self.sync is UserChange.REMOVE and self.hierarchy_id != hierarchy_id
        # A hierarchy to leave already set is the one the user is still a member of: any partner in
        # between was joined and left before a sync, so never joined, and nothing to leave there.
        leaves = self.leaves_hierarchy_id or (self.hierarchy_id if pending_exit else None)
        return self.model_copy(update={
            # Added again, perhaps for another person with the address now: the next first sign-in binds anew.
            "sign_in": None,
            "leaves_hierarchy_id": leaves,
            "hierarchy_id": hierarchy_id, "first_name": first_name, "last_name": last_name, "role": role,
            "spending_limit": spending_limit, "language": language, "status": UserStatus.PENDING,
            "sync": UserChange.ADD, "version": self.version + 1, "updated_at": at,
        })

    def bound_to(self, issuer: str, subject: str, subject_claim: str, at: datetime) -> PartnerUser:
        """The first sign-in binds its account. An account bound before stays bound: the user is found by it
        alone. One bound under another issuer or subject claim is dead (the app takes one issuer's tokens and
        reads one claim: those settings changed), so a sign-in as configured now replaces it, as a first
        sign-in would."""
        if self.sign_in is not None:
            if self.sign_in.same_account(issuer, subject):
                return self
            if (self.sign_in.issuer, self.sign_in.subject_claim) == (issuer, subject_claim):
                raise SignInTaken("this email's partner user signs in with another account already; sign in with "
                                  "that account, or ask the back office to remove and add the user again")
        # Not a version: the sync applies nothing for it, and its emails are keyed by the version.
        return self.model_copy(update={"sign_in": SignIn(issuer=issuer, subject=subject, subject_claim=subject_claim,
                                                         bound_at=at)})

    def edited(self, changes: dict, at: datetime) -> PartnerUser:
        if self.status is UserStatus.REMOVED:
            raise IllegalTransition("a removed user cannot be edited")
        # A user the sync has not added yet stays an "add" (with the new values); others need an "edit".
        sync = UserChange.ADD if self.sync is UserChange.ADD else UserChange.EDIT
        return self.model_copy(update={**changes, "sync": sync, "version": self.version + 1, "updated_at": at})

    def removed(self, at: datetime) -> PartnerUser:
        if self.status is UserStatus.REMOVED:
            return self
        return self.model_copy(update={"status": UserStatus.REMOVED, "sync": UserChange.REMOVE,
                                       "version": self.version + 1, "updated_at": at})

    def synced(self, at: datetime) -> PartnerUser:
        """The sync applied the pending change: an added or edited user is Active now."""
        status = UserStatus.REMOVED if self.status is UserStatus.REMOVED else UserStatus.ACTIVE
        return self.model_copy(update={
            "status": status, "sync": None, "updated_at": at, "leaves_hierarchy_id": None,
            "activated_at": self.activated_at or (at if status is UserStatus.ACTIVE else None),
        })


class CreditLine(_Entity):
    """The organization's credit: what it may owe at once, how much of it open orders hold, and what invoiced
    orders owe until paid (``balance``; below zero when the partner paid more than it owed: a credit in its
    favour). Every change is a movement of the credit ledger (shared.domain.ledger)."""

    hierarchy_id: str
    limit: Decimal
    currency: str
    reserved: Decimal = Decimal(0)
    balance: Decimal = Decimal(0)  # unpaid: captured orders less payments
    allow_exceeding: bool = False  # orders over the available credit are allowed (and say so), as Adobe's setting
    movements: int = 0  # the number of the line's last ledger entry
    money_moved: bool = False  # an order or a payment moved money: the currency is the ledger's from then on
    updated_at: datetime

    @property
    def available(self) -> Decimal:
        return self.limit - self.reserved - self.balance

    def exceeded_by(self, amount: Decimal) -> Decimal:
        """How far an order of ``amount`` would take the line over its limit (0: it stays within)."""
        return max(amount - self.available, Decimal(0))


class ReservationStatus(str, Enum):
    HELD = "held"
    CAPTURED = "captured"  # invoiced: the final amount moved from the hold to the partner's unpaid balance
    RELEASED = "released"


class Reservation(_Entity):
    """An order's amount held against its partner's credit line (one per order id, ever)."""

    order_id: str
    hierarchy_id: str
    user_id: str
    amount: Decimal
    currency: str
    status: ReservationStatus = ReservationStatus.HELD
    created_at: datetime
    released_at: datetime | None = None
    captured_amount: Decimal | None = None  # the invoiced amount (≤ amount), once captured
    captured_at: datetime | None = None

    @property
    def committed(self) -> Decimal:
        """What this order spends of its buyer's budget: the hold while held, the invoiced amount once captured,
        nothing once released. Limits per period add these up."""
        if self.status is ReservationStatus.HELD:
            return self.amount
        if self.status is ReservationStatus.CAPTURED:
            return self.captured_amount if self.captured_amount is not None else self.amount
        return Decimal(0)


def order_refusals(user: PartnerUser, line: CreditLine | None, amount: Decimal, currency: str) -> list[tuple[str, str]]:
    """Why an order of ``amount`` by ``user`` may not go on the partner's credit: (code, reason) pairs,
    all that apply; none means it may. The storefront shows the reasons, so they name the figures."""
    refusals: list[tuple[str, str]] = []
    if user.status is not UserStatus.ACTIVE:
        refusals.append(("user_not_active", f"the user is {user.status.value}, not Active"))
    if line is None:
        refusals.append(("no_credit_line", "the partner has no credit line"))
    elif currency != line.currency:
        refusals.append(("currency_mismatch", f"the partner's credit is in {line.currency}, the order in {currency}"))
    if user.spending_limit is not None and amount > user.spending_limit:
        refusals.append(("over_user_limit", f"{amount} is over the user's spending limit of {user.spending_limit} per order"))
    if line is not None and currency == line.currency and amount > line.available and not line.allow_exceeding:
        refusals.append(("over_credit", f"{amount} {currency} is over the partner's available credit of "
                                        f"{line.available} {line.currency}"))
    return refusals


EXCEEDS_CREDIT = "exceeds_credit"  # the warning of an order over the credit of a line allowed to exceed it


def order_warnings(line: CreditLine | None, amount: Decimal, currency: str) -> list[tuple[str, str]]:
    """What an allowed order should still know: (code, message) pairs. An order over the available credit of a
    line allowed to exceed its limit goes through, and says by how much it exceeds it."""
    if line is None or currency != line.currency or not line.allow_exceeding or not line.exceeded_by(amount):
        return []
    return [(EXCEEDS_CREDIT, f"{amount} {currency} exceeds the partner's available credit of {line.available} "
                             f"{line.currency} by {line.exceeded_by(amount)}; the partner may exceed its limit")]
