"""Approval routing: an order over its buyer's limits goes to the partner's Approvers and Admins.

POST /api/orders/{orderId}/approval submits it (the reservation's body; only an order refused for the
buyer's own limits alone, see ROUTABLE); an Approver or Admin of the partner, never the buyer, approves or
rejects it with a comment. Approving holds the amount on the credit line in the same unit of work as the
decision (credit.hold), so an approval that commits has its reservation and one that finds the credit short
changes nothing (409 with the figures). Each is idempotent by order id: the same submission or decision
again answers what stands; the other decision is a 409 naming it.

A pending request expires after ``expiry_days``: on read at once (a reader, and a decision, sees it expired),
and in the store by the timer ``approval_expiry`` (``expire_due``), which tells the buyer. Emails commit with
the change that causes them (the transactional outbox) in each recipient's language.
"""
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal

from shared.domain.approvals import (
    ROUTABLE,
    ApprovalDecisionInput,
    ApprovalQuery,
    ApprovalRequest,
    ApprovalStatus,
    NotAnApprover,
    OrderRefused,
    OwnOrder,
    expiry_for,
)
from shared.domain.email_templates import (
    APPROVAL_APPROVED,
    APPROVAL_EXPIRED,
    APPROVAL_REJECTED,
    APPROVAL_REQUESTED,
    PLACEHOLDERS,
)
from shared.domain.errors import IdempotencyConflict, InvalidInput, NotFound
from shared.domain.ids import derived_id
from shared.domain.ledger import user_actor
from shared.domain.model import CustomerHierarchy, HierarchyRole, OutboxMessage
from shared.domain.money import format_amount
from shared.domain.partners import CreditLine, PartnerUser, Reservation, UserStatus, order_refusals
from shared.domain.validation import validated
from shared.ports import Caller, Clock, Store, UnitOfWork
from shared.services.credit import _order_of, _orderer, hold_order, reservation_input
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay
from shared.services.partner_users import member_of, partner_history
from shared.services.retry import on_conflict
from shared.services.sign_ins import SignIns, signed_in_user
from shared.services.spending_limits import order_limits

log = logging.getLogger("b2b.approvals")

DECIDERS = frozenset({HierarchyRole.ADMIN, HierarchyRole.APPROVER})
LIST_LIMIT = 500  # a partner's approvals on one page, newest first


def approval_json(approval: ApprovalRequest) -> dict:
    return {"orderId": approval.order_id, "hierarchyId": approval.hierarchy_id, "userId": approval.user_id,
            "buyerName": approval.buyer_name,
            "amount": format_amount(approval.amount), "currency": approval.currency, "reasons": approval.reasons,
            "status": approval.status.value, "submittedAt": approval.submitted_at.isoformat(),
            "expiresAt": approval.expires_at.isoformat(),
            "decidedAt": approval.decided_at.isoformat() if approval.decided_at else None,
            "decidedBy": approval.decided_by, "decidedByName": approval.decided_by_name, "comment": approval.comment}


def _name(user: PartnerUser) -> str:
    return f"{user.first_name} {user.last_name}"


class Approvals:
    def __init__(self, store: Store, clock: Clock, relay: OutboxRelay, email_queue: str, store_name: str,
                 approvals_url: str, *, expiry_days: int = 7, time_zone: str = "UTC"):
        self._store = store
        self._clock = clock
        self._relay = relay
        self._email_queue = email_queue
        self._store_name = store_name
        self._approvals_url = approvals_url
        self._expiry_days = expiry_days
        self._time_zone = time_zone
        self._sign_ins = SignIns(store, clock)

    # --- the buyer -------------------------------------------------------------------------------
    def submit(self, caller: Caller, order_id: str, payload: object) -> tuple[ApprovalRequest, bool]:
        """(the request, created): created False when the same order was submitted before."""
        order_id, order, amount = reservation_input(order_id, payload)
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._submit(caller, order_id, order.hierarchy_id, order.user_id, amount, order.currency)))

    def _submit(self, caller: Caller, order_id: str, hierarchy_id: str, user_id: str, amount: Decimal,
                currency: str) -> tuple[ApprovalRequest, bool]:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            buyer = _order_of(order_id, lambda: _orderer(uow, caller, hierarchy_id, user_id))
            earlier = uow.get_approval(hierarchy_id, order_id)
            if earlier is not None:
                if not earlier.same_order(buyer.id, amount, currency):
                    raise IdempotencyConflict(f"order {order_id} was submitted for approval already with a "
                                              "different user, amount or currency")
                return earlier.as_of(now), False
            if uow.get_reservation(hierarchy_id, order_id) is not None:
                raise IdempotencyConflict(f"order {order_id} was reserved already")
            line = uow.get_credit_line(hierarchy_id)
            limits = order_limits(uow, buyer, line, amount, currency, now, self._time_zone)
            codes = {code for code, _ in limits.refusals}
            if not codes:
                raise IdempotencyConflict(f"order {order_id} is within the buyer's limits: reserve it, it needs no "
                                          "approval")
            if codes - ROUTABLE:
                raise OrderRefused(f"order {order_id} cannot go to approval", limits.refusals,
                                   _figures(amount, line))
            approval = ApprovalRequest(hierarchy_id=hierarchy_id, order_id=order_id, user_id=buyer.id,
                                       buyer_name=_name(buyer), amount=amount,
                                       currency=currency, reasons=[c for c, _ in limits.refusals],
                                       submitted_at=now, expires_at=expiry_for(now, self._expiry_days))
            uow.save_approval(approval)
            hierarchy = uow.get_hierarchy(hierarchy_id)
            approvers = [u for u in uow.partner_users(hierarchy_id)
                         if u.status is UserStatus.ACTIVE and u.role in DECIDERS and u.id != buyer.id]
            messages = [self._email(uow, hierarchy, approval, approver, APPROVAL_REQUESTED, now, buyer=buyer)
                        for approver in approvers]
        self._relay.send_now(messages)
        log.info("order submitted for approval", extra={"hierarchy": hierarchy_id, "order": order_id,
                                                        "approvers": len(messages)})
        return approval, True

    def request(self, caller: Caller, order_id: str, hierarchy_id: str | None = None) -> ApprovalRequest:
        """One request, to its buyer or an Approver/Admin of its partner (404 to anyone else)."""
        return self._sign_ins.as_caller(caller, lambda: self._request(caller, order_id, hierarchy_id))

    def _request(self, caller: Caller, order_id: str, hierarchy_id: str | None) -> ApprovalRequest:
        with self._store.unit_of_work(read_only=True) as uow:
            hierarchy_id = hierarchy_id or signed_in_user(uow, caller).hierarchy_id
            _, me = member_of(uow, caller, hierarchy_id)
            approval = uow.get_approval(hierarchy_id, order_id)
        if approval is None or (approval.user_id != me.id and me.role not in DECIDERS):
            raise NotFound(f"no approval for order {order_id}")
        return approval.as_of(self._clock.now())

    def list(self, caller: Caller, hierarchy_id: str, query: object) -> list[ApprovalRequest]:
        """The partner's requests for its Approvers and Admins; with ``mine``, the caller's own (anyone's)."""
        given = validated(ApprovalQuery, query)
        return self._sign_ins.as_caller(caller, lambda: self._list(caller, hierarchy_id, given))

    def _list(self, caller: Caller, hierarchy_id: str, given: ApprovalQuery) -> list[ApprovalRequest]:
        with self._store.unit_of_work(read_only=True) as uow:
            _, me = member_of(uow, caller, hierarchy_id)
            if not given.mine and me.role not in DECIDERS:
                raise NotAnApprover("only the partner's Approvers and Admins see its approvals; ask for your own "
                                    "with ?mine=true")
            found = uow.approvals(hierarchy_id, LIST_LIMIT)
        now = self._clock.now()
        seen = [a.as_of(now) for a in found if not given.mine or a.user_id == me.id]
        return [a for a in seen if given.wanted is None or a.status is given.wanted]

    # --- the approver ----------------------------------------------------------------------------
    def decide(self, caller: Caller, hierarchy_id: str, order_id: str, target: ApprovalStatus,
               payload: object | None) -> tuple[ApprovalRequest, bool, Reservation | None]:
        """(the request, changed, its reservation when approved)."""
        given = validated(ApprovalDecisionInput, payload or {})
        if target is ApprovalStatus.REJECTED and not given.comment:
            raise InvalidInput([("comment", "is required to reject: the buyer reads why")])
        return self._sign_ins.as_caller(caller, lambda: on_conflict(
            lambda: self._decide(caller, hierarchy_id, order_id, target, given.comment)))

    def _decide(self, caller: Caller, hierarchy_id: str, order_id: str, target: ApprovalStatus,
                comment: str | None) -> tuple[ApprovalRequest, bool, Reservation | None]:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            hierarchy, me = member_of(uow, caller, hierarchy_id)
            if me.role not in DECIDERS:
                raise NotAnApprover(f"only an Approver or Admin of partner {hierarchy_id} decides its approvals")
            approval = uow.get_approval(hierarchy_id, order_id)
            if approval is None:
                raise NotFound(f"no approval for order {order_id}")
            if approval.user_id == me.id:
                raise OwnOrder("an approver cannot decide an order of their own; another Approver or Admin does")
            decided = approval.decided(target, now, me.id, _name(me), comment)
            if decided is None:  # decided so before: the same answer again
                return approval, False, uow.get_reservation(hierarchy_id, order_id)
            reservation = None
            buyer = uow.get_partner_user(approval.user_id)
            if target is ApprovalStatus.APPROVED:
                reservation = self._hold(uow, approval, buyer, user_actor(me.id), now)
            uow.save_approval(decided)
            # The partner's history says who decided which order (the console's partner page shows it).
            partner_history(uow, hierarchy, now, f"partner-user:{me.id}", f"order {target.value}",
                            f"{order_id}: {format_amount(approval.amount)} {approval.currency}")
            template = APPROVAL_APPROVED if target is ApprovalStatus.APPROVED else APPROVAL_REJECTED
            messages = [] if buyer is None else [self._email(uow, hierarchy, decided, buyer, template, now)]
        self._relay.send_now(messages)
        log.info("approval decided", extra={"hierarchy": hierarchy_id, "order": order_id, "decision": target.value})
        return decided, True, reservation

    @staticmethod
    def _hold(uow: UnitOfWork, approval: ApprovalRequest, buyer: PartnerUser | None, by: str,
              now: datetime) -> Reservation:
        """The approved amount held now, or OrderRefused with the figures: the approver waives the buyer's own
        limits, never the credit line (nor a buyer no longer Active)."""
        if uow.get_reservation(approval.hierarchy_id, approval.order_id) is not None:
            raise IdempotencyConflict(f"order {approval.order_id} was reserved already")
        line = uow.get_credit_line(approval.hierarchy_id)
        if buyer is None or buyer.hierarchy_id != approval.hierarchy_id:
            refusals = [("user_not_active", "the buyer is no longer a user of the partner")]
        else:
            refusals = [r for r in order_refusals(buyer, line, approval.amount, approval.currency)
                        if r[0] not in ROUTABLE]
        if refusals:
            raise OrderRefused(f"order {approval.order_id} cannot be approved now", refusals,
                               _figures(approval.amount, line))
        assert line is not None and buyer is not None
        # The ledger's "by" is the approver: their decision moved the line, for the buyer's order.
        reservation, _ = hold_order(uow, line, buyer, approval.order_id, approval.amount, approval.currency, by, now)
        return reservation

    # --- the timer -------------------------------------------------------------------------------
    def expire_due(self, limit: int = 200) -> int:
        """Pending requests past their time become expired, and their buyers are told; returns how many."""
        with self._store.unit_of_work(read_only=True) as uow:
            due = uow.approvals_due(self._clock.now(), limit)
        expired = sum(on_conflict(lambda a=a: self._expire(a.hierarchy_id, a.order_id)) for a in due)
        if expired:
            log.info("approvals expired", extra={"expired": expired})
        return expired

    def _expire(self, hierarchy_id: str, order_id: str) -> int:
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            approval = uow.get_approval(hierarchy_id, order_id)
            if approval is None or approval.status_at(now) is not ApprovalStatus.EXPIRED \
                    or approval.status is not ApprovalStatus.PENDING:
                return 0  # decided (or expired by a concurrent run) meanwhile
            expired = approval.expired()
            uow.save_approval(expired)
            buyer = uow.get_partner_user(approval.user_id)
            hierarchy = uow.get_hierarchy(hierarchy_id)
            if hierarchy is not None:
                partner_history(uow, hierarchy, now, "approval-expiry", "order approval expired",
                                f"{order_id}: {format_amount(approval.amount)} {approval.currency}")
            messages = [] if buyer is None or hierarchy is None else [
                self._email(uow, hierarchy, expired, buyer, APPROVAL_EXPIRED, now)]
        self._relay.send_now(messages)
        return 1

    # --- emails ----------------------------------------------------------------------------------
    def _email(self, uow: UnitOfWork, hierarchy: CustomerHierarchy | None, approval: ApprovalRequest,
               to: PartnerUser, template: str, now: datetime, buyer: PartnerUser | None = None) -> OutboxMessage:
        assert hierarchy is not None
        values = {"firstname": to.first_name, "lastname": to.last_name, "company": hierarchy.name,
                  "orderid": approval.order_id, "amount": f"{format_amount(approval.amount)} {approval.currency}",
                  "buyer": _name(buyer) if buyer is not None else "", "approver": approval.decided_by_name or "",
                  "comment": approval.comment or "—", "expiresat": approval.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
                  "approvalsurl": self._approvals_url, "storename": self._store_name}
        values = {key: value for key, value in values.items() if key in PLACEHOLDERS[template]}
        # One email per request, template and recipient: a unit of work run again writes the same one.
        email_id = derived_id("email", "approval", approval.hierarchy_id, approval.order_id, template, to.id)
        return queue_email(uow, template=template, to=to.email, language=to.language, values=values,
                           email_id=email_id, aggregate_id=hierarchy.aggregate_id, email_queue=self._email_queue,
                           now=now)


def _figures(amount: Decimal, line: CreditLine | None) -> dict:
    """What a refused order's answer shows beside its reasons: the amount and the credit available."""
    return {"amount": format_amount(amount),
            "availableCredit": None if line is None else format_amount(line.available),
            "currency": None if line is None else line.currency}
