"""Lead creation: each prospect becomes one lead in Sales, whatever number of times the message comes."""
from __future__ import annotations

import logging

from shared.domain.errors import MalformedMessage
from shared.domain.messages import CreateLead, parse_message
from shared.domain.model import HistoryEntry, Prospect
from shared.domain.sales import LeadDraft
from shared.ports import Clock, SalesGateway, Store

log = logging.getLogger("b2b.leads")

REFUSAL_BODY_CHARS = 500  # of Sales' error answer, kept on the prospect's history (never logged)

TIMELINE_NOTE = (
    "This lead was created by the Commerce B2B onboarding integration from prospect {number}. "
    "It is listed in the view 'All Commerce B2B leads'."
)


def lead_draft(prospect: Prospect) -> LeadDraft:
    request = prospect.request
    company, contact = request.company, request.contact
    return LeadDraft(
        lead_id=prospect.lead_id,
        subject=f"B2B partner request {prospect.number}: {company.name}",
        first_name=contact.first_name,
        last_name=contact.last_name,
        company_name=company.name,
        email=contact.email,
        phone=contact.phone,
        street=company.address.street,
        city=company.address.city,
        zip_code=company.address.zip_code,
        country=company.address.country,
        description=request.comments,
        prospect_number=prospect.number,
        timeline_note=TIMELINE_NOTE.format(number=prospect.number),
    )


class LeadCreation:
    def __init__(self, store: Store, sales: SalesGateway, clock: Clock):
        self._store = store
        self._sales = sales
        self._clock = clock

    def handle(self, body: str | bytes) -> None:
        message = parse_message(body, CreateLead)
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = uow.get_prospect(message.prospect_id)
        if prospect is None:
            raise MalformedMessage(f"create-lead names an unknown prospect {message.prospect_id}")
        if prospect.lead_created_at is not None:
            return
        # Outside any transaction: Sales is slow. The lead id is the prospect's, so a retry after a crash
        # here finds the lead it made instead of making another.
        try:
            self._sales.create_lead(lead_draft(prospect))
        except Exception as error:
            if getattr(error, "permanent", False):
                self._record_refusal(prospect, error)
            raise  # the host retries, then poisons the message: nothing lost, replay after a fix works
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.get_prospect(prospect.id)
            if current is None or current.lead_created_at is not None:
                return
            uow.save_prospect(current.with_lead(now))
            uow.append_history(
                HistoryEntry(prospect_id=prospect.id, at=now, actor="lead-creation", action="lead created",
                             detail=f"lead {prospect.lead_id} in Sales")
            )
        log.info("lead created", extra={"prospect": prospect.number, "lead_id": prospect.lead_id})

    def _record_refusal(self, prospect: Prospect, error: Exception) -> None:
        """A refusal retrying cannot fix: on the prospect's history (with the start of Sales' answer, for the
        operator) and flagged, once however often the message is retried. The body stays out of the logs:
        it may repeat the prospect's personal data."""
        status, code = getattr(error, "status", None), getattr(error, "code", None)
        reason = f"lead refused by Sales: {status or '?'} {code or ''}".strip()
        body = str(getattr(error, "body", "") or "")[:REFUSAL_BODY_CHARS]
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            current = uow.get_prospect(prospect.id)
            if current is None or (current.needs_attention and current.attention_reason == reason):
                return
            uow.save_prospect(current.flagged(reason, now))
            uow.append_history(
                HistoryEntry(prospect_id=prospect.id, at=now, actor="lead-creation", action="lead refused by Sales",
                             detail=f"status {status}, code {code}: {body}")
            )
        log.error("lead refused by Sales", extra={"prospect": prospect.number, "status": status, "code": code})
