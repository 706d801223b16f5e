"""What erasing an applicant's personal data means: which values go, what takes their place, and the rules that
say whose data may be erased (retention and the right to erasure, ``shared.services.erasure``).

Personal data of a request, for a company as much as for a person: a sole trader's company IS the person (the
company name is often their own name, a Swedish enskild firma's registration number is their personal identity
number, its VAT number holds that number, its address is often their home). So everything the requester typed
that names or reaches someone goes: the company name, registration and VAT numbers, street, postcode, city and
state, the company's phone, the contact's names, email and phone, and the comments (free text may hold
anything). What stays is what says what happened without saying to whom: the prospect's number and status,
when it was received and decided and by whom (an operator), the channel, the country, the contact's language
and that consent was given (and to which policy). The records stay, pseudonymized, so the history still counts.

The placeholders are valid values (the stored request must still read back as a request): ``ERASED`` for text,
``ERASED_EMAIL`` and ``ERASED_PHONE`` where a format is required.
"""
from __future__ import annotations

from datetime import datetime

from shared.domain.errors import DomainError
from shared.domain.model import Customer, HistoryEntry, Prospect, ProspectStatus
from shared.domain.signup import SignupRequest

ERASED = "erased"
ERASED_EMAIL = "erased@erased.example"  # .example: a name reserved for examples, never delivered to anyone
ERASED_PHONE = "00000"
RETENTION_ACTOR = "retention"  # who erased, when the retention timer did


class ErasureRefused(DomainError):
    """Erasure is not for this prospect (an approved partner, an undecided request): the message says what the
    clerk does instead."""


def erased_request(request: SignupRequest) -> SignupRequest:
    """The request with every personal value replaced; channel, country, language and consent kept."""
    return SignupRequest.model_validate({
        "company": {"name": ERASED, "phone": ERASED_PHONE,
                    "address": {"street": ERASED, "city": ERASED, "zip_code": ERASED,
                                "country": request.company.address.country}},
        "contact": {"first_name": ERASED, "last_name": ERASED, "email": ERASED_EMAIL, "phone": ERASED_PHONE,
                    "preferred_language": request.contact.preferred_language},
        "consent": request.consent.model_dump() if request.consent else None,
        "channel_id": request.channel_id,
    })


def personal_values(request: SignupRequest) -> frozenset[str]:
    """The values erasure removes from everywhere they were kept (the tests scan for them; queue messages that
    hold one are removed). Empty ones are left out."""
    company, contact = request.company, request.contact
    values = {company.name, company.registration_number, company.vat_number, company.phone, company.address.street,
              company.address.zip_code, company.address.state, contact.first_name, contact.last_name,
              f"{contact.first_name} {contact.last_name}", contact.email, contact.phone, request.comments}
    return frozenset(value for value in values if value)


def erasable(prospect: Prospect) -> None:
    """Raise ErasureRefused unless the prospect's personal data may be erased (on request or by retention).

    An approved partner's data is the partner's customer record, kept while it is a partner. A Pending prospect
    still has its decision open (a lead in Sales a salesperson works on, an outcome that may still arrive):
    erasing it would leave the decision to act on blanks, so it is rejected first, which closes it."""
    if prospect.status is ProspectStatus.APPROVED:
        raise ErasureRefused(
            f"{prospect.number} is an approved partner ({prospect.hierarchy_id}): its data is the partner's "
            "customer record and is not erased here. Remove the person from the partner on its page (Partners → "
            f"{prospect.hierarchy_id} → users) and erase the contact in Sales; the partner's records stay while "
            "it is a partner.")
    if prospect.status is ProspectStatus.PENDING:
        raise ErasureRefused(
            f"{prospect.number} is not decided yet: reject it first (that closes its lead), then erase it.")


def erased_prospect(prospect: Prospect, at: datetime, by: str) -> Prospect:
    """The prospect with its request erased and the operator's words about it (a rejection reason, a flag's
    reason) gone too: they may quote the applicant. The duplicate check's findings go as well: the prospects and
    partners (PRO-…, CH-…) its organization matched, and those its email signs in for, name the applicant's
    company or person through the records they point at."""
    return prospect.model_copy(update={
        "request": erased_request(prospect.request), "erased_at": at, "erased_by": by, "updated_at": at,
        "rejection_reason": ERASED if prospect.rejection_reason else None,
        "needs_attention": False, "attention_reason": None, "possible_duplicate_of": [], "requester_user_of": [],
    })


def erased_customer(customer: Customer) -> Customer:
    """A customer (Person or Organization) made from the request, kept as a record of its country only."""
    return customer.model_copy(update={
        "name": ERASED, "first_name": None, "last_name": None, "email": None, "phone": None, "street": None,
        "city": None, "zip_code": None,
    })


def erased_history(entry: HistoryEntry) -> HistoryEntry:
    """What happened, when and by whom stay; the detail (a reason, a note, a quoted value) goes."""
    return entry.model_copy(update={"detail": ERASED if entry.detail else ""})
