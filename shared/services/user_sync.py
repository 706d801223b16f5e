"""The user sync: partner admins' changes take effect on customers and hierarchies.

Added → a Person customer, a member of the hierarchy with its role, the "user added" email, Active.
Edited → the customer's names and the member's role follow. Removed → the member leaves the hierarchy
(the customer record stays) and, if the user had been Active, the "user removed" email. Each user is
one unit of work with its effects; emails are keyed by the user's change (id and version), so a
repeated run writes nothing twice.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from shared.domain.email_templates import PLACEHOLDERS, USER_ADDED, USER_REMOVED
from shared.domain.ids import derived_id
from shared.domain.model import Customer, CustomerHierarchy, CustomerType, HierarchyMember, MemberStatus, OutboxMessage
from shared.domain.partners import PartnerUser, UserChange
from shared.ports import Clock, Store, UnitOfWork
from shared.services.notifications import queue_email
from shared.services.outbox import OutboxRelay
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.user_sync")


@dataclass(frozen=True)
class UserSync:
    store: Store
    clock: Clock
    relay: OutboxRelay
    email_queue: str
    store_name: str
    store_url: str
    batch_size: int = 200

    def run(self, max_batches: int = 100) -> int:
        """Apply every pending user change; returns how many were applied."""
        applied = 0
        for _ in range(max_batches):
            with self.store.unit_of_work(read_only=True) as uow:
                batch = uow.users_to_sync(self.batch_size)
            for user in batch:
                applied += on_conflict(lambda: self._apply(user.id))
            if len(batch) < self.batch_size:
                break
        if applied:
            log.info("user sync done", extra={"applied": applied})
        return applied

    def _apply(self, user_id: str) -> int:
        now = self.clock.now()
        with self.store.unit_of_work() as uow:
            user = uow.get_partner_user(user_id)
            if user is None or user.sync is None:
                return 0  # applied by a concurrent run
            hierarchy = uow.get_hierarchy(user.hierarchy_id)
            if hierarchy is None:  # users are only added to hierarchies that exist: a broken record
                log.error("partner user names an unknown hierarchy", extra={"user": user.id})
                return 0
            if user.leaves_hierarchy_id:
                uow.remove_member(user.leaves_hierarchy_id, user.customer_id)
            messages = self._effects(uow, user, hierarchy, now)
            uow.save_partner_user(user.synced(now))
        self.relay.send_now(messages)
        log.info("partner user synced", extra={"user": user.id, "change": user.sync.value, "hierarchy": hierarchy.id})
        return 1

    def _effects(self, uow: UnitOfWork, user: PartnerUser, hierarchy: CustomerHierarchy,
                 now: datetime) -> list[OutboxMessage]:
        if user.sync is UserChange.REMOVE:
            uow.remove_member(hierarchy.id, user.customer_id)
            if user.activated_at is None:
                return []  # never had access: nothing to tell
            # Removed again before a move was synced: the access that ends is the one it still has to leave.
            left = uow.get_hierarchy(user.leaves_hierarchy_id) if user.leaves_hierarchy_id else None
            return [self._email(uow, user, hierarchy, USER_REMOVED, now, company=(left or hierarchy).name)]
        self._save_person(uow, user, now)
        # An edit (or a re-add before the removal was synced) changes a member that is there already:
        # it joined when it was first added, not at this sync.
        added_at = next((m.added_at for m in uow.members(hierarchy.id) if m.customer_id == user.customer_id), now)
        uow.save_member(HierarchyMember(hierarchy_id=hierarchy.id, customer_id=user.customer_id, role=user.role,
                                        status=MemberStatus.ACTIVE, added_at=added_at))
        if user.sync is UserChange.ADD:
            return [self._email(uow, user, hierarchy, USER_ADDED, now)]
        return []

    @staticmethod
    def _save_person(uow: UnitOfWork, user: PartnerUser, now: datetime) -> None:
        existing = uow.get_customer(user.customer_id)
        names = {"name": f"{user.first_name} {user.last_name}", "first_name": user.first_name,
                 "last_name": user.last_name, "email": user.email}
        if existing is None:
            uow.save_customer(Customer(id=user.customer_id, type=CustomerType.PERSON, created_at=now, **names))
        elif any(getattr(existing, field) != value for field, value in names.items()):
            uow.save_customer(existing.model_copy(update=names))

    def _email(self, uow: UnitOfWork, user: PartnerUser, hierarchy: CustomerHierarchy, template: str,
               now: datetime, company: str | None = None) -> OutboxMessage:
        values = {"firstname": user.first_name, "lastname": user.last_name, "company": company or hierarchy.name,
                  "email": user.email, "storename": self.store_name, "storeurl": self.store_url}
        values = {key: value for key, value in values.items() if key in PLACEHOLDERS[template]}
        return queue_email(uow, template=template, to=user.email, language=user.language, values=values,
                           email_id=derived_id("email", user.id, template, str(user.version)),
                           aggregate_id=hierarchy.aggregate_id, email_queue=self.email_queue, now=now)
