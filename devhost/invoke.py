"""Calling a user function the way the Python worker does.

Parameters are bound by name: the trigger's ``name``, ``context``, and ``func.Out`` parameters for output
bindings; ``async def`` functions all share one event loop, as in the worker. Problems the worker would
report when indexing (an unbound parameter, an unsupported binding) are found before the host starts.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import re
import secrets
import threading
import time
import typing
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import azure.functions as func
from azure.functions import _abc as func_abc

from devhost.functions import HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER, FunctionSpec
from devhost.settings import ConfigError, resolve_placeholders

log = logging.getLogger("devhost.invoke")

SUPPORTED_TRIGGERS = (HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER)
SUPPORTED_OUTPUTS = ("http", "queue")
RETURN = "$return"


class FunctionLoadError(Exception):
    """A function cannot run here; the message names the function and every problem found."""


# --- the objects a function receives -------------------------------------------------------------

class TraceContext(func_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str, attributes: dict[str, str]):
        self._parent, self._state, self._attributes = trace_parent, trace_state, attributes

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def trace_state(self) -> str:
        return self._state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes


class RetryContext(func_abc.RetryContext):
    """No retry policy runs here, so every invocation is attempt 0 of 0 (queue retries are redeliveries)."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> None:
        return None


class InvocationContext(func.Context):
    def __init__(self, invocation_id: str, function_name: str, function_directory: str, trace: TraceContext):
        self._id, self._name, self._directory, self._trace = invocation_id, function_name, function_directory, trace
        self._local = threading.local()
        self._local.invocation_id = invocation_id

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> threading.local:
        return self._local

    @property
    def function_name(self) -> str:
        return self._name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return RetryContext()


class Out(func.Out):
    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$")


def trace_context(function_name: str, incoming_parent: str | None = None, incoming_state: str = "") -> TraceContext:
    """A W3C trace context for this invocation, continuing the caller's trace when it sent one."""
    match = _TRACEPARENT.match((incoming_parent or "").strip().lower())
    trace_id, flags = (match.group(1), match.group(2)) if match else (secrets.token_hex(16), "01")
    return TraceContext(f"00-{trace_id}-{secrets.token_hex(8)}-{flags}", incoming_state if match else "",
                        {"OperationName": function_name})


# --- bookkeeping shared by all triggers ----------------------------------------------------------

class InFlight:
    """Counts running invocations so that stopping can wait for them."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            if not self._count:
                self._idle.notify_all()

    @property
    def count(self) -> int:
        return self._count

    def wait_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)


class AsyncRunner:
    """One event loop on its own thread for every ``async def`` function, like the worker's loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: typing.Coroutine[Any, Any, Any]) -> Any:
        future: Future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        return future.result()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="devhost-asyncio", daemon=True)
                self._thread.start()
            return self._loop

    def stop(self) -> None:
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()


# --- binding plan ----------------------------------------------------------------------------------

@dataclass
class CallPlan:
    spec: FunctionSpec
    trigger_param: str
    convert_trigger: Callable[[Any], Any]
    wants_context: bool
    out_params: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    return_binding: Mapping[str, Any] | None = None
    # output binding name -> resolved queue name
    queue_names: dict[str, str] = field(default_factory=dict)


def plan_call(spec: FunctionSpec, environ: Mapping[str, str] | None = None) -> CallPlan:
    problems: list[str] = []
    if spec.trigger_type not in SUPPORTED_TRIGGERS:
        problems.append(f"trigger type {spec.trigger_type!r} is not supported by devhost "
                        f"(supported: {', '.join(SUPPORTED_TRIGGERS)})")
    parameters = inspect.signature(spec.function).parameters
    hints = _type_hints(spec.function)
    trigger_param = spec.trigger.get("name", "")
    if trigger_param not in parameters:
        problems.append(f"the trigger binding names parameter {trigger_param!r}, which the function lacks")

    plan = CallPlan(spec, trigger_param, _trigger_converter(spec.trigger_type, hints.get(trigger_param)),
                    wants_context="context" in parameters)
    bound = {trigger_param, "context"}
    for binding in spec.bindings:
        if binding is spec.trigger or binding.get("name") == trigger_param:
            continue
        name, kind = binding.get("name", ""), binding.get("type", "")
        direction = str(binding.get("direction", "")).upper()
        if direction == "IN" or kind not in SUPPORTED_OUTPUTS:
            problems.append(f"{direction.lower()} binding {name!r} of type {kind!r} is not supported by devhost "
                            f"(outputs supported: {', '.join(SUPPORTED_OUTPUTS)})")
            continue
        if kind == "queue":
            try:
                plan.queue_names[name] = resolve_queue_name(binding.get("queueName", ""), environ,
                                                            what=f"output binding {name!r} queueName")
            except ConfigError as error:
                problems.append(str(error))
        if name == RETURN:
            plan.return_binding = binding
        elif name in parameters:
            plan.out_params[name] = binding
            bound.add(name)
        else:
            problems.append(f"output binding {name!r} has no parameter of that name")
    unbound = [p.name for p in parameters.values()
               if p.name not in bound and p.default is inspect.Parameter.empty
               and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if unbound:
        problems.append(f"parameters {unbound} are declared in Python but have no binding")
    if problems:
        raise FunctionLoadError(f"function {spec.name!r}: " + "; ".join(problems))
    return plan


_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")


def resolve_queue_name(raw: str, environ: Mapping[str, str] | None, *, what: str) -> str:
    name = resolve_placeholders(raw, environ, what=what)
    # Azure Storage rules; checked here so a name that would fail in Azure fails locally too.
    if not (3 <= len(name) <= 63 and _QUEUE_NAME.match(name)):
        raise ConfigError(f"{what} {raw!r} resolves to {name!r}, which is not a valid queue name "
                          "(3-63 lowercase letters, digits and single hyphens)")
    return name


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - unresolvable annotations only lose the str/bytes conversion
        return {}


def _trigger_converter(trigger_type: str, annotation: Any) -> Callable[[Any], Any]:
    if trigger_type == QUEUE_TRIGGER:
        if annotation is str:
            return lambda message: message.get_body().decode("utf-8")
        if annotation is bytes:
            return lambda message: message.get_body()
    return lambda value: value


# --- invoking --------------------------------------------------------------------------------------

class Invoker:
    def __init__(self, send_to_queue: Callable[[str, str], None], in_flight: InFlight | None = None):
        self._send_to_queue = send_to_queue
        self.in_flight = in_flight or InFlight()
        self.async_runner = AsyncRunner()

    def invoke(self, plan: CallPlan, trigger_value: Any, *, reason: str,
               trace: TraceContext | None = None) -> Any:
        """Run the function; return its HTTP output (or return value). Its exception is logged and re-raised."""
        spec = plan.spec
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {plan.trigger_param: plan.convert_trigger(trigger_value)}
        if plan.wants_context:
            kwargs["context"] = InvocationContext(invocation_id, spec.name, spec.directory,
                                                  trace or trace_context(spec.name))
        outs = {name: Out() for name in plan.out_params}
        kwargs.update(outs)
        with self.in_flight:
            log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)
            started = time.monotonic()
            try:
                result = spec.function(**kwargs)
                if inspect.isawaitable(result):
                    result = self.async_runner.run(_await(result))
                http_output = self._outputs(plan, result, outs)
            except Exception:
                log.exception("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)",
                              spec.name, invocation_id, _ms(started))
                raise
            log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
                     spec.name, invocation_id, _ms(started))
        return http_output

    def _outputs(self, plan: CallPlan, result: Any, outs: dict[str, Out]) -> Any:
        values = {name: out.get() for name, out in outs.items()}
        if plan.return_binding is not None:
            values[RETURN] = result
        http_output = result
        for name, value in values.items():
            binding = plan.out_params.get(name) or plan.return_binding
            if binding["type"] == "http":
                http_output = value
            elif binding["type"] == "queue":
                for body in _queue_bodies(value):
                    self._send_to_queue(plan.queue_names[name], body)
        return http_output

    def stop(self) -> None:
        self.async_runner.stop()


async def _await(awaitable: typing.Awaitable[Any]) -> Any:
    return await awaitable


def _queue_bodies(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    bodies = []
    for item in items:
        if isinstance(item, func.QueueMessage):
            item = item.get_body()
        if isinstance(item, (bytes, bytearray)):
            item = bytes(item).decode("utf-8")
        if not isinstance(item, str):
            raise TypeError(f"a queue output must be str, bytes or QueueMessage, not {type(item).__name__}")
        bodies.append(item)
    return bodies


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
