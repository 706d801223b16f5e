"""The ports: one small Protocol per outside system.

Services depend on these, never on an adapter. Adapters are chosen in ``shared.bootstrap``.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:  # annotations only: importing the ports must not pull in pydantic
    from shared.domain.approvals import ApprovalRequest
    from shared.domain.audit import AuditEntry
    from shared.domain.model import (
        Customer,
        CustomerHierarchy,
        EmailRecord,
        EmailStatus,
        HierarchyMember,
        HistoryEntry,
        OutboxMessage,
        Prospect,
        ProspectStatus,
        SignupRecord,
    )
    from shared.domain.ledger import LedgerEntry
    from shared.domain.partners import CreditLine, PartnerUser, Reservation
    from shared.domain.partner_summary import PartnerSummary
    from shared.domain.prospect_directory import Position, ProspectFilter, ProspectSummary
    from shared.domain.sales import LeadDraft, LeadSnapshot, Qualification, SalesDecision


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class UnitOfWork(Protocol):
    """Everything read or written between ``Store.unit_of_work()`` entry and exit.

    Writes become visible together when the block exits without an exception, and not at all
    otherwise. Two units of work that change the same record never both commit on stale data.
    """

    # signups (the channel requests)
    def add_signup(self, signup: SignupRecord) -> None: ...
    def get_signup(self, signup_id: str) -> SignupRecord | None: ...
    def find_signup_by_idempotency_key(self, key_hash: str) -> SignupRecord | None: ...
    def pending_signups(self, limit: int) -> list[SignupRecord]: ...
    def save_signup(self, signup: SignupRecord) -> None: ...
    def signups_with_key(self, key: str, limit: int, excluding: str | None = None) -> list[SignupRecord]:
        """The signups whose request has the duplicate key ``key`` (``shared.domain.duplicates.index_keys``),
        oldest first, at most ``limit``, but the signup ``excluding`` (not even read): an index lookup (its rows
        are written with the signup), never a scan."""
        ...
    def signups_awaiting_confirmation(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        """Signups still awaiting their email confirmation that were received before ``received_before``,
        oldest first, at most ``limit``: an index range, never a scan."""
        ...
    def index_partner(self, key: str, hierarchy_id: str) -> None:
        """Index a partner onboarded without a prospect under the duplicate key ``key`` (its organization's
        name and country): a prospect's organization finds it (``partners_with_key``). Written with the partner."""
        ...
    def partners_with_key(self, key: str, limit: int) -> list[CustomerHierarchy]:
        """The partners indexed under ``key`` (``index_partner``), in number order, at most ``limit``."""
        ...
    def delete_signup(self, signup_id: str) -> None:
        """The signup is gone, with whatever finds it (its idempotency key, its pending and awaiting marks, its
        duplicate-key index rows) and the emails and outbox messages written with it (its aggregate,
        ``prospect_id_for(signup_id)``); nothing if there was none. For a request that never became a prospect
        (an unconfirmed one expiring, erasure of a request): one that did shares its aggregate with the prospect.
        The caller deletes the emails' kept copies (.eml files, blobs) first."""
        ...

    # prospects
    def add_prospect(self, prospect: Prospect) -> None: ...
    def get_prospect(self, prospect_id: str) -> Prospect | None: ...
    def find_prospect_by_lead(self, lead_id: str) -> Prospect | None: ...
    def find_prospect_by_number(self, number: str) -> Prospect | None: ...
    def list_prospects(self, status: ProspectStatus | None, limit: int) -> list[Prospect]: ...
    def save_prospect(self, prospect: Prospect) -> None: ...
    def append_history(self, entry: HistoryEntry) -> None: ...
    def history(self, prospect_id: str) -> list[HistoryEntry]: ...
    def prospect_directory(self, where: ProspectFilter, *, newest_first: bool, after: Position | None,
                           limit: int) -> list[ProspectSummary]:
        """The back office's list: at most ``limit`` rows matching ``where``, in received order (newest first or
        oldest first, then by number), those after ``after`` only. Costs about the page (an index, index rows),
        not the store; a search costs about what it matches."""
        ...
    def prospect_counts(self) -> dict[str, int]:
        """How many prospects there are per status (by its value), and how many are flagged ("attention"),
        exactly, without counting them one by one."""
        ...

    # customers and hierarchies
    def get_customer(self, customer_id: str) -> Customer | None: ...
    def save_customer(self, customer: Customer) -> None: ...
    def get_hierarchy(self, hierarchy_id: str) -> CustomerHierarchy | None: ...
    def find_hierarchy_by_prospect(self, prospect_id: str) -> CustomerHierarchy | None: ...
    def save_hierarchy(self, hierarchy: CustomerHierarchy) -> None: ...
    def list_hierarchies(self, limit: int) -> list[CustomerHierarchy]:
        """Every partner, in number order (CH-000002 before CH-000010): an operator's listing."""
        ...
    def hierarchy_page(self, after: str | None, limit: int, name_contains: str | None = None) -> list[CustomerHierarchy]:
        """At most ``limit`` partners in number order after the partner ``after`` (from the first without it),
        those whose name contains ``name_contains`` (casefolded on both sides) if given. Costs one page of
        reads (plus, with a name, a pass over a name index), never a read of every partner's records."""
        ...
    def partner_summaries(self, after: str | None, limit: int, name_contains: str | None = None) -> list[PartnerSummary]:
        """The partners list's lines (``shared.domain.partner_summary.summarize``) of the partners
        ``hierarchy_page`` gives, in its order: a page costs a page's reads, whatever the partners' users."""
        ...
    def save_member(self, member: HierarchyMember) -> None: ...
    def members(self, hierarchy_id: str) -> list[HierarchyMember]: ...
    def remove_member(self, hierarchy_id: str, customer_id: str) -> None:
        """The customer leaves the hierarchy (the customer record stays); nothing if it was no member."""
        ...

    # partner users, credit lines and order reservations: kept with their hierarchy (its aggregate_id)
    def get_partner_user(self, user_id: str) -> PartnerUser | None: ...
    def partner_users(self, hierarchy_id: str) -> list[PartnerUser]:
        """The users whose hierarchy is ``hierarchy_id`` (removed ones included), by email."""
        ...
    def find_partner_user_by_sign_in(self, issuer: str, subject: str) -> PartnerUser | None:
        """The user whose ``sign_in`` is this account (issuer and subject), removed ones included."""
        ...
    def save_partner_user(self, user: PartnerUser) -> None:
        """Insert or replace. A unit of work that read the hierarchy's users (``partner_users``) commits a
        change only if no other unit of work changed one of them since: rules that look at all of them
        ("keep at least one Admin") cannot both pass on stale data. One that read the user commits only if
        no other changed it since (two first sign-ins cannot both bind it). An account (``sign_in``) is
        bound to one user at most: binding it to a second raises DuplicateRecord (or, while the other
        binding may still be committing, ConcurrencyConflict)."""
        ...
    def users_to_sync(self, limit: int) -> list[PartnerUser]:
        """Users with a change the user sync has not applied yet (``sync`` set), oldest change first."""
        ...
    def get_credit_line(self, hierarchy_id: str) -> CreditLine | None: ...
    def save_credit_line(self, line: CreditLine) -> None: ...
    def get_reservation(self, hierarchy_id: str, order_id: str) -> Reservation | None:
        """The partner's reservation of the order: order ids are the partner's own (another partner may
        use the same id for an order of its own), so an order is (hierarchy id, order id)."""
        ...
    def open_reservations(self, hierarchy_id: str, limit: int) -> list[Reservation]:
        """The partner's reservations still held, oldest first, at most ``limit``."""
        ...
    def save_reservation(self, reservation: Reservation) -> None:
        """Insert or replace the reservation of (its hierarchy id, its order id)."""
        ...
    def user_reservations(self, hierarchy_id: str, user_id: str, since: datetime, until: datetime) -> list[Reservation]:
        """The user's reservations of the partner created in [``since``, ``until``), oldest first: what a limit
        per period counts. Read through an index by (partner, user, created), not the partner's every order."""
        ...

    # approvals of orders over a buyer's limits (shared.domain.approvals), kept with their partner
    def get_approval(self, hierarchy_id: str, order_id: str) -> ApprovalRequest | None: ...
    def save_approval(self, approval: ApprovalRequest) -> None:
        """Insert or replace the approval of (its hierarchy id, its order id)."""
        ...
    def approvals(self, hierarchy_id: str, limit: int) -> list[ApprovalRequest]:
        """The partner's approvals, newest submitted first, at most ``limit``."""
        ...
    def approvals_due(self, before: datetime, limit: int) -> list[ApprovalRequest]:
        """Pending approvals of any partner whose expiry is at or before ``before``, soonest first (the expiry
        timer)."""
        ...

    # the credit ledger (shared.domain.ledger): each entry written in the unit of work that moves the line
    def add_ledger_entry(self, entry: LedgerEntry) -> None:
        """Insert the entry (its hierarchy id and number are its key; a number taken already raises
        DuplicateRecord, or ConcurrencyConflict where another writer moved the line since it was read)."""
        ...
    def get_payment(self, hierarchy_id: str, payment_id: str) -> LedgerEntry | None:
        """The ledger entry of the partner's payment ``payment_id`` (payment ids are the partner's own); an entry
        with a payment id is the only one with it (adding a second raises DuplicateRecord or ConcurrencyConflict)."""
        ...
    def ledger_page(self, hierarchy_id: str, before: int | None, limit: int) -> list[LedgerEntry]:
        """The partner's entries newest first (by number), those numbered below ``before`` only if given, at
        most ``limit``: one range read of the partner's ledger, whatever its length."""
        ...

    # number sequences
    def number_for(self, sequence: str, owner: str) -> int:
        """The number of ``owner`` in ``sequence``, taken now if it has none.

        Numbers are unique and gap-free: each belongs to one owner, and an owner whose unit of work
        failed gets the same number again (or its number goes back) when it retries."""
        ...

    # watermarks: how far a job has read another system's changes (the reconciliation's "modifiedon")
    def get_watermark(self, name: str) -> datetime | None: ...
    def set_watermark(self, name: str, value: datetime) -> None:
        """Store ``value`` (timezone-aware). A unit of work that read the watermark and then sets it
        never commits over a value another one set in between: writers are serialized, or the commit
        fails as any stale update does (the caller runs again)."""
        ...

    # idempotency: an event applied to an aggregate (a prospect) is recorded with its state change
    def event_seen(self, scope: str, event_id: str) -> bool: ...
    def record_event(self, scope: str, event_id: str, kind: str, outcome: str) -> None: ...

    # transactional outbox: queue messages and emails written with the state change that causes them
    def add_outbox_message(self, message: OutboxMessage) -> None: ...
    def pending_outbox_messages(self, older_than: datetime | None, limit: int) -> list[OutboxMessage]: ...
    def mark_outbox_sent(self, message: OutboxMessage, sent_at: datetime) -> None: ...
    def add_email(self, email: EmailRecord) -> None: ...
    def get_email(self, email_id: str) -> EmailRecord | None: ...
    def save_email(self, email: EmailRecord) -> None: ...
    def list_emails(self, limit: int, pending_only: bool = False) -> list[EmailRecord]: ...
    def prospect_emails(self, prospect_id: str) -> list[EmailRecord]:
        """The emails written for the prospect (``prospect_id``), oldest first: a prospect's page shows them."""
        ...
    def email_page(self, query: EmailQuery, limit: int) -> list[EmailRecord]:
        """The emails ``query`` selects, newest first (by ``created_at``, then id, both descending), at most
        ``limit``, after ``query.before`` when it is set: one page of an operator's listing."""
        ...

    # erasure of an applicant's personal data (shared.services.erasure: the right to erasure, and retention)
    def erase_prospect(self, prospect: Prospect) -> None:
        """Save ``prospect``, whose request was erased (shared.domain.erasure.erased_prospect), and forget
        what the store derived from the request it had (search keys, index rows, its signup's duplicate keys):
        no search or duplicate lookup finds it by them. Call it before its signup's request is erased."""
        ...
    def erase_history(self, prospect_id: str) -> None:
        """Every history entry of the prospect as ``shared.domain.erasure.erased_history`` leaves it: what
        happened, when and by whom stay, in their order; the details go."""
        ...
    def delete_email(self, email_id: str) -> None:
        """The email record is gone (a later ``get_email`` finds nothing); nothing if there was none."""
        ...
    def stale_signups(self, received_before: datetime, limit: int) -> list[SignupRecord]:
        """Signups that never became a prospect (``prospect_id`` None: waiting, unconfirmed, expired) received
        before ``received_before``, oldest first, at most ``limit``."""
        ...

    # the operator audit (shared.domain.audit): poison message reveals, replays, discards; email retries
    def add_audit_entry(self, entry: AuditEntry) -> None: ...
    def audit_entries(self, limit: int) -> list[AuditEntry]:
        """The newest ``limit`` entries, newest first."""
        ...


@dataclass(frozen=True)
class EmailQuery:
    """Which emails an operator lists (``UnitOfWork.email_page``); every criterion set must hold."""

    status: EmailStatus | None = None
    in_flight: bool | None = None  # a delivery attempt holds it (``delivery_started_at`` set) or not
    template: str | None = None
    to_domain: str | None = None  # lower-case; the part after the recipient's "@", exactly
    before: tuple[datetime, str] | None = None  # (created_at, id) of the previous page's last email


class Store(Protocol):
    def unit_of_work(self, read_only: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A transaction. Services do not read back what they wrote in the same unit of work
        (an adapter may buffer writes until commit); ``read_only`` lets readers skip the write lock."""
        ...

    def count_in_window(self, key: str, window_start: datetime, window_end: datetime, limit: int) -> bool:
        """Count one request of ``key`` (a hashed client or domain, never a raw address) in the window that
        starts at ``window_start``: True when it is within ``limit`` (and counted), False when the window has
        ``limit`` already (nothing written). Atomic across instances: of N callers at once in one window,
        exactly ``limit`` get True. A window that started earlier is replaced by this one."""
        ...

    def count_in_windows(self, windows: Sequence[tuple[str, datetime, datetime, int]]) -> list[bool]:
        """Several ``count_in_window(key, window_start, window_end, limit)`` of distinct keys at once, answered
        in order: one write where the store can (SQLite), so a request's client and domain cost one."""
        ...

    def expire_rate_windows(self, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` windows (``count_in_window``) that ended at or before ``before``; returns how
        many it deleted (fewer than ``limit``: none are left)."""
        ...

    def shared_secret(self, name: str) -> bytes:
        """A random 32-byte secret named ``name``: made on the first ask, the same for every caller and
        instance afterwards (the intake's form stamps are signed with it when no secret is configured)."""
        ...

    def settle_prospect_directory(self, limit: int) -> int:
        """Bring the back office's list up to date where a store keeps it apart from the prospects (Azure
        Tables: index rows in another partition, written after the prospect commits): the prospects of an
        older store once, then those whose update stopped half-way (a crash). Returns how many prospects it
        went through; a store that keeps the list in the prospect's own transaction (SQLite) has none."""
        ...


@dataclass(frozen=True)
class ReceivedMessage:
    """A message taken from a queue; invisible to others until deleted or its visibility ends."""

    queue: str
    id: str
    pop_receipt: str
    body: str
    dequeue_count: int
    inserted_at: datetime


class MessageNotFound(LookupError):
    """The message is gone or its pop receipt is stale (another consumer received it since): what
    ``Queue.delete`` and ``Queue.release`` raise for it, whichever adapter is behind the port."""


class Queue(Protocol):
    """Azure Storage Queue semantics: at-least-once, visibility timeout, dequeue count."""

    def send(self, queue: str, body: str, *, delay_seconds: float = 0) -> str: ...
    def receive(self, queue: str, *, max_messages: int, visibility_timeout: float) -> list[ReceivedMessage]: ...
    def delete(self, message: ReceivedMessage) -> None: ...
    def release(self, message: ReceivedMessage, *, visibility_timeout: float) -> None:
        """Make a received message visible again after ``visibility_timeout`` seconds (a retry)."""
        ...
    def peek(self, queue: str, *, max_messages: int) -> list[ReceivedMessage]: ...
    def get(self, queue: str, message_id: str) -> ReceivedMessage | None: ...
    def remove(self, queue: str, message_id: str) -> bool:
        """Delete a message by id regardless of visibility (operator action on poison queues)."""
        ...
    def count(self, queue: str) -> int: ...


@dataclass(frozen=True)
class LeadResult:
    """The outcome of one lead of ``SalesGateway.create_leads``: its snapshot, or the error that stopped it.

    An error with a true ``permanent`` attribute is a refusal no retry can fix (it carries ``status``,
    ``code`` and the response ``body`` where Sales gave them); any other error may pass on a retry."""

    lead_id: str
    snapshot: LeadSnapshot | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        return self.snapshot is not None


class SalesGateway(Protocol):
    """The CRM where salespeople qualify, disqualify, win or lose B2B leads."""

    def create_lead(self, draft: LeadDraft) -> LeadSnapshot:
        """Create the lead with ``draft.lead_id``; if it exists already, return it unchanged."""
        ...
    def create_leads(self, drafts: Sequence[LeadDraft]) -> list[LeadResult]:
        """``create_lead`` for many drafts, one result per draft in their order: a lead that fails (its
        result carries the error) does not stop the others. Raises only when no lead could be tried
        (Sales unreachable), never for one lead's refusal."""
        ...
    def get_lead(self, lead_id: str) -> LeadSnapshot | None:
        """The lead, with the state of its qualifying opportunity once it has one."""
        ...
    def get_qualification(self, lead_id: str) -> Qualification | None:
        """The contact, account and opportunity that qualifying the lead created, if it was qualified."""
        ...
    def get_opportunity_lead(self, opportunity_id: str) -> str | None:
        """The lead an opportunity originated from (a "won" names only the opportunity), if any."""
        ...
    def decisions_since(self, since: datetime | None, limit: int) -> list[SalesDecision]:
        """Closing decisions recorded after ``since`` (all of them when None), oldest first by their
        ``modified_on``, at most ``limit``: B2B leads (those with a prospect number) qualified or
        disqualified, and opportunities originating from B2B leads won or lost.

        When ``limit`` decisions come back there may be more, some at the last one's ``modified_on``:
        the caller asks again from a little before it. Every decision is reported by the record's
        current state, so a record changed again (a lost opportunity's lead, say) is reported again."""
        ...


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str
    sender_name: str
    sender_address: str
    to: str
    subject: str
    html_body: str
    text_body: str
    language: str


class EmailTransport(Protocol):
    def send(self, email: OutgoingEmail) -> None:
        """Deliver the email; raise on failure. Sending the same message_id again must be harmless
        where the transport can tell (the outbox folder can; SMTP cannot, so it is only called again
        after a failure)."""
        ...


class KeptEmails(Protocol):
    """The emails a transport keeps instead of sending (the outbox folder, the storage outbox): what the back
    office and ``b2b outbox`` read. SMTP and SES keep nothing."""

    def list(self) -> list[dict]:
        """One summary per email, oldest first: ``id`` (the message id), ``to``, ``subject``, ``date``,
        ``path`` (where it is kept)."""
        ...

    def read_bytes(self, message_id: str) -> bytes:
        """The email as kept, an .eml (RFC 5322); shared.domain.errors.NotFound for an id it does not keep."""
        ...

    def delete(self, message_id: str) -> bool:
        """Remove the kept email (its applicant's data is erased); False when it kept none of that id."""
        ...


@dataclass(frozen=True)
class Caller:
    """Who a verified bearer token speaks for: an account, (issuer, subject). The partner user it signs in
    as is the one bound to that account; ``verified_email`` only serves to bind it at the first sign-in."""

    issuer: str  # the token's `iss`
    subject: str  # the token's stable account id: `sub`, or `oid` where so configured
    verified_email: str | None = None  # an email the issuer vouches for (lower-cased, stripped), if any
    subject_claim: str = "sub"  # the claim ``subject`` came from (PARTNER_TOKEN_SUBJECT_CLAIM)


class TokenVerifier(Protocol):
    def verify(self, authorization: str | None) -> Caller:
        """The caller named by an `Authorization: Bearer <jwt>` header value; raises
        shared.domain.errors.Unauthenticated (with a short reason safe to show) otherwise, and
        shared.domain.errors.TokenKeysUnavailable when the issuer's keys cannot be fetched (not the caller's fault)."""
        ...


@dataclass(frozen=True)
class CaptchaAnswer:
    """What a CAPTCHA provider's siteverify said of one token."""

    success: bool
    error_codes: tuple[str, ...] = ()
    score: float | None = None  # reCAPTCHA v3 only: 1.0 very likely a person, 0.0 very likely a bot
    hostname: str | None = None


class CaptchaUnreachable(Exception):
    """The provider did not answer in time, or answered with something that is not its API's answer."""


class CaptchaVerifier(Protocol):
    """A CAPTCHA provider's server-side check (Cloudflare Turnstile, hCaptcha, Google reCAPTCHA)."""

    provider: str
    token_field: str  # the form field the provider's widget puts its token in

    def verify(self, token: str, remote_ip: str | None) -> CaptchaAnswer:
        """The provider's answer for ``token``; CaptchaUnreachable when there is none to be had."""
        ...
