"""The back office: a person approves or rejects a prospect directly, without Sales.

Deciding here has the effects a Sales outcome has (``DecisionEffects``, shared with propagation): on
approval the Person and Organization customers from the signup (unless Sales qualified the lead and
made them already), the customer hierarchy with the requester as Admin, the prospect Approved and the
"approved" email; on rejection the prospect Rejected and the decline email. Each decision is one unit
of work. Works in every SALES_MODE; with SALES_MODE=none it is the only way a prospect is decided.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Callable

from shared.domain.errors import DecisionConflict, InvalidInput, MalformedMessage
from shared.domain.ids import derived_id
from shared.domain.messages import CreateLead, parse_message
from shared.domain.model import HistoryEntry, OutboxMessage, Prospect, ProspectStatus
from shared.domain.validation import operator_name, plain_text
from shared.ports import Clock, Store
from shared.services.operator import find_prospect
from shared.services.outbox import OutboxRelay
from shared.services.propagation import DecisionEffects
from shared.services.retry import on_conflict

log = logging.getLogger("b2b.back_office")

ACTOR_PREFIX = "back-office"
MAX_REASON = 500


@dataclass(frozen=True)
class Decision:
    prospect_id: str
    number: str
    status: ProspectStatus
    changed: bool  # False: the prospect had this decision already, nothing was written
    hierarchy_id: str | None
    decided_by: str | None

    def to_json(self) -> dict:
        return {"id": self.prospect_id, "number": self.number, "status": self.status.value, "changed": self.changed,
                "hierarchy_id": self.hierarchy_id, "decided_by": self.decided_by}


_note = partial(plain_text, limit=MAX_REASON, multiline=True)


def _clean(field: str, check: Callable[[object], str], value: object) -> str:
    try:
        return check(value)
    except ValueError as error:
        raise InvalidInput([(field, str(error))]) from None


def checked_operator(operator: object) -> str:
    """The operator's name as the history records it, or InvalidInput naming the ``operator`` field."""
    return _clean("operator", operator_name, operator)


@dataclass(frozen=True)
class Acknowledgement:
    number: str
    changed: bool  # False: the prospect was not flagged (acknowledged before): nothing was written
    reason: str | None  # what the flag said


class BackOffice:
    def __init__(self, store: Store, clock: Clock, relay: OutboxRelay, effects: DecisionEffects):
        self._store = store
        self._clock = clock
        self._relay = relay
        self._effects = effects

    def approve(self, prospect_key: str, operator: str) -> Decision:
        operator = _clean("operator", operator_name, operator)
        return self._decide(prospect_key, operator, ProspectStatus.APPROVED, reason=None)

    def reject(self, prospect_key: str, reason: str, operator: str) -> Decision:
        operator = _clean("operator", operator_name, operator)
        reason = _clean("reason", _note, reason)
        return self._decide(prospect_key, operator, ProspectStatus.REJECTED, reason=reason)

    def acknowledge(self, prospect_key: str, note: str, operator: str) -> Acknowledgement:
        """Clear a prospect's attention flag once an operator has dealt with it; the history keeps what the
        flag said and the operator's note, so ``b2b prospects --attention`` lists only what is still open."""
        operator = _clean("operator", operator_name, operator)
        note = _clean("note", _note, note)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            prospect = find_prospect(uow, prospect_key)
            if not prospect.needs_attention:
                return Acknowledgement(prospect.number, changed=False, reason=None)
            uow.save_prospect(prospect.attended(now))
            uow.append_history(HistoryEntry(prospect_id=prospect.id, at=now, actor=f"{ACTOR_PREFIX}:{operator}",
                                            action="attention acknowledged",
                                            detail=f"{note} (the flag said: {prospect.attention_reason})"))
        log.info("prospect flag acknowledged", extra={"prospect": prospect.number, "operator": operator})
        return Acknowledgement(prospect.number, changed=True, reason=prospect.attention_reason)

    def _decide(self, key: str, operator: str, target: ProspectStatus, reason: str | None) -> Decision:
        # Another instance deciding the same prospect at the same moment makes this commit fail (the
        # prospect's ETag, or a row the winner created first). Deciding again on what committed answers
        # as if the two had come one after the other: the same decision unchanged, the other one refused
        # naming the winner; never the storage error.
        prospect, messages, changed = on_conflict(lambda: self._commit(key, f"{ACTOR_PREFIX}:{operator}", target,
                                                                       reason))
        if not changed:
            return self._answer(prospect, changed=False)
        self._relay.send_now(messages)
        with self._store.unit_of_work(read_only=True) as uow:  # what committed (stores may buffer writes)
            decided = uow.get_prospect(prospect.id)
        log.info("prospect decided in the back office",
                 extra={"prospect": prospect.number, "status": target.value, "operator": operator})
        return self._answer(decided, changed=True)

    def _commit(self, key: str, actor: str, target: ProspectStatus,
                reason: str | None) -> tuple[Prospect, list[OutboxMessage], bool]:
        """One unit of work: the decision and its effects, or nothing when the prospect has it already
        (``changed`` False). Raises DecisionConflict when it was decided the other way."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            prospect = find_prospect(uow, key)
            if prospect.status is target:
                return prospect, [], False
            if prospect.is_terminal:
                raise DecisionConflict(prospect.number, prospect.status, prospect.decided_by, prospect.decided_at,
                                       wanted=target)

            def note(action: str, detail: str = "") -> None:
                uow.append_history(HistoryEntry(prospect_id=prospect.id, at=now, actor=actor, action=action,
                                                detail=detail))

            if target is ProspectStatus.APPROVED:
                if prospect.is_qualified:  # qualified in Sales before: its customers are the ones to use
                    organization = uow.get_customer(prospect.organization_customer_id)
                else:
                    prospect, organization = self._effects.create_customers(uow, prospect, now)
                    note("customers created", "Person and Organization customers from the signup")
                messages = self._effects.approve(uow, prospect, organization, now, by=actor, note=note)
            else:
                messages = self._effects.reject(uow, prospect, reason, now, by=actor, note=note)
        return prospect, messages, True

    @staticmethod
    def _answer(prospect: Prospect, changed: bool) -> Decision:
        return Decision(prospect_id=prospect.id, number=prospect.number, status=prospect.status, changed=changed,
                        hierarchy_id=prospect.hierarchy_id, decided_by=prospect.decided_by)


class LeadsDisabled:
    """The create-lead consumer when there is no Sales (SALES_MODE=none).

    The sync writes no create-lead message then; one written before the switch (still on the queue or
    in the outbox) is acknowledged with one history note instead of failing into the poison queue."""

    def __init__(self, store: Store, clock: Clock):
        self._store = store
        self._clock = clock

    def handle(self, body: str | bytes) -> None:
        message = parse_message(body, CreateLead)
        event_id = derived_id("create-lead-skipped", message.prospect_id)
        with self._store.unit_of_work() as uow:
            prospect = uow.get_prospect(message.prospect_id)
            if prospect is None:
                raise MalformedMessage(f"create-lead names an unknown prospect {message.prospect_id}")
            if uow.event_seen(prospect.id, event_id):
                return
            uow.append_history(HistoryEntry(
                prospect_id=prospect.id, at=self._clock.now(), actor="lead-creation", action="no lead created",
                detail="SALES_MODE=none: a back-office user decides this prospect", event_id=event_id,
            ))
            uow.record_event(prospect.id, event_id, "create_lead", "skipped")
