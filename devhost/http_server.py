"""The HTTP front end: routes requests to HTTP-triggered functions, like the host's HTTP extension.

Request and response bodies and headers carry personal data, so nothing here logs them (nor query
strings, which can hold function keys).
"""
from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote

import azure.functions as func

from devhost.invoke import CallPlan, Invoker, trace_context
from devhost.request_body import BadChunkedBody, BodyTimeout, BodyTooLarge, ClientGone, DeadlineReader, read_chunked
from devhost.routing import RouteTemplate

log = logging.getLogger("devhost.http")

MAX_BODY_BYTES = 100 * 1024 * 1024  # the Functions host's request size limit
# A body must arrive within this grace period plus its size at this minimum rate, else 408 (request_body.py).
BODY_GRACE_SECONDS = 10.0
BODY_MIN_BYTES_PER_SECOND = 1024 * 1024
# Headers this server owns: the function's own values would contradict the bytes actually sent.
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "server", "date"}
ADMIN_PREFIX = "/admin/functions/"


@dataclass
class HttpRoute:
    plan: CallPlan
    template: RouteTemplate
    methods: frozenset[str] | None  # None: any method

    @property
    def name(self) -> str:
        return self.plan.spec.name

    @property
    def requires_key(self) -> bool:
        return self.plan.spec.auth_level != "anonymous"


class Router:
    def __init__(self, routes: Iterable[HttpRoute]):
        self.routes = sorted(routes, key=lambda r: r.template.sort_key())

    def resolve(self, method: str, path: str) -> tuple[HttpRoute | None, dict[str, str], set[str]]:
        """The route and its values; with no route, the methods the path would allow (empty: 404)."""
        allowed: set[str] = set()
        for route in self.routes:
            values = route.template.match(path)
            if values is None:
                continue
            if route.methods is None or method in route.methods:
                return route, values, set()
            allowed |= route.methods
        return None, {}, allowed


def route_for(plan: CallPlan) -> HttpRoute:
    trigger = plan.spec.trigger
    template = trigger.get("route")
    methods = trigger.get("methods")
    return HttpRoute(
        plan=plan,
        template=RouteTemplate(plan.spec.name if template is None else template),
        methods=frozenset(str(m).upper() for m in methods) if methods else None,
    )


# Admin callback: (function name, input) -> None; raises LookupError (404) or ValueError (400).
AdminCallback = Callable[[str, str], None]


class HttpFrontend:
    def __init__(self, host: str, port: int, prefix: str, router: Router, invoker: Invoker,
                 function_key: str, admin: AdminCallback):
        self.prefix = prefix.strip("/")
        self.router = router
        self.invoker = invoker
        self.function_key = function_key
        self.admin = admin
        self.stopping = False
        self.server = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="devhost-http", daemon=True)
        self._thread.start()

    def stop_accepting(self) -> None:
        self.stopping = True
        self.server.shutdown()

    def close(self) -> None:
        self.server.server_close()

    def key_ok(self, query: dict[str, str], headers) -> bool:
        given = headers.get("x-functions-key") or query.get("code") or ""
        return hmac.compare_digest(given.encode(), self.function_key.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # stopping waits for invocations (InFlight), not for idle connections
    request_queue_size = 512  # socketserver's backlog of 5 resets bursts of concurrent clients

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients that hang up mid-response; socketserver would print a traceback to stderr.
        log.debug("connection error", exc_info=True)


def _handler_class(frontend: HttpFrontend) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass
    Handler.frontend = frontend
    return Handler


class _Handler(BaseHTTPRequestHandler):
    frontend: HttpFrontend
    protocol_version = "HTTP/1.1"
    server_version = "devhost"
    # An idle keep-alive connection is dropped after this, so that stopping never waits on clients.
    timeout = 30
    # A response leaves in one write (the head and a body up to this size are buffered, see _send), and
    # TCP_NODELAY sends whatever is written at once. With http.server's defaults the head and the body
    # were two small writes: Nagle held the body until the client acknowledged the head, which a client
    # on a keep-alive connection delays by ~40 ms (delayed ACK), so every request took ~40 ms.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def do_request(self) -> None:
        # Counted from the start, so that stopping (which sets ``stopping`` first) waits for this request.
        with self.frontend.invoker.in_flight:
            self._handle_request()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_TRACE = do_request

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method it has no do_<METHOD> for with 501 Not Implemented; the Functions host
        # routes every method and answers one that no function takes on the path with 405 (Allow: …), or 404.
        if name.startswith("do_"):
            return self.do_request
        raise AttributeError(name)

    def _handle_request(self) -> None:
        frontend = self.frontend
        if frontend.stopping:
            self.close_connection = True
            return self._send_text(HTTPStatus.SERVICE_UNAVAILABLE, "The host is stopping.")
        body = self._read_body()
        if body is None:
            return
        raw_path, _, query_string = self.path.partition("?")
        # %2F stays encoded so that an encoded slash never splits a route segment.
        path = unquote(raw_path.replace("%2F", "%252F").replace("%2f", "%252F"))
        query = _query_params(query_string)
        if path.lower().startswith(ADMIN_PREFIX) and self.command == "POST":
            return self._admin(path[len(ADMIN_PREFIX):], query, body)
        relative = _strip_prefix(path, frontend.prefix)
        route, values, allowed = (None, {}, set()) if relative is None else \
            frontend.router.resolve(self.command, relative)
        if route is None:
            if allowed:
                log.info("%s not allowed on %s", self.command, raw_path)
                return self._send_text(HTTPStatus.METHOD_NOT_ALLOWED, "Method Not Allowed",
                                       [("Allow", ", ".join(sorted(allowed)))])
            log.info("no function for %s %s", self.command, raw_path)
            return self._send_text(HTTPStatus.NOT_FOUND, "Not Found")
        if route.requires_key and not frontend.key_ok(query, self.headers):
            return self._send_text(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        # As Azure's front end does, the connection's address (with its port) is appended to X-Forwarded-For,
        # where the app reads the client's address (CLIENT_IP_HEADER); what a client wrote there stays left of it.
        client = self.client_address[0]
        peer = f"[{client}]:{self.client_address[1]}" if ":" in client else f"{client}:{self.client_address[1]}"
        headers = _joined_headers([*self.headers.items(), ("X-Forwarded-For", peer)])
        request = func.HttpRequest(self.command, self._url(), headers=headers, params=query,
                                   route_params=values, body=body)
        trace = trace_context(route.name, headers.get("traceparent"), headers.get("tracestate", ""))
        try:
            result = frontend.invoker.invoke(route.plan, request, reason="This function was called by an HTTP request",
                                             trace=trace)
        except Exception:  # noqa: BLE001 - the invoker logged it; the caller gets what Azure sends
            return self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        try:
            status, response_headers, payload = to_wire(result)
        except TypeError as error:
            log.error("Functions.%s: %s", route.name, error)
            return self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
        self._send(status, response_headers, payload)

    def _admin(self, name: str, query: dict[str, str], body: bytes) -> None:
        if not self.frontend.key_ok(query, self.headers):
            return self._send_text(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        try:
            payload = json.loads(body or b"{}")
            given = payload.get("input", "") if isinstance(payload, dict) else None
            if not isinstance(given, str):
                raise ValueError('the body must be JSON like {"input": "..."}')
            self.frontend.admin(name.strip("/"), given)
        except LookupError as error:
            return self._send_text(HTTPStatus.NOT_FOUND, str(error))
        except ValueError as error:
            return self._send_text(HTTPStatus.BAD_REQUEST, str(error))
        self._send(HTTPStatus.ACCEPTED, [], b"")

    def _url(self) -> str:
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.frontend.port}"
        return f"http://{host}{self.path}"

    def _read_body(self) -> bytes | None:
        """The request body; None when it cannot be had (the answer is sent, the connection closes)."""
        reader = DeadlineReader(self.rfile, self.connection, grace_seconds=BODY_GRACE_SECONDS,
                                min_bytes_per_second=BODY_MIN_BYTES_PER_SECOND)
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return read_chunked(reader, MAX_BODY_BYTES)
            length_text = self.headers.get("Content-Length") or "0"
            if not length_text.isdigit():
                self.close_connection = True
                self._send_text(HTTPStatus.BAD_REQUEST, "Bad Content-Length")
                return None
            length = int(length_text)
            if length > MAX_BODY_BYTES:
                return self._too_large()
            reader.allow(length)
            return reader.read_exactly(length)
        except BodyTimeout:
            self.close_connection = True
            log.info("request body not received in time", extra={"method": self.command})
            self._send_text(HTTPStatus.REQUEST_TIMEOUT, "Request body not received in time")
        except BodyTooLarge:
            self._too_large()
        except BadChunkedBody as error:
            self.close_connection = True
            self._send_text(HTTPStatus.BAD_REQUEST, str(error))
        except ClientGone:
            self.close_connection = True
        finally:
            self.connection.settimeout(self.timeout)  # back to the idle timeout of a keep-alive connection
        return None

    def _too_large(self) -> None:
        self.close_connection = True
        self._send_text(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request body too large")
        return None

    def _send_text(self, status: int, text: str, headers: list[tuple[str, str]] | None = None) -> None:
        self._send(status, [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])], text.encode())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(int(status))
        for name, value in headers:
            self.send_header(name, value)
        bodiless = int(status) in (204, 304) or int(status) < 200
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless and self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        log.debug("%s -> %d", self.command, int(status))

    def handle_expect_100(self) -> bool:
        # The interim answer must leave now, not with the response: the client waits for it to send the body.
        accepted = super().handle_expect_100()
        self.wfile.flush()
        return accepted

    def version_string(self) -> str:
        return self.server_version

    # http.server's own access log would print request lines with query strings.
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http.server: " + format, *args)


def to_wire(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body for what an HTTP function returned, as the worker converts it."""
    if result is None:
        return 204, [], b""
    if isinstance(result, str):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], result.encode("utf-8")
    if not isinstance(result, func.HttpResponse):
        raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(result).__name__}")
    headers = []
    for name, value in result.headers.items():
        if name.lower() in _HOP_BY_HOP:
            continue
        if "\r" in value or "\n" in value:
            log.warning("dropped response header %s: its value has a line break", name)
            continue
        headers.append((name, value))
    if not any(name.lower() == "content-type" for name, _ in headers):
        mimetype = result.mimetype
        headers.append(("Content-Type", f"{mimetype}; charset={result.charset}"
                        if mimetype.startswith("text/") else mimetype))
    return result.status_code, headers, result.get_body() or b""


def _strip_prefix(path: str, prefix: str) -> str | None:
    if not prefix:
        return path
    lowered, wanted = path.lower(), "/" + prefix.lower()
    if lowered == wanted or lowered == wanted + "/":
        return ""
    if lowered.startswith(wanted + "/"):
        return path[len(wanted) + 1:]
    return None


def _query_params(query_string: str) -> dict[str, str]:
    # Repeated keys are joined with commas, as the host's StringValues are.
    params: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params.setdefault(key, []).append(value)
    return {key: ",".join(values) for key, values in params.items()}


def _joined_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in items:
        key = next((k for k in headers if k.lower() == name.lower()), name)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
