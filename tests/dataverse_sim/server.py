"""The simulator's HTTP front: a ThreadingHTTPServer on 127.0.0.1 (a free port) that checks the bearer
token, applies service protection and injected faults, and hands the request to the Web API."""
from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Callable, Iterator

from tests.dataverse_sim.api import API_PATH, Answer, WebApi, count_operations, error_answer
from tests.dataverse_sim.identity import PATH as IDENTITY_PATH, ManagedIdentityEndpoint
from tests.dataverse_sim.limits import Faults, ServiceProtection
from tests.dataverse_sim.model import Store
from tests.dataverse_sim.odata import ODataError, parse_guid
from tests.loopback import LoopbackServer

DEFAULT_PROSPECT_COLUMN = "cr_b2bprospectnumber"
INTEGRATION_USER = "commerce-b2b-integration"


class DataverseSimulator:
    """A Dataverse Web API stand-in for tests. Start it (``with DataverseSimulator() as sim``), give the
    client ``sim.url`` and a token from ``sim.issue_token()``, then look inside with ``sim.store``,
    ``sim.requests``, ``sim.lead_count()`` and ``sim.notes(lead_id)``."""

    def __init__(self, *, prospect_column: str = DEFAULT_PROSPECT_COLUMN, max_requests: int = 6000,
                 window_seconds: float = 300.0, max_concurrent: int = 52, batch_counts_operations: bool = True,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.store = Store(prospect_column, now)
        self.protection = ServiceProtection(max_requests, window_seconds, max_concurrent, batch_counts_operations,
                                            monotonic=monotonic)
        self.faults = Faults()
        self.requests: list[dict] = []  # every HTTP request: method, path, user, status
        self._tokens: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._http: LoopbackServer | None = None
        self.api: WebApi | None = None
        self.identity: ManagedIdentityEndpoint | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> DataverseSimulator:
        self._http = LoopbackServer(_Handler, "dataverse-sim", simulator=self).start()
        self.api = WebApi(self.store, self._http.url)
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None

    def __enter__(self) -> DataverseSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The organization URL (what ``https://<org>.crm.dynamics.com`` is in Azure)."""
        assert self.api is not None, "start the simulator first"
        return self.api.root_url

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    # --- users and tokens --------------------------------------------------------------------
    def issue_token(self, user: str = INTEGRATION_USER) -> str:
        """A bearer token for ``user`` (created as a systemuser on first use)."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self.store.add_user(user)
        return token

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def user_id(self, user: str = INTEGRATION_USER) -> str:
        return self.store.add_user(user)["systemuserid"]

    # --- an app in another process: the managed identity endpoint ------------------------------
    def managed_identity(self, client_id: str | None = None) -> dict[str, str]:
        """The environment of an app whose managed identity (``client_id``, or the system-assigned one) is
        this organization's integration user: ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``, as App Service
        sets them, pointing at this simulator (see ``identity``)."""
        self.identity = ManagedIdentityEndpoint(self.url, self.issue_token, client_id)
        return {"IDENTITY_ENDPOINT": self.url + IDENTITY_PATH, "IDENTITY_HEADER": self.identity.secret}

    # --- plug-ins ---------------------------------------------------------------------------
    def refuse_lead(self, lead_id: str, status: int = 400, code: str = "0x80040265",
                    message: str = "The lead was refused by a plug-in (InvalidPluginExecutionException).") -> None:
        """Every create of this lead fails with ``status`` (a sync plug-in throwing, or a 503 from it)."""
        self.store.lead_create_errors[parse_guid(lead_id)] = (status, code, message)

    # --- looking inside ----------------------------------------------------------------------
    def lead_count(self) -> int:
        with self.store.lock:
            return len(self.store.rows["leads"])

    def lead(self, lead_id: str) -> dict | None:
        return self.store.get("leads", lead_id)

    def notes(self, lead_id: str) -> list[dict]:
        return sorted(self.store.select("annotations", [("_objectid_value", parse_guid(lead_id))]),
                      key=lambda row: row["createdon"])

    def requests_to(self, method: str, fragment: str = "") -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["method"] == method and fragment in r["path"]]

    # --- one HTTP request --------------------------------------------------------------------
    def _authenticate(self, headers) -> dict:
        authorization = headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            user = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise ODataError(401, "0x80072560", "The user is not a member of the organization.",
                             {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/'
                                                  f'common/oauth2/authorize", resource_id="{self.url}/"'})
        return user

    def respond(self, method: str, raw_path: str, headers, body: bytes) -> tuple[Answer, float, str | None]:
        """The answer to one HTTP request, how long to hold it back, and who asked. A non-None user is
        in flight until ``leave(user)``."""
        if raw_path.split("?")[0] == IDENTITY_PATH and method == "GET" and self.identity is not None:
            return self.identity.answer(raw_path, headers), 0.0, None
        if not raw_path.startswith(API_PATH):
            return error_answer(ODataError(404, "", f"No Dataverse Web API at {raw_path}.")), 0.0, None
        target = raw_path[len(API_PATH):]
        try:
            user = self._authenticate(headers)
        except ODataError as error:
            return error_answer(error), 0.0, None
        name = user["fullname"]
        try:
            self.protection.enter(name)
        except ODataError as error:
            return error_answer(error), 0.0, None
        try:
            fault = self.faults.take(method, target)
            if fault is not None and not fault.apply_first:
                if fault.delay:  # slow before the work: a client that times out retries while this is pending
                    time.sleep(fault.delay)
                if fault.status is not None:
                    return error_answer(fault.error()), 0.0, name
            cost = 1
            if target.split("?")[0] == "$batch" and self.protection.batch_counts_operations:
                try:
                    cost = max(1, count_operations(self.api.parse_batch({k.lower(): v for k, v in headers.items()}, body)))
                except ODataError:
                    cost = 1
            try:
                self.protection.admit(name, cost)
            except ODataError as error:
                return error_answer(error), 0.0, name
            assert self.api is not None
            answer = self.api.handle(method, target, dict(headers), body, user)
            if fault is not None and fault.status is not None:  # applied, but the client hears an error
                answer = error_answer(fault.error())
            return answer, (fault.delay if fault is not None and fault.apply_first else 0.0), name
        except Exception as error:  # a bug in the simulator: answer 500 with the reason
            return error_answer(ODataError(500, "0x80040216", f"Simulator error: {error!r}")), 0.0, name

    def leave(self, user: str | None) -> None:
        if user is not None:
            self.protection.leave(user)


class _Handler(BaseHTTPRequestHandler):
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed
    # ACK, and every round trip took 40 ms.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled requests.Session reuses connections
    server_version = "DataverseSimulator/1.0"
    timeout = 10  # an idle keep-alive connection's thread ends after this

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read sim.requests instead
        pass

    def _handle(self) -> None:
        simulator: DataverseSimulator = self.server.simulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer, delay, user = simulator.respond(self.command, self.path, self.headers, body)
        with simulator._lock:
            simulator.requests.append({"method": self.command, "path": self.path, "user": user,
                                       "status": answer.status})
        try:
            if delay:
                time.sleep(delay)
        finally:  # done before the answer leaves, so a client's next request never meets this one's count
            simulator.leave(user)
        try:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.body:
                self.wfile.write(answer.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nothing to answer
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = _handle


@contextmanager
def running_simulator(**options) -> Iterator[DataverseSimulator]:
    simulator = DataverseSimulator(**options)
    with simulator:
        yield simulator


__all__ = ["DataverseSimulator", "running_simulator", "DEFAULT_PROSPECT_COLUMN", "INTEGRATION_USER"]
