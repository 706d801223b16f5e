"""The Dataverse webhook: a decision made in Dynamics 365 Sales becomes a ``SalesOutcome`` on the outcome queue.

Dataverse posts the ``RemoteExecutionContext`` of the SDK message a step is registered on (serialized
with the .NET data contract serializer: parameters and attributes are lists of ``{"key", "value"}``,
typed values carry ``__type``, dates look like ``/Date(ms)/``). The mapping:

=====================================================  ===================  ===============================
SDK message (primary entity)                           outcome kind         reason
=====================================================  ===================  ===============================
``QualifyLead`` (lead)                                 ``lead_qualified``   —
``Update`` (lead), statecode 2 in Target or PostImage  ``lead_disqualified`` ``LEAD_DISQUALIFY_REASONS``
``SetState`` / ``SetStateDynamicEntity`` (lead), 2     ``lead_disqualified`` ``LEAD_DISQUALIFY_REASONS``
``Win`` (opportunity; ``OpportunityClose`` input)      ``opportunity_won``  —
``Lose`` (opportunity; ``OpportunityClose`` input)     ``opportunity_lost`` ``OPPORTUNITY_LOSS_REASONS``
=====================================================  ===================  ===============================

The event id is ``outcome_event_id(kind, primary id)`` — the lead for ``lead_*``, the opportunity for
``opportunity_*`` — exactly what the embedded Sales and a reconciliation derive, so the same decision
reported twice (a webhook retry, a second instance, a reconciliation) is applied once downstream.

Repeats: Dataverse retries a webhook once when it answered 502, 503 or 504 (this one answers 503 for a
transient fault, below), and the retry may reach another instance; a request whose 2xx answer was lost on
the way is a failed System Job that an administrator may resend.
A repeat is recognised by its request id (``RequestId``, the ``x-ms-correlation-request-id`` header, or
``OperationId``): the (request id, event id) pair is recorded in the Store (``record_event`` in the scope
``sales-webhook-<prospect id>``) *after* the outcome was sent, so a send that fails leaves nothing
recorded and Dataverse's retry sends it. What slips through — two instances handling the same repeat at
the same moment, or a crash between the send and the record — is enqueued twice, harmlessly: both
messages carry the same event id (and the same ``occurred_at``, taken from the context), which
propagation applies once. Without a store (tests) nothing is recorded and every request is enqueued.

A recognised message that is no decision (an ``Update`` that does not disqualify, an opportunity or
lead that is not a B2B prospect's) is acknowledged and ignored. Anything else is refused with
``UnsupportedWebhook`` / ``InvalidWebhook`` (HTTP 400). Logs name the message, entity and ids only:
never names, emails or other columns of the records.

Answers Dataverse can act on: it waits at most 60 s for an answer and retries (once) only a 502, 503 or 504;
a 500 or a timeout is a failed System Job, never retried. So a transient fault — Sales unreachable, throttled
(429) or failing (5xx), the store or the queue failing or timing out — raises ``WebhookUnavailable``
(answered 503 with ``Retry-After``), and the whole request runs under a deadline (``budget``, default
``DEFAULT_BUDGET`` s, well inside the 60 s): the Dataverse adapter never sleeps out a ``Retry-After`` the
deadline cannot hold (it raises instead), and its requests time out by the deadline. What is optional is
dropped when the budget is short: a ``lead_qualified`` outcome goes without its qualification, which
propagation reads later (from its own queue retry). What is required — the lead of a ``Win``/``Lose``, which
a ``SalesOutcome`` must name and propagation cannot look up — is a 503. A decision missed for good (both
tries failed) is still found by the channel sync's reconciliation.

Oversized contexts: above 256 KB Dataverse sends the header ``x-ms-dynamics-msg-size-exceeded`` and removes
``InputParameters``, ``ParentContext``, ``PreEntityImages`` and ``PostEntityImages`` (``OutputParameters``
and ``PrimaryEntityId`` stay). Then what the removed parts said is read from Sales: ``Win``/``Lose`` take the
opportunity from ``PrimaryEntityId`` (a loss reason from the lead's qualifying opportunity's statuscode);
a lead's ``Update``/``SetState`` is a disqualification when Sales has the lead disqualified (its reason from
the lead's statuscode); ``QualifyLead`` needs nothing removed (``PrimaryEntityId`` is the lead,
``CreatedEntities`` is an output).
"""
from __future__ import annotations

import logging
import math
import re
import uuid
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.deadline import Deadline, within
from shared.domain.errors import DomainError, DuplicateRecord
from shared.domain.ids import outcome_event_id
from shared.domain.messages import SalesOutcome
from shared.domain.sales import LeadState, OutcomeKind, Qualification, outcome_primary_id, outcome_reason
from shared.ports import Clock, Queue, SalesGateway, Store

log = logging.getLogger("b2b.sales_webhook")

SOURCE = "dataverse-webhook"
REQUEST_SCOPE = "sales-webhook-"  # + prospect id: the Store scope of the requests handled
SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"  # the context came without its inputs and images
DEFAULT_BUDGET = 20.0  # seconds for one request: Dataverse stops waiting at 60
QUALIFICATION_RESERVE = 5.0  # the optional qualification read is skipped with less budget left than this
DEFAULT_RETRY_AFTER = 10  # seconds, in a 503 when nothing better is known (Sales' own Retry-After is)
_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


# --- errors -------------------------------------------------------------------------------------
class WebhookRejected(DomainError):
    """A webhook request no retry can make acceptable (answered 400)."""


class InvalidWebhook(WebhookRejected):
    """The body is not a RemoteExecutionContext (not JSON, or required fields missing or mistyped)."""


class UnsupportedWebhook(WebhookRejected):
    """A well-formed context of a message (or entity) this webhook does not handle."""


class WebhookUnavailable(Exception):
    """A transient fault kept the request from being handled in time (answered 503 with ``Retry-After``,
    which Dataverse retries). Not a DomainError: no rule refused anything."""

    def __init__(self, message: str, retry_after: int = DEFAULT_RETRY_AFTER):
        super().__init__(message)
        self.retry_after = retry_after


# --- the context ------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class KeyValue(_Model):
    key: str
    value: Any = None


def parse_dotnet_date(value: Any) -> datetime | None:
    """``/Date(1495810153000)/`` or ``/Date(1495810153000+0000)/`` (the JSON text escapes the slashes as
    ``\\/``) → an aware UTC datetime. The milliseconds are UTC; the offset is display information only."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("not a /Date(ms)/ string")
    match = _DATE.match(value.strip())
    if match is None:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))  # ISO 8601 tolerated
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(match.group(1)))


class RemoteExecutionContext(_Model):
    """The fields of ``Microsoft.Xrm.Sdk.RemoteExecutionContext`` this webhook reads."""

    message_name: str = Field(alias="MessageName", min_length=1, max_length=200)
    primary_entity_name: str = Field(alias="PrimaryEntityName", min_length=1, max_length=200)
    primary_entity_id: str | None = Field(None, alias="PrimaryEntityId")
    input_parameters: list[KeyValue] = Field(default_factory=list, alias="InputParameters")
    output_parameters: list[KeyValue] = Field(default_factory=list, alias="OutputParameters")
    pre_entity_images: list[KeyValue] = Field(default_factory=list, alias="PreEntityImages")
    post_entity_images: list[KeyValue] = Field(default_factory=list, alias="PostEntityImages")
    correlation_id: str | None = Field(None, alias="CorrelationId")
    request_id: str | None = Field(None, alias="RequestId")
    operation_id: str | None = Field(None, alias="OperationId")
    operation_created_on: datetime | None = Field(None, alias="OperationCreatedOn")

    @field_validator("input_parameters", "output_parameters", "pre_entity_images", "post_entity_images",
                     mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("operation_created_on", mode="before")
    @classmethod
    def _dotnet_date(cls, value: Any) -> datetime | None:
        return parse_dotnet_date(value)

    def parameter(self, name: str) -> Any:
        return _lookup(self.input_parameters, name)

    def output(self, name: str) -> Any:
        return _lookup(self.output_parameters, name)

    def images(self) -> list[dict]:
        return [image.value for image in (*self.post_entity_images, *self.pre_entity_images)
                if isinstance(image.value, dict)]


def _lookup(pairs: list[KeyValue], name: str) -> Any:
    for pair in pairs:
        if pair.key.lower() == name.lower():
            return pair.value
    return None


def _attribute(entity: Any, name: str) -> Any:
    """An attribute of a serialized ``Entity`` (``Attributes`` is a key/value list, or a plain object)."""
    if not isinstance(entity, dict):
        return None
    attributes = entity.get("Attributes")
    if isinstance(attributes, list):
        for pair in attributes:
            if isinstance(pair, dict) and str(pair.get("key", "")).lower() == name:
                return pair.get("value")
        return None
    if isinstance(attributes, dict):
        return attributes.get(name)
    return None


def _option(value: Any) -> int | None:
    """An ``OptionSetValue`` (``{"__type": "OptionSetValue:…", "Value": 2}``) or a bare integer."""
    if isinstance(value, dict):
        value = value.get("Value")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _guid(value: Any) -> str | None:
    """A GUID in Dataverse's form (lower case); None for null, the empty GUID and anything else."""
    if isinstance(value, dict):  # an EntityReference or an Entity
        value = value.get("Id")
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value.strip())
    except ValueError:
        return None
    return None if parsed.int == 0 else str(parsed)


def _references(value: Any) -> list[dict]:
    """An ``EntityReferenceCollection``: a list of references, or an object wrapping one."""
    if isinstance(value, dict):
        for key in ("Entities", "value", "Value"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


# --- the result -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    kind: OutcomeKind
    lead_id: str | None
    opportunity_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class WebhookResult:
    """``enqueued``: the outcome is on the queue; ``duplicate``: a repeat of a request already enqueued
    (by any instance sharing the store); ``ignored``: a recognised message that is no decision about a B2B prospect."""

    status: Literal["enqueued", "duplicate", "ignored"]
    message_name: str
    entity: str
    kind: str | None = None
    event_id: str | None = None
    lead_id: str | None = None
    opportunity_id: str | None = None
    detail: str = ""


OpportunityLeadLookup = Callable[[str], "str | None"]


class SalesWebhook:
    """Turns Dataverse webhook requests into ``SalesOutcome`` messages on ``outcome_queue``.

    - ``sales``: the gateway; ``get_qualification`` fills a ``lead_qualified`` outcome (the context names
      the created records but carries none of their columns). When it fails or finds nothing yet, the
      outcome goes without it and propagation reads it later, as it does for a "won" that overtakes.
    - ``opportunity_lead``: the lead an opportunity originated from (``originatingleadid``), for ``Win`` and
      ``Lose``, whose context names only the opportunity. Read from the context first when it is there.
    - ``store``: when given, decisions about leads that no prospect has (Sales' other leads) are ignored
      instead of enqueued (they would end on the poison queue), and repeated requests are recorded there
      and recognised by every instance sharing it.
    """

    def __init__(self, queue: Queue, outcome_queue: str, clock: Clock, *, sales: SalesGateway | None = None,
                 opportunity_lead: OpportunityLeadLookup | None = None, store: Store | None = None,
                 budget: float = DEFAULT_BUDGET, monotonic: Callable[[], float] = time.monotonic):
        self._queue = queue
        self._outcome_queue = outcome_queue
        self._clock = clock
        self._sales = sales
        self._opportunity_lead = opportunity_lead
        self._store = store
        self._budget = budget
        self._monotonic = monotonic

    # --- entry point -------------------------------------------------------------------------
    def handle(self, body: bytes | str | Mapping[str, Any], headers: Mapping[str, str] | None = None) -> WebhookResult:
        """``WebhookRejected`` for a request no retry can fix; ``WebhookUnavailable`` for a transient fault or a
        spent budget (Dataverse retries it); a ``WebhookResult`` otherwise, within the budget."""
        context = self.parse(body)
        headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        with within(Deadline(self._budget, self._monotonic)) as deadline:
            return self._handle(context, headers, deadline)

    def _handle(self, context: RemoteExecutionContext, headers: dict[str, str], deadline: Deadline) -> WebhookResult:
        trimmed = SIZE_EXCEEDED_HEADER in headers
        decision = self._decide_trimmed(context) if trimmed else self._decide(context)
        message, entity = context.message_name, context.primary_entity_name.lower()
        base = {"sdk_message": message, "entity": entity, "primary_id": _guid(context.primary_entity_id),
                "correlation_id": context.correlation_id, "size_exceeded": trimmed}
        if isinstance(decision, str):  # recognised, but no decision
            log.info("sales webhook ignored", extra={**base, "why": decision})
            return WebhookResult("ignored", message, entity, detail=decision)

        lead_id = decision.lead_id or self._lead_of(context, decision.opportunity_id)
        if lead_id is None:
            detail = f"opportunity {decision.opportunity_id} has no originating lead"
            log.info("sales webhook ignored", extra={**base, "why": detail})
            return WebhookResult("ignored", message, entity, kind=decision.kind, detail=detail,
                                 opportunity_id=decision.opportunity_id)
        event_id = outcome_event_id(decision.kind, outcome_primary_id(decision.kind, lead_id, decision.opportunity_id))
        result = {"kind": decision.kind, "event_id": event_id, "lead_id": lead_id,
                  "opportunity_id": decision.opportunity_id}
        log_extra = {**base, **result}

        if trimmed and decision.kind == "opportunity_lost" and decision.reason is None:
            decision = Decision(decision.kind, lead_id, decision.opportunity_id,
                                self._loss_reason(lead_id, decision.opportunity_id))

        prospect_id = None
        if self._store is not None:
            with _unavailable_on_fault("the store"):
                prospect_id = self._prospect_of(lead_id)
            if prospect_id is None:
                log.info("sales webhook ignored: no prospect has the lead", extra=log_extra)
                return WebhookResult("ignored", message, entity, detail="no prospect has this lead", **result)

        request_key = self._request_key(context, headers)
        delivery = (REQUEST_SCOPE + prospect_id, f"{request_key}.{event_id}") \
            if prospect_id is not None and request_key is not None else None
        if delivery is not None:
            with _unavailable_on_fault("the store"):
                seen = self._seen(delivery)
            if seen:
                log.info("sales webhook repeated; already enqueued", extra={**log_extra, "request_id": request_key})
                return WebhookResult("duplicate", message, entity, detail="request already handled", **result)

        qualification = self._qualification(decision.kind, lead_id, deadline)
        outcome = SalesOutcome(
            event_id=event_id, kind=decision.kind, lead_id=lead_id,
            opportunity_id=decision.opportunity_id or (qualification.opportunity_id if qualification else None),
            occurred_at=context.operation_created_on or self._clock.now(),
            qualification=qualification, reason=decision.reason, source=SOURCE,
        )
        with _unavailable_on_fault("the outcome queue"):
            self._queue.send(self._outcome_queue, outcome.to_json())
        if delivery is not None:  # only once it went out: a failed send is retried by Dataverse, and sent then
            self._record(delivery, decision.kind)
        log.info("sales outcome enqueued", extra={**log_extra, "request_id": request_key})
        return WebhookResult("enqueued", message, entity, **{**result, "opportunity_id": outcome.opportunity_id})

    # --- parsing ---------------------------------------------------------------------------
    @staticmethod
    def parse(body: bytes | str | Mapping[str, Any]) -> RemoteExecutionContext:
        try:
            if isinstance(body, Mapping):
                return RemoteExecutionContext.model_validate(body)
            return RemoteExecutionContext.model_validate_json(body)
        except ValidationError as error:
            # Name the fields, never their values (they may be personal data).
            problems = sorted({".".join(str(p) for p in e["loc"]) or "(body)" for e in error.errors()})
            if any(e["type"] == "json_invalid" for e in error.errors()):
                raise InvalidWebhook("the body is not valid JSON") from None
            raise InvalidWebhook(f"not a RemoteExecutionContext: {', '.join(problems)}") from None
        except (ValueError, RecursionError):
            raise InvalidWebhook("the body is not valid JSON") from None

    def _decide(self, context: RemoteExecutionContext) -> Decision | str:
        message, entity = context.message_name, context.primary_entity_name.lower()
        if entity == "lead":
            if message == "QualifyLead":
                lead_id = _guid(context.primary_entity_id) or _guid(context.parameter("LeadId"))
                if lead_id is None:
                    raise InvalidWebhook("QualifyLead names no lead (PrimaryEntityId, LeadId)")
                created = _references(context.output("CreatedEntities"))
                opportunity_id = next((_guid(r) for r in created if str(r.get("LogicalName")).lower() == "opportunity"),
                                      None)
                return Decision("lead_qualified", lead_id, opportunity_id)
            if message == "Update":
                return self._lead_update(context)
            if message in ("SetState", "SetStateDynamicEntity"):
                return self._lead_set_state(context)
        if entity in ("opportunity", "opportunityclose") and message in ("Win", "Lose"):
            close = context.parameter("OpportunityClose")
            if not isinstance(close, dict):
                raise InvalidWebhook(f"{message} has no OpportunityClose input")
            opportunity_id = _guid(_attribute(close, "opportunityid"))
            if opportunity_id is None and entity == "opportunity":
                opportunity_id = _guid(context.primary_entity_id)
            if opportunity_id is None:
                raise InvalidWebhook(f"{message}: the OpportunityClose names no opportunity")
            lead_id = _guid(_attribute(close, "originatingleadid"))
            if message == "Win":
                return Decision("opportunity_won", lead_id, opportunity_id)
            status = _option(context.parameter("Status"))
            return Decision("opportunity_lost", lead_id, opportunity_id, outcome_reason("opportunity_lost", status))
        raise UnsupportedWebhook(f"unsupported message {message[:60]!r} on {entity[:60]!r}; this webhook handles "
                                 "QualifyLead, Update, SetState and SetStateDynamicEntity on lead, Win and Lose "
                                 "on opportunity")

    def _decide_trimmed(self, context: RemoteExecutionContext) -> Decision | str:
        """A context Dataverse sent without its inputs and images (``SIZE_EXCEEDED_HEADER``): the primary
        record's id and ``OutputParameters`` are all it has; the rest is read from Sales."""
        message, entity = context.message_name, context.primary_entity_name.lower()
        primary_id = _guid(context.primary_entity_id)
        if entity == "lead" and message == "QualifyLead":
            return self._decide(context)  # PrimaryEntityId and CreatedEntities are all it reads
        if entity == "lead" and message in ("Update", "SetState", "SetStateDynamicEntity"):
            if primary_id is None:
                raise InvalidWebhook(f"{message} (size exceeded) names no lead (PrimaryEntityId)")
            lead = self._read_sales("the lead", lambda sales: sales.get_lead(primary_id))
            if lead is None or lead.statecode != LeadState.DISQUALIFIED:
                return "the lead is not disqualified in Sales"
            return Decision("lead_disqualified", primary_id,
                            reason=outcome_reason("lead_disqualified", lead.statuscode))
        if entity == "opportunity" and message in ("Win", "Lose"):
            if primary_id is None:
                raise InvalidWebhook(f"{message} (size exceeded) names no opportunity (PrimaryEntityId)")
            kind: OutcomeKind = "opportunity_won" if message == "Win" else "opportunity_lost"
            return Decision(kind, None, primary_id)  # the lead and a loss reason are read once the lead is known
        return self._decide(context)  # refused there, as without the header

    def _loss_reason(self, lead_id: str, opportunity_id: str | None) -> str | None:
        """The loss reason of a ``Lose`` whose ``Status`` input was removed: the statuscode Sales holds for the
        lead's qualifying opportunity, when that is the one lost (a B2B lead qualifies into one)."""
        lead = self._read_sales("the lead", lambda sales: sales.get_lead(lead_id))
        if lead is None or lead.qualifying_opportunity_id is None or \
                _guid(lead.qualifying_opportunity_id) != opportunity_id:
            return None
        return outcome_reason("opportunity_lost", lead.opportunity_statuscode)

    def _read_sales(self, what: str, read: Callable[[SalesGateway], Any]) -> Any:
        if self._sales is None:
            raise InvalidWebhook(f"the context came without its inputs (size exceeded) and there is no Sales to "
                                 f"read {what} from")
        with _unavailable_on_fault(f"reading {what} from Sales"):
            return read(self._sales)

    def _lead_update(self, context: RemoteExecutionContext) -> Decision | str:
        target = context.parameter("Target")
        lead_id = _guid(target) or _guid(context.primary_entity_id)
        if lead_id is None:
            raise InvalidWebhook("Update names no lead (Target, PrimaryEntityId)")
        sources = [target, *context.images()]
        state = next((s for s in (_option(_attribute(e, "statecode")) for e in sources) if s is not None), None)
        if state != LeadState.DISQUALIFIED:
            return "the update does not disqualify the lead"
        status = next((s for s in (_option(_attribute(e, "statuscode")) for e in sources) if s is not None), None)
        return Decision("lead_disqualified", lead_id, reason=outcome_reason("lead_disqualified", status))

    def _lead_set_state(self, context: RemoteExecutionContext) -> Decision | str:
        lead_id = _guid(context.parameter("EntityMoniker")) or _guid(context.primary_entity_id)
        if lead_id is None:
            raise InvalidWebhook(f"{context.message_name} names no lead (EntityMoniker, PrimaryEntityId)")
        if _option(context.parameter("State")) != LeadState.DISQUALIFIED:
            return "the state change does not disqualify the lead"
        return Decision("lead_disqualified", lead_id,
                        reason=outcome_reason("lead_disqualified", _option(context.parameter("Status"))))

    # --- lookups ---------------------------------------------------------------------------
    def _lead_of(self, context: RemoteExecutionContext, opportunity_id: str | None) -> str | None:
        for image in context.images():
            if str(image.get("LogicalName", "")).lower() == "opportunity":
                lead_id = _guid(_attribute(image, "originatingleadid"))
                if lead_id is not None:
                    return lead_id
        if opportunity_id is None:
            return None
        if self._opportunity_lead is None:
            # A wiring fault, not bad input and not transient: a 500, which Dataverse does not retry (its System
            # Job fails, for an administrator to see); the channel sync's reconciliation still finds the decision.
            raise RuntimeError("SalesWebhook needs opportunity_lead to find the lead of an opportunity")
        with _unavailable_on_fault("reading the opportunity's lead from Sales"):
            lead_id = self._opportunity_lead(opportunity_id)
        return _guid(lead_id) if lead_id else None

    def _prospect_of(self, lead_id: str) -> str | None:
        assert self._store is not None
        with self._store.unit_of_work(read_only=True) as uow:
            prospect = uow.find_prospect_by_lead(lead_id)
        return None if prospect is None else prospect.id

    def _seen(self, delivery: tuple[str, str]) -> bool:
        assert self._store is not None
        with self._store.unit_of_work(read_only=True) as uow:
            return uow.event_seen(*delivery)

    def _record(self, delivery: tuple[str, str], kind: str) -> None:
        assert self._store is not None
        try:
            with self._store.unit_of_work() as uow:
                if not uow.event_seen(*delivery):
                    uow.record_event(*delivery, kind, "enqueued")
        except DuplicateRecord:  # another instance handled the same repeat at the same moment and recorded it
            pass
        except Exception as error:  # noqa: BLE001 - the outcome is on the queue: the request is handled
            # A repeat of this request will not be recognised and enqueues the same event id again, which
            # propagation applies once; answering 503 now would only make Dataverse send it again.
            log.warning("sales webhook request not recorded; a repeat would be enqueued again",
                        extra={"error": type(error).__name__})

    def _qualification(self, kind: str, lead_id: str, deadline: Deadline) -> Qualification | None:
        """Optional: a ``lead_qualified`` outcome without it is completed by propagation, which reads it (and
        its queue retries until Sales answers). So it is read only with time to spare, and never fails the
        request."""
        if kind != "lead_qualified" or self._sales is None:
            return None
        if not deadline.allows(QUALIFICATION_RESERVE):
            log.warning("qualification not read: the request's budget is nearly spent; the outcome goes without it",
                        extra={"lead_id": lead_id, "remaining": round(deadline.remaining(), 3)})
            return None
        try:
            return self._sales.get_qualification(lead_id)
        except Exception as error:  # noqa: BLE001 - Sales is slow or down: propagation reads it later
            log.warning("qualification not read; the outcome goes without it",
                        extra={"lead_id": lead_id, "error": type(error).__name__})
            return None

    @staticmethod
    def _request_key(context: RemoteExecutionContext, headers: Mapping[str, str]) -> str | None:
        for value in (context.request_id, headers.get("x-ms-correlation-request-id"), context.operation_id):
            key = _guid(value)
            if key is not None:
                return key
        return None


@contextmanager
def _unavailable_on_fault(what: str) -> Iterator[None]:
    """A fault of ``what`` that a later try may not meet becomes ``WebhookUnavailable`` (503, retried by
    Dataverse): Sales unreachable, throttled or failing, a storage error or timeout, the deadline spent. A
    permanent refusal (``permanent`` set: a Dataverse 4xx) and a refusal of the request pass unchanged: no retry
    can fix those."""
    try:
        yield
    except WebhookRejected:
        raise
    except Exception as error:
        if getattr(error, "permanent", False):
            raise
        retry_after = getattr(error, "retry_after", None)
        seconds = DEFAULT_RETRY_AFTER if retry_after is None else max(1, min(math.ceil(retry_after), 3600))
        log.warning("sales webhook not handled: a transient fault; answered 503",
                    extra={"failed": what, "error": type(error).__name__, "retry_after": seconds})
        raise WebhookUnavailable(f"{what} failed ({type(error).__name__}); retry later", seconds) from error
