"""The SalesGateway on Dynamics 365 Sales through the Dataverse Web API (v9.2).

- Leads are created with a client-supplied ``leadid`` (the draft's deterministic uuid5). Dataverse
  refuses a second create with the same key (412, error ``0x80040237``), so a repeat — a redelivered
  message, a retry after a lost answer — reads the existing lead instead of making another.
- The timeline note is created in the same request by deep insert (``Lead_Annotation``). No
  ``ownerid`` is sent: the lead belongs to the caller, the integration's application user.
- Service protection: a 429 waits exactly ``Retry-After``; 5xx, timeouts and dropped connections are
  retried with exponential backoff and jitter, a bounded number of times; a 401 refreshes the token
  once. Under a caller's deadline (``shared.deadline``: the webhook answers Dataverse within its budget)
  no wait or request outlasts it: a wait that would overrun it raises at once instead of sleeping.
  Anything else that is not a success raises ``DataverseRequestError`` with the response body:
  no retry can fix it, so the queue host retries the message to its poison queue for an operator.
- At most ``max_concurrency`` requests are in flight at once (Dataverse allows 52 per user).
- ``create_leads`` sends many leads in ``$batch`` requests, one changeset per lead.
"""
from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, NoReturn, Protocol, Sequence
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

# The credential Dataverse is reached with; bootstrap builds it from here.
from shared.adapters.azure_credentials import managed_identity_credential  # noqa: F401
from shared.deadline import current_deadline
from shared.domain.sales import (
    LeadDraft,
    LeadSnapshot,
    LeadState,
    OpportunityState,
    Qualification,
    SalesAccount,
    SalesContact,
    SalesDecision,
)
from shared.ports import LeadResult

log = logging.getLogger("b2b.dataverse")

API_PATH = "/api/data/v9.2/"
DEFAULT_PROSPECT_COLUMN = "cr_b2bprospectnumber"
NOTE_SUBJECT = "Created by Commerce B2B onboarding"
DUPLICATE_KEY = "0x80040237"
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})

# Dataverse's default maximum lengths of the lead columns we write (lead table reference).
LEAD_COLUMN_LIMITS = {
    "subject": 300, "firstname": 50, "lastname": 50, "companyname": 100, "emailaddress1": 100, "telephone1": 50,
    "address1_line1": 250, "address1_city": 80, "address1_postalcode": 20, "address1_country": 80,
    "description": 2000,
}
NOTE_TEXT_LIMIT = 100_000
_LEAD_FIELDS = (  # column, draft attribute
    ("subject", "subject"), ("firstname", "first_name"), ("lastname", "last_name"), ("companyname", "company_name"),
    ("emailaddress1", "email"), ("telephone1", "phone"), ("address1_line1", "street"), ("address1_city", "city"),
    ("address1_postalcode", "zip_code"), ("address1_country", "country"), ("description", "description"),
)
_ACCOUNT_COLUMNS = "accountid,name,telephone1,address1_line1,address1_city,address1_postalcode,address1_country"
_CONTACT_COLUMNS = "contactid,firstname,lastname,emailaddress1,telephone1"


# --- errors -------------------------------------------------------------------------------------
class DataverseError(Exception):
    """A Dataverse request that did not succeed. ``body`` is the response text, when there was one."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, body: str = "",
                 method: str = "", url: str = ""):
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body
        self.method = method
        self.url = url


class DataverseRequestError(DataverseError):
    """A 4xx that retrying cannot fix (bad column, validation, permission, missing record...)."""

    permanent = True  # read duck-typed by the services, which do not import this adapter


class DataverseUnavailable(DataverseError):
    """5xx, timeouts or dropped connections outlasted the retries; a later retry may succeed."""


class DataverseThrottled(DataverseUnavailable):
    """Service protection (429) asked for more waiting than this call may spend; retry later.
    ``retry_after``: the seconds Dataverse asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any):
        super().__init__(message, **details)
        self.retry_after = retry_after


def _error_of(text: str) -> tuple[str | None, str]:
    try:
        error = json.loads(text).get("error", {})
        return error.get("code"), error.get("message", "")
    except (ValueError, AttributeError):
        return None, text[:500]


def _refusal(status: int, text: str, doing: str, *, method: str, url: str) -> DataverseRequestError:
    """From status and body alone: a refusal inside a $batch answer has no response of its own."""
    code, _message = _error_of(text)
    # Dataverse's message can quote the values it refused (names, emails), and hosts log exception text:
    # the text says what and how, the body stays on the error for the operator's record.
    return DataverseRequestError(f"Dataverse refused to {doing}: {status} {code or ''}".strip(),
                                 status=status, code=code, body=text, method=method, url=url)


def _raise_for(response: requests.Response, doing: str) -> NoReturn:
    raise _refusal(response.status_code, response.text, doing, method=response.request.method or "",
                   url=response.url)


# --- tokens -------------------------------------------------------------------------------------
class TokenCredential(Protocol):  # azure-identity's credentials have this shape
    def get_token(self, *scopes: str, **kwargs: Any) -> Any: ...


TokenProvider = TokenCredential | Callable[[], Any]


class _TokenCache:
    """Bearer tokens from an azure-identity credential (``get_token(scope)``) or a callable.

    A result with an expiry (an ``AccessToken``, or a ``(token, expires_on)`` pair) is reused until
    ``refresh_margin`` seconds before it expires; a bare string is asked for again on every request."""

    def __init__(self, provider: TokenProvider, scope: str, clock: Callable[[], float], refresh_margin: float):
        if hasattr(provider, "get_token"):
            self._fetch = lambda: provider.get_token(scope)  # type: ignore[union-attr]
        elif callable(provider):
            self._fetch = provider
        else:
            raise TypeError("token_provider must be an azure-identity credential or a callable returning a token")
        self._clock = clock
        self._margin = refresh_margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on: float | None = None

    def get(self) -> str:
        with self._lock:
            if self._token is not None and self._expires_on is not None and \
                    self._clock() < self._expires_on - self._margin:
                return self._token
            result = self._fetch()
            if isinstance(result, str):
                token, expires_on = result, None
            elif isinstance(result, tuple):
                token, expires_on = result[0], result[1]
            else:
                token, expires_on = result.token, getattr(result, "expires_on", None)
            if not token:
                raise DataverseRequestError("the token provider returned an empty token")
            self._token, self._expires_on = token, (float(expires_on) if expires_on is not None else None)
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None
            self._expires_on = None


# --- policy -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` bounds tries on 5xx/timeouts (the first included); 429s are bounded apart by
    ``max_throttle_retries``, and a ``Retry-After`` above ``max_retry_after`` is not waited out here
    (the call raises ``DataverseThrottled``; the queue retries the message later)."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_throttle_retries: int = 10
    max_retry_after: float = 300.0


def _guid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{value!r} is not a GUID; Dataverse record ids are GUIDs") from None


def _query(params: dict[str, str]) -> str:
    # OData system query options keep their '$' and punctuation; spaces and the rest are percent-encoded.
    return "&".join(f"{name}={quote(value, safe='$(),=;:/')}" for name, value in params.items())


def _datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _odata_moment(value: datetime) -> str:
    """A DateTimeOffset literal in UTC, rounded down to the second."""
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DataverseSales:
    """The ``SalesGateway`` port on Dataverse. Thread-safe: share one per process."""

    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider,
        *,
        session: requests.Session | None = None,
        scope: str | None = None,
        prospect_number_column: str = DEFAULT_PROSPECT_COLUMN,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy = RetryPolicy(),
        max_concurrency: int = 50,
        batch_size: int = 10,
        token_refresh_margin: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ):
        self._root = base_url.rstrip("/")
        self._api = self._root + API_PATH
        self._token = _TokenCache(token_provider, scope or f"{self._root}/.default", clock, token_refresh_margin)
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max_concurrency)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._prospect_column = prospect_number_column
        self._timeout_setting = timeout
        self.retry = retry
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._batch_size = max(1, min(batch_size, 1000))
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._lead_select = ",".join(["leadid", "statecode", "statuscode", "createdon", "modifiedon",
                                      "_qualifyingopportunityid_value", prospect_number_column])

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    # --- SalesGateway port -------------------------------------------------------------------
    def create_lead(self, draft: LeadDraft) -> LeadSnapshot:
        lead_id = _guid(draft.lead_id)
        response = self._send("POST", "leads", params={"$select": self._lead_select}, json_body=self.lead_body(draft),
                              headers={"Prefer": "return=representation"})
        return self._created(lead_id, response.status_code, response.text, response.url)

    def get_lead(self, lead_id: str) -> LeadSnapshot | None:
        response = self._send("GET", f"leads({_guid(lead_id)})", params={
            "$select": self._lead_select, "$expand": "qualifyingopportunityid($select=statecode,statuscode)"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            _raise_for(response, f"read lead {lead_id}")
        return self._snapshot(response.json())

    def get_opportunity_lead(self, opportunity_id: str) -> str | None:
        response = self._send("GET", f"opportunities({_guid(opportunity_id)})",
                              params={"$select": "_originatingleadid_value"})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            _raise_for(response, f"read opportunity {opportunity_id}")
        return response.json().get("_originatingleadid_value")

    def get_qualification(self, lead_id: str) -> Qualification | None:
        lead_id = _guid(lead_id)
        response = self._send("GET", "opportunities", params={
            "$select": "opportunityid,_parentaccountid_value,_parentcontactid_value",
            "$filter": f"_originatingleadid_value eq {lead_id}",
            "$orderby": "createdon asc",
            "$top": "1",
            "$expand": f"parentaccountid($select={_ACCOUNT_COLUMNS}),parentcontactid($select={_CONTACT_COLUMNS})",
        })
        if response.status_code != 200:
            _raise_for(response, f"read the opportunity of lead {lead_id}")
        rows = response.json().get("value", [])
        if not rows:
            return None
        opportunity = rows[0]
        account = opportunity.get("parentaccountid") or self._originating("accounts", _ACCOUNT_COLUMNS, lead_id)
        contact = opportunity.get("parentcontactid") or self._originating("contacts", _CONTACT_COLUMNS, lead_id)
        if account is None or contact is None:
            return None  # qualified without an account or contact (not our flow); nothing to onboard yet
        return Qualification(
            lead_id=lead_id,
            opportunity_id=opportunity["opportunityid"],
            account=SalesAccount(
                account_id=account["accountid"], name=account.get("name") or "", phone=account.get("telephone1"),
                street=account.get("address1_line1"), city=account.get("address1_city"),
                zip_code=account.get("address1_postalcode"), country=account.get("address1_country"),
            ),
            contact=SalesContact(
                contact_id=contact["contactid"], first_name=contact.get("firstname") or "",
                last_name=contact.get("lastname") or "", email=contact.get("emailaddress1"),
                phone=contact.get("telephone1"),
            ),
        )

    def decisions_since(self, since: datetime | None, limit: int) -> list[SalesDecision]:
        """Two queries, each ordered by ``modifiedon`` and cut at ``limit``: closed B2B leads, and closed
        opportunities whose originating lead is a B2B lead (a filter on the lookup's column). Merged and
        cut at ``limit`` again, the result is a complete prefix of both in ``modifiedon`` order.

        ``since`` is sent to the second, rounded down (Dataverse answers ``modifiedon`` in seconds): the
        window only widens, and a decision read twice is harmless to the caller."""
        top = str(max(1, min(limit, 5000)))  # 5000: the most rows Dataverse answers in one page
        after = f" and modifiedon gt {_odata_moment(since)}" if since is not None else ""
        column = self._prospect_column
        leads = self._rows("leads", "read decided B2B leads", {
            "$select": f"leadid,statecode,statuscode,modifiedon,_qualifyingopportunityid_value,{column}",
            "$filter": f"{column} ne null and statecode ne 0{after}",
            "$orderby": "modifiedon asc", "$top": top,
        })
        opportunities = self._rows("opportunities", "read closed opportunities of B2B leads", {
            "$select": "opportunityid,statecode,statuscode,modifiedon,_originatingleadid_value",
            "$filter": f"_originatingleadid_value ne null and originatingleadid/{column} ne null "
                       f"and statecode ne 0{after}",
            "$expand": f"originatingleadid($select={column})",
            "$orderby": "modifiedon asc", "$top": top,
        })
        decisions = []
        for row in leads:
            state = LeadState(row["statecode"])
            decisions.append(SalesDecision(
                kind="lead_qualified" if state is LeadState.QUALIFIED else "lead_disqualified",
                lead_id=row["leadid"], opportunity_id=row.get("_qualifyingopportunityid_value"),
                statuscode=row["statuscode"], modified_on=_datetime(row["modifiedon"]),
                prospect_number=row.get(column),
            ))
        for row in opportunities:
            state = OpportunityState(row["statecode"])
            decisions.append(SalesDecision(
                kind="opportunity_won" if state is OpportunityState.WON else "opportunity_lost",
                lead_id=row["_originatingleadid_value"], opportunity_id=row["opportunityid"],
                statuscode=row["statuscode"], modified_on=_datetime(row["modifiedon"]),
                prospect_number=(row.get("originatingleadid") or {}).get(column),
            ))
        decisions.sort(key=lambda d: (d.modified_on, d.kind, d.primary_id))
        return decisions[:limit]

    def _rows(self, entity_set: str, doing: str, params: dict[str, str]) -> list[dict]:
        response = self._send("GET", entity_set, params=params)
        if response.status_code != 200:
            _raise_for(response, doing)
        return response.json().get("value", [])

    def _originating(self, entity_set: str, columns: str, lead_id: str) -> dict | None:
        response = self._send("GET", entity_set, params={
            "$select": columns, "$filter": f"_originatingleadid_value eq {lead_id}", "$orderby": "createdon asc",
            "$top": "1"})
        if response.status_code != 200:
            _raise_for(response, f"read the {entity_set} of lead {lead_id}")
        rows = response.json().get("value", [])
        return rows[0] if rows else None

    # --- many leads at once --------------------------------------------------------------------
    def create_leads(self, drafts: Sequence[LeadDraft]) -> list[LeadResult]:
        """Create many leads through ``$batch`` (``batch_size`` per request, one changeset per lead,
        ``continue-on-error``): a lead that fails does not stop the others. Results come in draft order;
        a lead that exists already is read and returned, as ``create_lead`` does. A draft whose id is no
        GUID is refused without a request."""
        results: dict[int, LeadResult] = {}
        valid: list[tuple[int, LeadDraft]] = []
        for index, draft in enumerate(drafts):
            try:
                _guid(draft.lead_id)
                valid.append((index, draft))
            except ValueError as error:  # refused before any request; the others go on
                results[index] = LeadResult(draft.lead_id, error=DataverseRequestError(
                    f"not sent to Dataverse: {error}", status=400, body=str(error), method="POST",
                    url=self._api + "leads"))
        for start in range(0, len(valid), self._batch_size):
            chunk = valid[start:start + self._batch_size]
            for (index, _), result in zip(chunk, self._create_batch([draft for _, draft in chunk])):
                results[index] = result
        return [results[index] for index in range(len(drafts))]

    def _create_batch(self, drafts: list[LeadDraft]) -> list[LeadResult]:
        boundary = f"batch_{uuid.uuid4()}"
        parts = []
        for draft in drafts:
            changeset = f"changeset_{uuid.uuid4()}"
            request = "\r\n".join([
                f"POST {self._api}leads?{_query({'$select': self._lead_select})} HTTP/1.1",
                "Content-Type: application/json; charset=utf-8",
                "Prefer: return=representation",
                "",
                json.dumps(self.lead_body(draft)),
            ])
            parts.append("\r\n".join([
                f"--{boundary}", f"Content-Type: multipart/mixed; boundary={changeset}", "",
                f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                "Content-ID: 1", "", request, f"--{changeset}--", "",
            ]))
        body = "".join(parts) + f"--{boundary}--\r\n"
        response = self._send("POST", "$batch", data=body.encode("utf-8"), headers={
            "Content-Type": f'multipart/mixed; boundary="{boundary}"', "Prefer": "odata.continue-on-error"})
        if response.status_code != 200:
            _raise_for(response, f"create {len(drafts)} leads in a batch")
        answers = _batch_answers(response)
        results: list[LeadResult] = []
        for index, draft in enumerate(drafts):
            lead_id = _guid(draft.lead_id)
            status, text = answers[index] if index < len(answers) else (None, "")
            try:
                if status is None or status == 429 or status in RETRYABLE_STATUS:
                    snapshot = self.create_lead(draft)  # not done in the batch: on its own, with its retries
                else:
                    snapshot = self._created(lead_id, status, text, self._api + "leads")
                results.append(LeadResult(lead_id, snapshot=snapshot))
            except DataverseError as error:
                results.append(LeadResult(lead_id, error=error))
        return results

    # --- shaping -----------------------------------------------------------------------------
    def lead_body(self, draft: LeadDraft) -> dict:
        """The create body: the lead's columns (fitted to Dataverse's lengths), the prospect number and
        the timeline note by deep insert. A value cut to fit is kept whole in the note."""
        body: dict[str, Any] = {"leadid": _guid(draft.lead_id)}
        shortened: list[str] = []
        for column, attribute in _LEAD_FIELDS:
            value = getattr(draft, attribute)
            if value is None:
                continue
            limit = LEAD_COLUMN_LIMITS[column]
            if len(value) > limit:
                shortened.append(f"{column}: {value}")
                if column == "emailaddress1":
                    continue  # a cut address is a wrong address: leave it out, the note has it
                value = value[:limit]
            body[column] = value
        body[self._prospect_column] = draft.prospect_number
        note = draft.timeline_note
        if shortened:
            note += "\n\nValues shortened to fit the Sales columns (full values):\n" + "\n".join(shortened)
        body["Lead_Annotation"] = [{"subject": NOTE_SUBJECT, "notetext": note[:NOTE_TEXT_LIMIT]}]
        return body

    def _snapshot(self, row: dict) -> LeadSnapshot:
        opportunity = row.get("qualifyingopportunityid")  # expanded by get_lead; absent from a create's answer
        return LeadSnapshot(
            lead_id=row["leadid"],
            prospect_number=row.get(self._prospect_column),
            statecode=LeadState(row["statecode"]),
            statuscode=row["statuscode"],
            qualifying_opportunity_id=row.get("_qualifyingopportunityid_value"),
            opportunity_state=OpportunityState(opportunity["statecode"]) if opportunity else None,
            opportunity_statuscode=opportunity["statuscode"] if opportunity else None,
            created_on=_datetime(row["createdon"]),
            modified_on=_datetime(row["modifiedon"]),
        )

    def _created(self, lead_id: str, status: int, text: str, url: str) -> LeadSnapshot:
        """The lead after a create (POSTed to ``url``) answered ``status``: its representation, or (204,
        or 412 = it exists already) what a read finds."""
        if status in (200, 201):
            return self._snapshot(json.loads(text))
        if status in (204, 412):
            existing = self.get_lead(lead_id)
            if existing is not None:
                if status == 412:
                    log.info("lead exists already; returning it", extra={"lead_id": lead_id})
                return existing
        raise _refusal(status, text, f"create lead {lead_id}", method="POST", url=url)

    # --- HTTP with service protection ----------------------------------------------------------
    def _send(self, method: str, path: str, *, params: dict[str, str] | None = None, json_body: Any = None,
              data: bytes | None = None, headers: dict[str, str] | None = None) -> requests.Response:
        """Send until the answer is neither a 429, a 5xx, a timeout nor a first 401; return that answer.
        Under a caller's deadline, a wait it cannot hold raises instead (``_wait``)."""
        url = self._api + path + (f"?{_query(params)}" if params else "")
        failures = throttles = 0
        refreshed = False
        while True:
            self._check_deadline(method, url)
            try:
                response = self._once(method, url, json_body, data, headers)
            except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
                failures += 1
                if failures >= self.retry.max_attempts:
                    raise DataverseUnavailable(f"{method} {url} failed {failures} times; last: {error!r}",
                                               method=method, url=url) from error
                wait = self._backoff(failures)
                log.warning("Dataverse request failed; retrying",
                            extra={"method": method, "url": url, "error": type(error).__name__, "wait": wait})
                self._wait(wait, method, url, lambda: DataverseUnavailable(
                    f"{method} {url} failed ({type(error).__name__}); no time left to retry", method=method, url=url))
                continue
            status = response.status_code
            if status == 401 and not refreshed:
                refreshed = True
                self._token.invalidate()
                continue
            if status == 429:
                throttles += 1
                wait = self._retry_after(response)
                if wait is None:
                    wait = self._backoff(throttles)
                code, _message = _error_of(response.text)  # the message stays out of the text, as in _refusal

                def throttled(why: str) -> DataverseThrottled:
                    return DataverseThrottled(f"{method} {url} throttled (Retry-After {wait}s{why}): {code or 429}",
                                              retry_after=wait, status=429, code=code, body=response.text,
                                              method=method, url=url)

                if throttles > self.retry.max_throttle_retries or wait > self.retry.max_retry_after:
                    raise throttled("")
                log.warning("Dataverse service protection; waiting Retry-After",
                            extra={"method": method, "url": url, "wait": wait})
                self._wait(wait, method, url, lambda: throttled(", beyond the caller's deadline"))
                continue
            if status in RETRYABLE_STATUS:
                failures += 1
                code, _message = _error_of(response.text)
                if failures >= self.retry.max_attempts:
                    raise DataverseUnavailable(f"{method} {url} answered {status} {failures} times: {code or status}",
                                               status=status, code=code, body=response.text, method=method, url=url)
                wait = self._retry_after(response) or self._backoff(failures)
                log.warning("Dataverse server error; retrying",
                            extra={"method": method, "url": url, "status": status, "wait": wait})
                self._wait(wait, method, url, lambda: DataverseUnavailable(
                    f"{method} {url} answered {status}; no time left to retry: {code or status}", status=status,
                    code=code, body=response.text, method=method, url=url))
                continue
            return response

    def _wait(self, seconds: float, method: str, url: str, too_long: Callable[[], DataverseError]) -> None:
        """Sleep before a retry, unless the caller's deadline cannot hold it: then raise ``too_long()`` at
        once (sleeping out a 69 s ``Retry-After`` for a caller who stops listening after 60 s helps nobody)."""
        deadline = current_deadline()
        if deadline is not None and not deadline.allows(seconds):
            log.warning("Dataverse retry not waited: beyond the caller's deadline",
                        extra={"method": method, "url": url, "wait": seconds, "remaining": deadline.remaining()})
            raise too_long()
        self._sleep(seconds)

    @staticmethod
    def _check_deadline(method: str, url: str) -> None:
        deadline = current_deadline()
        if deadline is not None and deadline.expired:
            raise DataverseUnavailable(f"{method} {url} not sent: the caller's deadline is spent", method=method,
                                       url=url)

    def _timeout(self) -> float | tuple[float, float]:
        """The request timeout, cut to what is left of the caller's deadline."""
        deadline = current_deadline()
        if deadline is None:
            return self._timeout_setting
        left = max(0.001, deadline.remaining())
        if isinstance(self._timeout_setting, tuple):
            return tuple(min(part, left) for part in self._timeout_setting)  # type: ignore[return-value]
        return min(self._timeout_setting, left)

    def _once(self, method: str, url: str, json_body: Any, data: bytes | None,
              headers: dict[str, str] | None) -> requests.Response:
        token = self._token.get()
        all_headers = {
            "Authorization": f"Bearer {token}", "Accept": "application/json", "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
        }
        if method == "GET":
            all_headers["If-None-Match"] = "null"  # always the current record, never a cached 304
        if json_body is not None:
            all_headers["Content-Type"] = "application/json; charset=utf-8"
            data = json.dumps(json_body).encode("utf-8")
        all_headers.update(headers or {})
        with self._slots:  # held only while the request is on the wire, never while waiting to retry
            return self._session.request(method, url, data=data, headers=all_headers, timeout=self._timeout())

    def _backoff(self, failures: int) -> float:
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * 2 ** (failures - 1))
        return ceiling / 2 + ceiling / 2 * self._jitter()  # "equal jitter": at least half the ceiling

    def _retry_after(self, response: requests.Response) -> float | None:
        value = response.headers.get("Retry-After")
        if not value:
            return None
        value = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", value):
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - self._clock())
        except (TypeError, ValueError):
            return None


# --- $batch responses ---------------------------------------------------------------------------
def _split_head(text: str) -> tuple[dict[str, str], str]:
    if re.match(r"\r?\n", text):
        return {}, re.sub(r"^\r?\n", "", text)
    match = re.search(r"\r?\n\r?\n", text)
    head, rest = (text[: match.start()], text[match.end():]) if match else (text, "")
    headers = {}
    for line in re.split(r"\r?\n", head):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _parts(body: str, content_type: str) -> list[tuple[dict[str, str], str]]:
    match = re.search(r'boundary="?([^";]+)"?', content_type or "", re.IGNORECASE)
    if not match:
        raise DataverseError(f"a $batch answer without a multipart boundary: {content_type!r}", body=body)
    delimiter = "--" + match.group(1)
    inner = body.split(delimiter + "--", 1)[0]
    return [_split_head(re.sub(r"^\r?\n", "", part)) for part in inner.split(delimiter)[1:]]


def _http_answer(text: str) -> tuple[int, str]:
    status_line, _, rest = text.lstrip("\r\n").partition("\n")
    status = int(status_line.split(" ")[1])
    _, body = _split_head(rest)
    return status, body.strip()


def _batch_answers(response: requests.Response) -> list[tuple[int, str]]:
    """One (status, body) per batch item: a changeset answers with its (first) operation's answer when
    it succeeded, or with the error that rolled it back."""
    answers = []
    for headers, content in _parts(response.text, response.headers.get("Content-Type", "")):
        kind = headers.get("content-type", "")
        if kind.lower().startswith("multipart/mixed"):
            inner = _parts(content, kind)
            answers.append(_http_answer(inner[0][1]) if inner else (500, ""))
        else:
            answers.append(_http_answer(content))
    return answers
