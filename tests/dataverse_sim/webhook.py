"""Webhook deliveries from the simulator: its recorded ``store.events`` shaped as Dataverse's
``RemoteExecutionContext`` JSON (data contract serialization: ``{"key", "value"}`` lists, ``__type``
annotations, ``\\/Date(ms)\\/`` dates) with Dataverse's webhook headers, posted to a URL or handed to a
callable. Reads the simulator; changes nothing in it.

What each recorded event becomes (the SDK message a webhook step is registered on):

- ``QualifyLead`` (lead): InputParameters LeadId, CreateAccount/Contact/Opportunity, Status 3;
  OutputParameters CreatedEntities (references to the account, contact and opportunity).
- ``Update`` (lead, recorded when a lead is disqualified): Target with statecode 2 and its statuscode.
- ``WinOpportunity`` / ``LoseOpportunity`` → ``Win`` / ``Lose`` (opportunity): InputParameters
  OpportunityClose (an opportunityclose binding ``opportunityid``) and Status. Like Dataverse's, the
  context does not name the lead the opportunity came from.

Oversized deliveries, as Dataverse documents them ("Use webhooks to create external handlers for server
events", Request Body): when the whole payload exceeds 256 KB the request carries the header
``x-ms-dynamics-msg-size-exceeded`` and the context goes without ``ParentContext``, ``InputParameters``,
``PreEntityImages`` and ``PostEntityImages`` (``OutputParameters``, ``PrimaryEntityId`` and the rest stay).
The relay applies that rule to every delivery it shapes; ``parent_padding`` makes a context that large (a
``ParentContext`` whose ``SharedVariables`` carry that many bytes, as a plug-in's can).
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

import requests

from shared.domain.sales import LEAD_QUALIFIED_STATUS

CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
SDK_MESSAGE = {"WinOpportunity": "Win", "LoseOpportunity": "Lose"}
DEFAULT_MESSAGES = frozenset({"QualifyLead", "Update", "Win", "Lose"})
_DATE = re.compile(r'"/Date\((-?\d+)\)/"')
MAX_PAYLOAD_BYTES = 256 * 1024
SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"
REMOVED_WHEN_OVERSIZED = ("ParentContext", "InputParameters", "PreEntityImages", "PostEntityImages")


def reference(logical_name: str, record_id: str) -> dict:
    return {"__type": f"EntityReference:{CONTRACTS}", "Id": record_id, "KeyAttributes": [],
            "LogicalName": logical_name, "Name": None, "RowVersion": None}


def option(value: int) -> dict:
    return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": value}


def entity(logical_name: str, record_id: str | None, attributes: dict[str, Any]) -> dict:
    return {"__type": f"Entity:{CONTRACTS}", "Attributes": [{"key": k, "value": v} for k, v in attributes.items()],
            "EntityState": None, "FormattedValues": [], "Id": record_id or "00000000-0000-0000-0000-000000000000",
            "KeyAttributes": [], "LogicalName": logical_name, "RelatedEntities": [], "RowVersion": None}


def dotnet_date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


def to_json(context: dict) -> bytes:
    """As the .NET serializer writes it: ``"\\/Date(ms)\\/"``."""
    return _DATE.sub(r'"\\/Date(\1)\\/"', json.dumps(context)).encode("utf-8")


def remote_execution_context(event: dict, rows: dict[str, dict[str, dict]], *, organization_id: str,
                             organization_name: str, created_on: datetime) -> dict:
    """The context of one recorded event. ``rows`` is the simulator's ``store.rows`` (for the ids of the
    records QualifyLead created)."""
    message = SDK_MESSAGE.get(event["MessageName"], event["MessageName"])
    entity_name, record_id = event["PrimaryEntityName"], event["PrimaryEntityId"]
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    if message == "QualifyLead":
        lead = rows.get("leads", {}).get(record_id) or {}
        inputs = {"LeadId": reference("lead", record_id), "CreateAccount": True, "CreateContact": True,
                  "CreateOpportunity": True, "Status": option(LEAD_QUALIFIED_STATUS),
                  "SuppressDuplicateDetection": False}
        created = [reference(logical, lead[column]) for logical, column in
                   (("account", "_parentaccountid_value"), ("contact", "_parentcontactid_value")) if lead.get(column)]
        if event.get("opportunityid"):
            created.append(reference("opportunity", event["opportunityid"]))
        outputs = {"CreatedEntities": created}
    elif message == "Update":
        attributes: dict[str, Any] = {f"{entity_name}id": record_id}
        for column in ("statecode", "statuscode"):
            if column in event:
                attributes[column] = option(event[column])
        inputs = {"Target": entity(entity_name, record_id, attributes)}
    elif message in ("Win", "Lose"):
        inputs = {"OpportunityClose": entity("opportunityclose", None, {
                      "opportunityid": reference("opportunity", record_id), "subject": f"Closed ({message})"}),
                  "Status": option(event["statuscode"])}
    elif message == "Create":
        inputs = {"Target": entity(entity_name, record_id, {f"{entity_name}id": record_id})}
        outputs = {"id": record_id}
    return {
        "BusinessUnitId": str(uuid.UUID(int=1)), "CorrelationId": str(uuid.uuid4()), "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": str(uuid.uuid4()),
        "InitiatingUserId": event.get("InitiatingUserId"),
        "InputParameters": [{"key": k, "value": v} for k, v in inputs.items()],
        "IsExecutingOffline": False, "IsInTransaction": False, "IsOfflinePlayback": False, "IsolationMode": 2,
        "MessageName": message, "Mode": 1, "OperationCreatedOn": dotnet_date(created_on),
        "OperationId": str(uuid.uuid4()), "OrganizationId": organization_id, "OrganizationName": organization_name,
        "OutputParameters": [{"key": k, "value": v} for k, v in outputs.items()],
        "OwningExtension": reference("sdkmessageprocessingstep", str(uuid.uuid4())),
        "ParentContext": None, "PostEntityImages": [], "PreEntityImages": [],
        "PrimaryEntityId": record_id, "PrimaryEntityName": entity_name, "RequestId": str(uuid.uuid4()),
        "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 40,
        "UserAzureActiveDirectoryObjectId": str(uuid.uuid4()), "UserId": event.get("InitiatingUserId"),
    }


def parent_context(context: dict, padding: int) -> dict:
    """The pipeline's outer context of ``context`` (same operation, depth and ids), its SharedVariables carrying
    ``padding`` bytes."""
    parent = {key: value for key, value in context.items() if key not in ("ParentContext", "Stage")}
    parent.update({"ParentContext": None, "Stage": 30, "PostEntityImages": [], "PreEntityImages": [],
                   "SharedVariables": [{"key": "padding", "value": "x" * padding}]})
    return parent


def as_delivered(context: dict, headers: dict[str, str], max_bytes: int = MAX_PAYLOAD_BYTES) -> tuple[bytes, dict]:
    """The body and headers Dataverse sends for ``context``: trimmed, with the header, when it is too large."""
    body = to_json(context)
    if len(body) <= max_bytes:
        return body, headers
    trimmed = {key: value for key, value in context.items() if key not in REMOVED_WHEN_OVERSIZED}
    return to_json(trimmed), {**headers, SIZE_EXCEEDED_HEADER: "true"}


class WebhookRelay:
    """Delivers the simulator's events as a registered webhook would: each new event once, in order, with
    the messages of ``messages`` only (the steps registered). ``delivered`` keeps every (body, headers)
    so a test can replay one, as Dataverse does when it retries."""

    def __init__(self, simulator, *, organization_name: str = "simulator", messages: Iterable[str] = DEFAULT_MESSAGES,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), parent_padding: int = 0,
                 max_bytes: int = MAX_PAYLOAD_BYTES):
        self._simulator = simulator
        self.parent_padding = parent_padding
        self._max_bytes = max_bytes
        self._organization_name = organization_name
        self._organization_id = str(uuid.uuid4())
        self._messages = frozenset(messages)
        self._now = now
        self._next = 0
        self.delivered: list[tuple[bytes, dict[str, str]]] = []

    def pending(self) -> list[tuple[bytes, dict[str, str]]]:
        """The events recorded since the last call, as (body, headers), shaped once."""
        store = self._simulator.store
        with store.lock:
            events, rows = list(store.events[self._next:]), store.rows
            self._next += len(events)
            shaped = []
            for event in events:
                if SDK_MESSAGE.get(event["MessageName"], event["MessageName"]) not in self._messages:
                    continue
                context = remote_execution_context(event, rows, organization_id=self._organization_id,
                                                   organization_name=self._organization_name, created_on=self._now())
                if self.parent_padding:
                    context["ParentContext"] = parent_context(context, self.parent_padding)
                headers = {"Content-Type": "application/json", "x-ms-dynamics-organization": self._organization_name,
                           "x-ms-dynamics-request-name": context["MessageName"],
                           "x-ms-dynamics-entity-name": context["PrimaryEntityName"],
                           "x-ms-correlation-request-id": str(uuid.uuid4())}
                shaped.append(as_delivered(context, headers, self._max_bytes))
        return shaped

    def deliver(self, send: Callable[[bytes, dict[str, str]], Any]) -> list[Any]:
        """Hand each pending delivery to ``send(body, headers)``; returns what it returned."""
        answers = []
        for body, headers in self.pending():
            self.delivered.append((body, headers))
            answers.append(send(body, headers))
        return answers

    def post(self, url: str, *, key: str | None = None, session: requests.Session | None = None,
             timeout: float = 10.0) -> list[requests.Response]:
        """POST each pending delivery to ``url`` (WebhookKey authentication: the key as ``?code=``)."""
        http = session or requests.Session()
        params = {"code": key} if key else None
        return self.deliver(lambda body, headers: http.post(url, data=body, headers=headers, params=params,
                                                            timeout=timeout))
