"""The channel sync: the "pull channel requests" and "synchronize customers and channel requests" jobs."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from shared.domain.ids import derived_id, lead_id_for, prospect_id_for
from shared.domain.messages import CreateLead
from shared.domain.model import HistoryEntry, OutboxMessage, Prospect, SignupStatus
from shared.services.duplicates import BatchMemory, checked, first_open_request, link_repeat
from shared.ports import Clock, Store, UnitOfWork
from shared.services.outbox import OutboxRelay

if TYPE_CHECKING:
    from shared.services.email_confirmation import EmailConfirmation
    from shared.services.reconciliation import Reconciliation, ReconciliationReport
    from shared.services.user_sync import UserSync

log = logging.getLogger("b2b.sync")

PROSPECT_SEQUENCE = "prospect"


def prospect_number(value: int) -> str:
    return f"PRO-{value:06d}"


@dataclass(frozen=True)
class SyncReport:
    prospects_created: int
    outbox_resent: int
    reconciliation: ReconciliationReport | None = None  # None without Sales, or when it failed
    reconciliation_error: str | None = None
    users_synced: int = 0


class ChannelSync:
    def __init__(self, store: Store, clock: Clock, relay: OutboxRelay, lead_queue: str, batch_size: int = 200,
                 create_leads: bool = True, reconciliation: Reconciliation | None = None,
                 user_sync: UserSync | None = None,
                 on_prospect_created: Callable[[UnitOfWork, Prospect, datetime], list[OutboxMessage]] | None = None,
                 confirmation: EmailConfirmation | None = None, repeat_email: Callable | None = None):
        """``create_leads`` is off without a Sales integration (SALES_MODE=none): then a back-office user
        decides each prospect, and no create-lead message is written at all. ``reconciliation`` (None
        without Sales) re-enqueues the Sales decisions whose outcome never arrived, on every run."""
        self._store = store
        self._clock = clock
        self._relay = relay
        self._lead_queue = lead_queue
        self._batch_size = batch_size
        self._create_leads = create_leads
        self._reconciliation = reconciliation
        self._user_sync = user_sync  # partner admins' user changes ("synchronize customers")
        # Written with each new prospect (the merchant's notice): messages to send once the batch commits.
        self._on_prospect_created = on_prospect_created or (lambda uow, prospect, now: [])
        # REQUIRE_EMAIL_CONFIRMATION: requests whose link expired unconfirmed are deleted here, every run.
        self._confirmation = confirmation
        # (uow, repeat, first) → the "you have a request already" email's outbox message (intake's emails).
        self._repeat_email = repeat_email

    def run(self, max_batches: int = 1000, on_batch: Callable[[int], object] | None = None) -> SyncReport:
        """``on_batch`` is told how many prospects each batch created (the CLI's progress)."""
        # Leftovers first: messages a crashed run committed but never sent go out before new work.
        resent = self._relay.sweep()
        self._expire_unconfirmed()
        created = 0
        for _ in range(max_batches):
            batch = self._sync_batch()
            created += batch
            if on_batch is not None:
                on_batch(batch)
            if batch < self._batch_size:
                break
        users = self._user_sync.run() if self._user_sync is not None else 0
        reconciled, error = self._reconcile()
        self._settle_directory()
        if created or resent:
            log.info("channel sync done", extra={"prospects_created": created, "outbox_resent": resent})
        return SyncReport(prospects_created=created, outbox_resent=resent, reconciliation=reconciled,
                          reconciliation_error=error, users_synced=users)

    def _expire_unconfirmed(self) -> None:
        """On its own, like the reconciliation: a failure here fails nothing else (the next run tries again)."""
        if self._confirmation is None:
            return
        try:
            self._confirmation.expire()
        except Exception:
            log.exception("unconfirmed requests could not be deleted; the next run tries again")

    def _settle_directory(self) -> None:
        """The back office's list catches up with what a crash left half-done (on a store that keeps it apart):
        on its own, like the reconciliation, so that a failure here fails nothing that committed."""
        try:
            settled = self._store.settle_prospect_directory(limit=self._batch_size)
        except Exception:
            log.exception("the prospect directory could not be settled; the next run tries again")
            return
        if settled:
            log.info("prospect directory settled", extra={"prospects": settled})

    def _reconcile(self) -> tuple[ReconciliationReport | None, str | None]:
        """Last, and on its own: Sales being down must not fail the sync that committed already. The
        watermark has not moved, so the next run reads the same decisions again."""
        if self._reconciliation is None:
            return None, None
        try:
            return self._reconciliation.run(), None
        except Exception as error:  # noqa: BLE001 - logged with its traceback; retried next run
            log.exception("reconciliation with Sales failed; the next run retries it")
            return None, f"{type(error).__name__}: {error}"

    def _sync_batch(self) -> int:
        """One transaction per batch: the prospects, their numbers, the signups' new state and the
        create-lead messages commit together or not at all, so a crash half way loses nothing."""
        now = self._clock.now()
        messages: list[OutboxMessage] = []
        created = 0
        with self._store.unit_of_work() as uow:
            # Read inside the writer's transaction: a concurrent run that got here first has marked
            # these signups synced already, so no request becomes two prospects.
            memory = BatchMemory()
            for signup in uow.pending_signups(self._batch_size):
                # Two requests of one email that intake could not see together (two instances at once, or two
                # confirmed one after the other): the later one is linked, as intake links a repeat.
                first = first_open_request(uow, signup, only_earlier=True)
                if first is not None:
                    link_repeat(uow, signup, first, now, status=SignupStatus.REPEAT)
                    if self._repeat_email is not None:
                        messages.append(self._repeat_email(uow, signup, first))
                    continue
                prospect_id = prospect_id_for(signup.id)
                prospect = Prospect(
                    id=prospect_id,
                    number=prospect_number(uow.number_for(PROSPECT_SEQUENCE, prospect_id)),
                    signup_id=signup.id,
                    request=signup.request,
                    created_at=now,
                    updated_at=now,
                    lead_id=lead_id_for(prospect_id),
                )
                prospect = checked(uow, signup, prospect, memory)
                memory.remember(signup, prospect)
                uow.add_prospect(prospect)
                uow.save_signup(signup.model_copy(update={"status": SignupStatus.SYNCED, "prospect_id": prospect_id}))
                uow.append_history(
                    HistoryEntry(prospect_id=prospect_id, at=now, actor="channel-sync", action="prospect created",
                                 detail=f"{prospect.number} from channel {signup.request.channel_id}")
                )
                if prospect.needs_attention:
                    uow.append_history(HistoryEntry(prospect_id=prospect_id, at=now, actor="channel-sync",
                                                    action="flagged", detail=prospect.attention_reason or ""))
                created += 1
                messages += self._on_prospect_created(uow, prospect, now)
                if not self._create_leads:
                    continue
                message = OutboxMessage(
                    id=derived_id("outbox", "create-lead", prospect_id),
                    aggregate_id=prospect_id,
                    queue=self._lead_queue,
                    body=CreateLead(prospect_id=prospect_id).to_json(),
                    created_at=now,
                )
                uow.add_outbox_message(message)
                messages.append(message)
        self._relay.send_now(messages)
        return created
