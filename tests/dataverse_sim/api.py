"""The Web API operations on the store: what each URL and method does, and how answers are shaped."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.dataverse_sim.batch import BatchItem, InnerRequest, changeset_part, http_part, multipart, parse_batch
from tests.dataverse_sim.model import Store
from tests.dataverse_sim.odata import INVALID_ARGUMENT, INVALID_PROPERTY, ODataError, json_bytes, parse_query

API_PATH = "/api/data/v9.2/"


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def error_answer(error: ODataError) -> Answer:
    return Answer(error.status, {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0",
                                 **error.headers}, json_bytes(error.body()))


def _json_answer(status: int, value: object, **headers: str) -> Answer:
    return Answer(status, {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0", **headers},
                  json_bytes(value))


_KEYED = re.compile(r"^(?P<set>\w+)\((?P<key>[^)]*)\)(?:/(?P<nav>[\w.]+))?$")


def count_operations(items: list[BatchItem]) -> int:
    return sum(len(item.changeset) if item.request is None else 1 for item in items)


class WebApi:
    def __init__(self, store: Store, root_url: str):
        self.store = store
        self.root_url = root_url  # http://127.0.0.1:port

    @property
    def base(self) -> str:
        return self.root_url + API_PATH

    # --- shaping records -------------------------------------------------------------------
    def _etag(self, row: dict) -> str:
        return f'W/"{row["versionnumber"]}"'

    def check_select(self, entity_set: str, select: list[str] | None, expand=()) -> None:
        table = self.store.table(entity_set)
        unknown = [name for name in select or () if name not in table.columns()]  # a lookup is _name_value here
        unknown += [e.navigation for e in expand if e.navigation not in table.lookups | table.collections.keys()]
        if unknown:
            raise ODataError(400, INVALID_PROPERTY, f"Could not find a property named '{unknown[0]}' on type "
                             f"'Microsoft.Dynamics.CRM.{table.logical}'.")
        for expansion in expand:
            target = table.lookups.get(expansion.navigation) or table.collections[expansion.navigation][0]
            self.check_select(target, expansion.select)

    def represent(self, entity_set: str, row: dict, select: list[str] | None, expand=()) -> dict:
        table = self.store.table(entity_set)
        columns = table.columns()
        self.check_select(entity_set, select, expand)
        if select is not None:
            wanted = [*select, table.key]
        else:
            wanted = sorted(columns)
        value = {"@odata.etag": self._etag(row)}
        value.update({column: row.get(column) for column in wanted})
        for expansion in expand:
            nav = expansion.navigation
            if nav in table.lookups:
                target = table.lookups[nav]
                related = row.get(f"_{nav}_value")
                found = self.store.get(target, related) if related else None
                value[nav] = None if found is None else self.represent(target, found, expansion.select)
            elif nav in table.collections:
                target, lookup = table.collections[nav]
                children = self.store.select(target, [(f"_{lookup}_value", row[table.key])])
                value[nav] = [self.represent(target, child, expansion.select) for child in children]
            else:
                raise ODataError(400, INVALID_PROPERTY, f"Could not find a property named '{nav}' on type "
                                 f"'Microsoft.Dynamics.CRM.{table.logical}'.")
        return value

    def _context(self, entity_set: str, select: list[str] | None, single: bool) -> str:
        columns = f"({','.join(select)})" if select else ""
        return f"{self.base}$metadata#{entity_set}{columns}" + ("/$entity" if single else "")

    # --- dispatch ----------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, user: dict) -> Answer:
        """One operation (also each operation inside a $batch). ``target`` is the path and query after the API root."""
        try:
            return self._dispatch(method, target, {k.lower(): v for k, v in headers.items()}, body, user)
        except ODataError as error:
            return error_answer(error)

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes, user: dict) -> Answer:
        path, _, query_string = target.partition("?")
        path = unquote(path)
        options = dict(parse_qsl(query_string, keep_blank_values=True))
        if path == "$batch" and method == "POST":
            return self._batch(headers, body, user)
        query = parse_query(options)
        payload = self._json(body) if method in ("POST", "PATCH") else None
        prefer = headers.get("prefer", "")
        if path == "WhoAmI" and method == "GET":
            return _json_answer(200, {"@odata.context": f"{self.base}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                                      "UserId": user["systemuserid"]})
        if path in ("WinOpportunity", "LoseOpportunity") and method == "POST":
            self.store.close_opportunity(payload, path == "WinOpportunity", user)
            return Answer(204, {"OData-Version": "4.0"})
        keyed = _KEYED.match(path)
        if keyed:
            entity_set, key, nav = keyed.group("set", "key", "nav")
            return self._record(method, entity_set, key, nav, query, payload, headers, prefer, user)
        if re.fullmatch(r"\w+", path):
            if method == "GET":
                self.check_select(path, query.select, query.expand)
                rows = self.store.select(path, query.filters)
                if query.orderby:
                    column, descending = query.orderby
                    rows.sort(key=lambda row: (row.get(column) is None, row.get(column)), reverse=descending)
                if query.top is not None:
                    rows = rows[: query.top]
                return _json_answer(200, {"@odata.context": self._context(path, query.select, False),
                                          "value": [self.represent(path, row, query.select, query.expand) for row in rows]})
            if method == "POST":
                if path != "leads":
                    raise ODataError(405, INVALID_ARGUMENT, f"The simulator creates only leads, not {path}.")
                row = self.store.create_lead(payload, user)
                return self._created(path, row, query, prefer, 201)
        raise ODataError(404, INVALID_ARGUMENT, f"Resource not found for the segment '{path}' ({method}).")

    def _record(self, method, entity_set, key, nav, query, payload, headers, prefer, user) -> Answer:
        if nav is None and method == "GET":
            row = self.store.require(entity_set, key)
            if headers.get("if-none-match") == self._etag(row):
                return Answer(304, {"OData-Version": "4.0"})
            return _json_answer(200, {"@odata.context": self._context(entity_set, query.select, True),
                                      **self.represent(entity_set, row, query.select, query.expand)})
        if nav is None and method == "PATCH" and entity_set == "leads":
            row, created = self.store.upsert_lead(key, payload, user, if_match=headers.get("if-match"),
                                                  if_none_match=headers.get("if-none-match"))
            return self._created(entity_set, row, query, prefer, 201 if created else 200)
        if nav == "Microsoft.Dynamics.CRM.QualifyLead" and method == "POST" and entity_set == "leads":
            created = self.store.qualify_lead(key, payload, user)
            value = [{"@odata.type": f"#Microsoft.Dynamics.CRM.{self.store.table(s).logical}",
                      self.store.table(s).key: row[self.store.table(s).key]} for s, row in created]
            context = f"{self.base}$metadata#Collection(Microsoft.Dynamics.CRM.crmbaseentity)"
            return _json_answer(200, {"@odata.context": context, "value": value})
        if nav is not None and method == "GET":
            table = self.store.table(entity_set)
            row = self.store.require(entity_set, key)
            if nav not in table.collections:
                raise ODataError(400, INVALID_PROPERTY, f"Could not find a property named '{nav}' on type "
                                 f"'Microsoft.Dynamics.CRM.{table.logical}'.")
            target, lookup = table.collections[nav]
            children = self.store.select(target, [(f"_{lookup}_value", row[table.key]), *query.filters])
            return _json_answer(200, {"@odata.context": self._context(target, query.select, False),
                                      "value": [self.represent(target, child, query.select) for child in children]})
        raise ODataError(405, INVALID_ARGUMENT, f"{method} is not supported on {entity_set}({key})/{nav or ''}.")

    def _created(self, entity_set: str, row: dict, query, prefer: str, status_with_body: int) -> Answer:
        table = self.store.table(entity_set)
        entity_id = f"{self.base}{entity_set}({row[table.key]})"
        if "return=representation" in prefer:
            return _json_answer(status_with_body, {"@odata.context": self._context(entity_set, query.select, True),
                                                   **self.represent(entity_set, row, query.select, query.expand)},
                                **{"Preference-Applied": "return=representation", "OData-EntityId": entity_id})
        return Answer(204, {"OData-Version": "4.0", "OData-EntityId": entity_id, "Location": entity_id})

    @staticmethod
    def _json(body: bytes) -> dict:
        try:
            value = json.loads(body.decode("utf-8") or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ODataError(400, INVALID_ARGUMENT, f"The request body is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise ODataError(400, INVALID_ARGUMENT, "The request body must be a JSON object.")
        return value

    # --- $batch ------------------------------------------------------------------------------
    def parse_batch(self, headers: dict[str, str], body: bytes) -> list[BatchItem]:
        return parse_batch(body.decode("utf-8"), headers.get("content-type", ""))

    def _inner_target(self, target: str) -> str:
        split = urlsplit(target)
        path = split.path
        if path.startswith(API_PATH):
            path = path[len(API_PATH):]
        elif path.startswith("/"):
            raise ODataError(400, INVALID_ARGUMENT, f"'{target}' is not under {API_PATH}.")
        return path + (f"?{split.query}" if split.query else "")

    def _run_inner(self, request: InnerRequest, user: dict) -> Answer:
        return self.handle(request.method, self._inner_target(request.target), request.headers,
                           request.body.encode("utf-8"), user)

    def _batch(self, headers: dict[str, str], body: bytes, user: dict) -> Answer:
        items = self.parse_batch(headers, body)
        continue_on_error = "odata.continue-on-error" in headers.get("prefer", "")
        parts: list[str] = []
        failure: int | None = None
        for item in items:
            if item.request is not None:
                answer = self._run_inner(item.request, user)
                parts.append(http_part(answer.status, answer.headers, answer.body, item.request.content_id))
                ok = answer.status < 400
            else:
                answers: list[tuple[InnerRequest, Answer]] = []
                try:
                    with self.store.transaction():
                        for request in item.changeset:
                            answer = self._run_inner(request, user)
                            answers.append((request, answer))
                            if answer.status >= 400:
                                raise _ChangesetFailed(answer, request)
                except _ChangesetFailed as failed:  # rolled back: the changeset answers with its one error
                    parts.append(http_part(failed.answer.status, failed.answer.headers, failed.answer.body,
                                           failed.request.content_id))
                    ok = False
                    answer = failed.answer
                else:
                    parts.append(changeset_part([http_part(a.status, a.headers, a.body, r.content_id) for r, a in answers]))
                    ok = True
            if not ok:
                failure = failure or answer.status
                if not continue_on_error:
                    break
        boundary, text = multipart(parts, "batchresponse")
        status = 200 if failure is None or continue_on_error else failure
        return Answer(status, {"Content-Type": f"multipart/mixed; boundary={boundary}", "OData-Version": "4.0"},
                      text.encode("utf-8"))


class _ChangesetFailed(Exception):
    def __init__(self, answer: Answer, request: InnerRequest):
        super().__init__(answer.status)
        self.answer = answer
        self.request = request
