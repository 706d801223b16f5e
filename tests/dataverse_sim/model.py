"""The tables the simulator keeps (lead, annotation, account, contact, opportunity, opportunityclose,
systemuser) and the Sales messages that change them: Create (with deep insert), Update, QualifyLead,
WinOpportunity, LoseOpportunity.

Only columns named here exist: writing or selecting any other one is a 400, as it is in Dataverse.
String columns carry Dataverse's default maximum lengths and refuse longer values.
"""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

from tests.dataverse_sim.odata import (
    DUPLICATE_KEY,
    INVALID_ARGUMENT,
    INVALID_PROPERTY,
    NOT_FOUND,
    VALIDATION,
    ODataError,
    parse_guid,
)

LEAD_STATUS = {0: {1, 2}, 1: {3}, 2: {4, 5, 6, 7}}  # statecode -> its statuscodes
OPPORTUNITY_STATUS = {0: {1, 2}, 1: {3}, 2: {4, 5}}


@dataclass(frozen=True)
class Table:
    entity_set: str
    logical: str
    key: str
    strings: dict[str, int]  # writable string columns and their maximum lengths
    others: frozenset[str] = frozenset()  # other readable columns (system, numbers, state)
    lookups: dict[str, str] = field(default_factory=dict)  # single-valued navigation -> target entity set
    collections: dict[str, tuple[str, str]] = field(default_factory=dict)  # navigation -> (entity set, lookup)

    def columns(self) -> set[str]:
        return {self.key, *self.strings, *self.others, *(f"_{nav}_value" for nav in self.lookups)}


_SYSTEM = frozenset({"createdon", "modifiedon", "versionnumber"})
_ADDRESS = {"address1_line1": 250, "address1_city": 80, "address1_postalcode": 20, "address1_country": 80}


def tables(prospect_column: str) -> dict[str, Table]:
    lead = Table(
        "leads", "lead", "leadid",
        strings={"subject": 300, "firstname": 50, "lastname": 50, "companyname": 100, "emailaddress1": 100,
                 "telephone1": 50, "jobtitle": 100, "mobilephone": 20, "websiteurl": 200, "description": 2000,
                 **_ADDRESS, prospect_column: 100},
        others=_SYSTEM | {"statecode", "statuscode", "fullname"},
        lookups={"ownerid": "systemusers", "qualifyingopportunityid": "opportunities",
                 "parentaccountid": "accounts", "parentcontactid": "contacts"},
        collections={"Lead_Annotation": ("annotations", "objectid")},
    )
    annotation = Table("annotations", "annotation", "annotationid", strings={"subject": 500, "notetext": 100_000},
                       others=_SYSTEM | {"objecttypecode"}, lookups={"objectid": "leads", "ownerid": "systemusers"})
    account = Table("accounts", "account", "accountid",
                    strings={"name": 160, "telephone1": 50, "emailaddress1": 100, **_ADDRESS},
                    others=_SYSTEM | {"statecode", "statuscode"},
                    lookups={"originatingleadid": "leads", "primarycontactid": "contacts", "ownerid": "systemusers"})
    contact = Table("contacts", "contact", "contactid",
                    strings={"firstname": 50, "lastname": 50, "emailaddress1": 100, "telephone1": 50, **_ADDRESS},
                    others=_SYSTEM | {"statecode", "statuscode", "fullname"},
                    lookups={"originatingleadid": "leads", "parentcustomerid": "accounts", "ownerid": "systemusers"})
    opportunity = Table("opportunities", "opportunity", "opportunityid", strings={"name": 300, "description": 2000},
                        others=_SYSTEM | {"statecode", "statuscode"},
                        lookups={"originatingleadid": "leads", "parentaccountid": "accounts",
                                 "parentcontactid": "contacts", "customerid": "accounts", "ownerid": "systemusers"})
    close = Table("opportunitycloses", "opportunityclose", "activityid", strings={"subject": 200, "description": 2000},
                  others=_SYSTEM | {"statecode", "statuscode"}, lookups={"opportunityid": "opportunities"})
    user = Table("systemusers", "systemuser", "systemuserid", strings={"fullname": 200}, others=_SYSTEM)
    return {t.entity_set: t for t in (lead, annotation, account, contact, opportunity, close, user)}


def _matches(actual: object, operator: str, expected: object) -> bool:
    """One $filter condition, as Dataverse evaluates it: null equals only null and orders with nothing;
    a DateTimeOffset literal compares with the column's moment."""
    if isinstance(expected, datetime) and isinstance(actual, str):
        moment = datetime.fromisoformat(actual.replace("Z", "+00:00"))
        actual = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    if operator == "eq":
        return actual == expected
    if operator == "ne":
        return actual != expected
    if actual is None:
        return False
    try:
        return {"gt": actual > expected, "ge": actual >= expected, "lt": actual < expected,
                "le": actual <= expected}[operator]
    except TypeError:
        raise ODataError(400, INVALID_ARGUMENT, f"'{operator}' cannot compare {actual!r} with {expected!r}.") from None


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """All records, keyed by entity set then id. One lock; a changeset runs under it and rolls back."""

    def __init__(self, prospect_column: str, now: Callable[[], datetime]):
        self.prospect_column = prospect_column
        self.tables = tables(prospect_column)
        self.rows: dict[str, dict[str, dict]] = {name: {} for name in self.tables}
        self.events: list[dict] = []  # what a webhook registration would see (message, entity, id)
        # A synchronous plug-in on lead Create that refuses these lead ids: id → (status, code, message).
        self.lead_create_errors: dict[str, tuple[int, str, str]] = {}
        self.lock = threading.RLock()
        self._now = now
        self._version = 1_000_000
        self._depth = 0

    # --- plumbing --------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            if self._depth:  # inside a changeset already: the outermost snapshot rolls everything back
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            # One copy per row, not a deep copy of the store: rows hold scalars, and copying all of it
            # on every write made N creates cost N² (quadratic benchmarks, slow tests).
            saved = ({name: {key: dict(row) for key, row in table.items()} for name, table in self.rows.items()},
                     list(self.events), self._version)
            self._depth = 1
            try:
                yield
            except BaseException:
                self.rows, self.events, self._version = saved
                raise
            finally:
                self._depth = 0

    def table(self, entity_set: str) -> Table:
        try:
            return self.tables[entity_set]
        except KeyError:
            raise ODataError(404, INVALID_ARGUMENT, f"Resource not found for the segment '{entity_set}'.") from None

    def _stamp(self, row: dict, created: bool) -> None:
        self._version += 1
        now = _timestamp(self._now())
        if created:
            row["createdon"] = now
        row["modifiedon"] = now
        row["versionnumber"] = self._version

    def _event(self, message: str, entity: str, record_id: str, user: dict, **extra) -> None:
        self.events.append({"MessageName": message, "PrimaryEntityName": entity, "PrimaryEntityId": record_id,
                            "InitiatingUserId": user["systemuserid"], **extra})

    def get(self, entity_set: str, record_id: str) -> dict | None:
        with self.lock:
            row = self.rows[self.table(entity_set).entity_set].get(parse_guid(record_id))
            return None if row is None else dict(row)

    def require(self, entity_set: str, record_id: str) -> dict:
        row = self.get(entity_set, record_id)
        if row is None:
            table = self.table(entity_set)
            raise ODataError(404, NOT_FOUND, f"{table.logical} With Id = {parse_guid(record_id)} Does Not Exist")
        return row

    def select(self, entity_set: str, filters: list[tuple]) -> list[dict]:
        """Rows matching every filter: ``(column, value)`` (eq) or ``(column, value, operator)``; a column
        ``navigation/column`` is the column of the record a lookup points to (null when it points nowhere)."""
        table = self.table(entity_set)
        conditions = []
        for column, value, *rest in filters:
            operator = rest[0] if rest else "eq"
            navigation, _, inner = column.rpartition("/")
            if navigation:
                if navigation not in table.lookups:
                    raise ODataError(400, INVALID_PROPERTY, f"Could not find a navigation property named "
                                     f"'{navigation}' on type 'Microsoft.Dynamics.CRM.{table.logical}'.")
                target = self.tables[table.lookups[navigation]]
                owner, column = target, inner
            else:
                owner = table
            if column not in owner.columns():
                raise ODataError(400, INVALID_PROPERTY, f"Could not find a property named '{column}' on type "
                                 f"'Microsoft.Dynamics.CRM.{owner.logical}'.")
            if operator in ("gt", "ge", "lt", "le") and value is None:
                raise ODataError(400, INVALID_ARGUMENT, f"'{operator}' cannot compare with null.")
            conditions.append((navigation, column, operator, value))
        with self.lock:
            return [dict(row) for row in self.rows[entity_set].values()
                    if all(_matches(self._value(table, row, navigation, column), operator, value)
                           for navigation, column, operator, value in conditions)]

    def _value(self, table: Table, row: dict, navigation: str, column: str) -> object:
        if not navigation:
            return row.get(column)
        target_id = row.get(f"_{navigation}_value")
        target = self.rows[table.lookups[navigation]].get(target_id) if target_id else None
        return None if target is None else target.get(column)

    def add_user(self, name: str) -> dict:
        with self.lock:
            for row in self.rows["systemusers"].values():
                if row["fullname"] == name:
                    return dict(row)
            row = {"systemuserid": str(uuid.uuid4()), "fullname": name}
            self._stamp(row, created=True)
            self.rows["systemusers"][row["systemuserid"]] = row
            return dict(row)

    # --- writing columns ---------------------------------------------------------------------
    def _columns(self, table: Table, body: dict, *, allow_state: bool) -> tuple[dict, dict]:
        """Split a request body into column values and deep-insert collections; refuse what Dataverse refuses."""
        values: dict = {}
        nested: dict = {}
        for name, value in body.items():
            if name.startswith("@odata."):
                continue
            if name.endswith("@odata.bind"):
                nav = name[: -len("@odata.bind")]
                target = table.lookups.get(nav)
                if target is None:
                    raise ODataError(400, INVALID_PROPERTY, f"An undeclared property '{nav}' which only has property "
                                     "annotations in the payload but no property value was found in the payload.")
                bound_set, _, key = str(value).lstrip("/").partition("(")
                if bound_set != target:
                    raise ODataError(400, INVALID_ARGUMENT, f"'{value}' does not name a record of '{target}'.")
                values[f"_{nav}_value"] = self.require(target, key.rstrip(")"))[self.tables[target].key]
            elif name in table.collections:
                if not isinstance(value, list):
                    raise ODataError(400, INVALID_ARGUMENT, f"'{name}' must be an array for a deep insert.")
                nested[name] = value
            elif name in table.strings:
                if value is not None and not isinstance(value, str):
                    raise ODataError(400, INVALID_ARGUMENT,
                                     f"Cannot convert the literal '{value}' to the expected type 'Edm.String'.")
                limit = table.strings[name]
                if value is not None and len(value) > limit:
                    raise ODataError(400, VALIDATION, f"A validation error occurred.  The length of the '{name}' attribute "
                                     f"of the '{table.logical}' entity exceeded the maximum allowed length of '{limit}'.")
                values[name] = value
            elif name == table.key:
                values[name] = parse_guid(str(value))
            elif allow_state and name in ("statecode", "statuscode"):
                if not isinstance(value, int):
                    raise ODataError(400, INVALID_ARGUMENT, f"'{name}' must be an integer.")
                values[name] = value
            else:
                raise ODataError(400, INVALID_PROPERTY, f"Invalid property '{name}' was found in entity "
                                 f"'Microsoft.Dynamics.CRM.{table.logical}'.")
        return values, nested

    # --- leads -------------------------------------------------------------------------------
    def create_lead(self, body: dict, user: dict) -> dict:
        table = self.tables["leads"]
        if "statecode" in body or "statuscode" in body:
            raise ODataError(400, INVALID_ARGUMENT, "statecode and statuscode cannot be set when a lead is created.")
        values, nested = self._columns(table, body, allow_state=False)
        with self.transaction():
            lead_id = values.pop("leadid", None) or str(uuid.uuid4())
            if lead_id in self.rows["leads"]:
                raise ODataError(412, DUPLICATE_KEY, "A record with matching key values already exists.")
            if lead_id in self.lead_create_errors:
                raise ODataError(*self.lead_create_errors[lead_id])
            row = self._new_lead(lead_id, values, user)
            for navigation, records in nested.items():
                target_set, lookup = table.collections[navigation]
                for record in records:
                    self._create_child(target_set, lookup, lead_id, record, user)
            self._event("Create", "lead", lead_id, user)
            return dict(row)

    def _new_lead(self, lead_id: str, values: dict, user: dict) -> dict:
        row = {column: None for column in self.tables["leads"].strings}
        row.update(values)
        row.update(leadid=lead_id, statecode=0, statuscode=1, _ownerid_value=user["systemuserid"],
                   _qualifyingopportunityid_value=None, _parentaccountid_value=None, _parentcontactid_value=None)
        row["fullname"] = " ".join(part for part in (row.get("firstname"), row.get("lastname")) if part) or None
        row.setdefault("_ownerid_value", user["systemuserid"])
        self._stamp(row, created=True)
        self.rows["leads"][lead_id] = row
        return row

    def _create_child(self, entity_set: str, lookup: str, parent_id: str, body: dict, user: dict) -> dict:
        table = self.tables[entity_set]
        values, nested = self._columns(table, body, allow_state=False)
        if nested:
            raise ODataError(400, INVALID_ARGUMENT, "The simulator supports one level of deep insert.")
        record_id = values.pop(table.key, None) or str(uuid.uuid4())
        if record_id in self.rows[entity_set]:
            raise ODataError(412, DUPLICATE_KEY, "A record with matching key values already exists.")
        row = {column: None for column in table.strings}
        row.update(values)
        row.update({table.key: record_id, f"_{lookup}_value": parent_id, "_ownerid_value": user["systemuserid"]})
        if entity_set == "annotations":
            row["objecttypecode"] = "lead"
        self._stamp(row, created=True)
        self.rows[entity_set][record_id] = row
        return row

    def upsert_lead(self, lead_id: str, body: dict, user: dict, *, if_match: str | None,
                    if_none_match: str | None) -> tuple[dict, bool]:
        """PATCH leads(id): an upsert; ``If-Match: *`` forbids the create, ``If-None-Match: *`` the update."""
        lead_id = parse_guid(lead_id)
        table = self.tables["leads"]
        values, nested = self._columns(table, body, allow_state=True)
        if nested:
            raise ODataError(400, INVALID_ARGUMENT, "Deep insert is only supported on create (POST).")
        values.pop("leadid", None)
        with self.transaction():
            row = self.rows["leads"].get(lead_id)
            if row is None:
                if if_match == "*":
                    raise ODataError(404, NOT_FOUND, f"lead With Id = {lead_id} Does Not Exist")
                if "statecode" in values or "statuscode" in values:
                    raise ODataError(400, INVALID_ARGUMENT,
                                     "statecode and statuscode cannot be set when a lead is created.")
                row = self._new_lead(lead_id, values, user)
                self._event("Create", "lead", lead_id, user)
                return dict(row), True
            if if_none_match == "*":
                raise ODataError(412, "", "A record with matching key values already exists.")
            if if_match not in (None, "*") and if_match != f'W/"{row["versionnumber"]}"':
                raise ODataError(412, "",
                                 "The version of the existing record doesn't match the RowVersion property provided.")
            state = values.pop("statecode", None)
            status = values.pop("statuscode", None)
            if values and row["statecode"] != 0:
                raise ODataError(400, INVALID_ARGUMENT,
                                 "This lead is closed (qualified or disqualified) and cannot be edited.")
            row.update(values)
            if state is not None or status is not None:
                self._set_state(row, LEAD_STATUS, state, status, "lead")
                if row["statecode"] == 2:
                    self._event("Update", "lead", lead_id, user, statecode=2, statuscode=row["statuscode"])
            self._stamp(row, created=False)
            return dict(row), False

    @staticmethod
    def _set_state(row: dict, allowed: dict[int, set[int]], state: int | None, status: int | None, logical: str) -> None:
        state = row["statecode"] if state is None else state
        if state not in allowed:
            raise ODataError(400, INVALID_ARGUMENT, f"{state} is not a valid statecode of {logical}.")
        if status is None:
            status = min(allowed[state])
        if status not in allowed[state]:
            raise ODataError(400, INVALID_ARGUMENT, f"{status} is not a valid status code for state code "
                             f"{logical}State.{state} on {logical}.")
        row["statecode"], row["statuscode"] = state, status

    def qualify_lead(self, lead_id: str, parameters: dict, user: dict) -> list[tuple[str, dict]]:
        lead_id = parse_guid(lead_id)
        for name in ("CreateAccount", "CreateContact", "CreateOpportunity", "Status"):
            if name not in parameters:
                raise ODataError(400, INVALID_ARGUMENT, f"Required parameter '{name}' is missing for QualifyLead.")
        unknown = set(parameters) - {"CreateAccount", "CreateContact", "CreateOpportunity", "Status",
                                     "OpportunityCurrencyId", "OpportunityCustomerId", "SourceCampaignId",
                                     "ProcessInstanceId", "SuppressDuplicateDetection"}
        if unknown:
            raise ODataError(400, INVALID_ARGUMENT, f"Unknown QualifyLead parameters: {sorted(unknown)}")
        if parameters["Status"] not in LEAD_STATUS[1]:
            raise ODataError(400, INVALID_ARGUMENT, f"{parameters['Status']} is not a valid status code for state "
                             "code LeadState.Qualified on lead.")
        with self.transaction():
            lead = self.rows["leads"].get(lead_id)
            if lead is None:
                raise ODataError(404, NOT_FOUND, f"lead With Id = {lead_id} Does Not Exist")
            if lead["statecode"] != 0:
                raise ODataError(400, INVALID_ARGUMENT,
                                 "The lead is closed. You cannot convert or qualify a lead that is already closed.")
            created: list[tuple[str, dict]] = []
            account = contact = None
            if parameters["CreateAccount"]:
                account = self._insert("accounts", {
                    "name": lead.get("companyname"), "telephone1": lead.get("telephone1"),
                    "emailaddress1": lead.get("emailaddress1"),
                    **{column: lead.get(column) for column in _ADDRESS},
                    "statecode": 0, "statuscode": 1, "_originatingleadid_value": lead_id,
                    "_primarycontactid_value": None, "_ownerid_value": user["systemuserid"]})
                created.append(("accounts", account))
            if parameters["CreateContact"]:
                contact = self._insert("contacts", {
                    "firstname": lead.get("firstname"), "lastname": lead.get("lastname"), "fullname": lead.get("fullname"),
                    "emailaddress1": lead.get("emailaddress1"), "telephone1": lead.get("telephone1"),
                    **{column: lead.get(column) for column in _ADDRESS},
                    "statecode": 0, "statuscode": 1, "_originatingleadid_value": lead_id,
                    "_parentcustomerid_value": account["accountid"] if account else None,
                    "_ownerid_value": user["systemuserid"]})
                created.append(("contacts", contact))
                if account is not None:
                    account["_primarycontactid_value"] = contact["contactid"]
            opportunity_id = None
            if parameters["CreateOpportunity"]:
                opportunity = self._insert("opportunities", {
                    "name": lead.get("subject"), "description": lead.get("description"), "statecode": 0, "statuscode": 1,
                    "_originatingleadid_value": lead_id,
                    "_parentaccountid_value": account["accountid"] if account else None,
                    "_parentcontactid_value": contact["contactid"] if contact else None,
                    "_customerid_value": account["accountid"] if account else None,
                    "_ownerid_value": user["systemuserid"]})
                opportunity_id = opportunity["opportunityid"]
                created.append(("opportunities", opportunity))
            lead.update(statecode=1, statuscode=parameters["Status"], _qualifyingopportunityid_value=opportunity_id,
                        _parentaccountid_value=account["accountid"] if account else None,
                        _parentcontactid_value=contact["contactid"] if contact else None)
            self._stamp(lead, created=False)
            self._event("QualifyLead", "lead", lead_id, user, opportunityid=opportunity_id)
            return [(entity_set, dict(row)) for entity_set, row in created]

    def _insert(self, entity_set: str, values: dict) -> dict:
        table = self.tables[entity_set]
        row = {table.key: str(uuid.uuid4()), **values}
        self._stamp(row, created=True)
        self.rows[entity_set][row[table.key]] = row
        return row

    def close_opportunity(self, parameters: dict, won: bool, user: dict) -> None:
        """WinOpportunity / LoseOpportunity: ``{"Status": n, "OpportunityClose": {..., "opportunityid@odata.bind"}}``."""
        action = "WinOpportunity" if won else "LoseOpportunity"
        close = parameters.get("OpportunityClose")
        if not isinstance(close, dict) or "Status" not in parameters:
            raise ODataError(400, INVALID_ARGUMENT, f"{action} needs the parameters OpportunityClose and Status.")
        bind = close.get("opportunityid@odata.bind")
        if not bind:
            raise ODataError(400, INVALID_ARGUMENT,
                             "OpportunityClose must bind opportunityid (opportunityid@odata.bind).")
        target, _, key = str(bind).lstrip("/").partition("(")
        if target != "opportunities":
            raise ODataError(400, INVALID_ARGUMENT, f"'{bind}' does not name an opportunity.")
        opportunity_id = parse_guid(key.rstrip(")"))
        state = 1 if won else 2
        with self.transaction():
            opportunity = self.rows["opportunities"].get(opportunity_id)
            if opportunity is None:
                raise ODataError(404, NOT_FOUND, f"opportunity With Id = {opportunity_id} Does Not Exist")
            if opportunity["statecode"] != 0:
                raise ODataError(400, INVALID_ARGUMENT, "The opportunity is already closed.")
            self._set_state(opportunity, OPPORTUNITY_STATUS, state, parameters["Status"], "opportunity")
            self._stamp(opportunity, created=False)
            values, _ = self._columns(self.tables["opportunitycloses"],
                                      {k: v for k, v in close.items() if k != "opportunityid@odata.bind"},
                                      allow_state=False)
            self._insert("opportunitycloses", {**values, "_opportunityid_value": opportunity_id,
                                               "statecode": 1, "statuscode": 2})
            self._event(action, "opportunity", opportunity_id, user, statuscode=parameters["Status"],
                        originatingleadid=opportunity["_originatingleadid_value"])
