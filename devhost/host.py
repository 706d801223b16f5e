"""The local Functions host: what ``func start`` does for this app, in-process.

    host = LocalHost(".", port=0).start()
    ...  # host.base_url, host.run_timer("name")
    host.stop()
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from devhost.functions import (HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER, AppLoadError, FunctionSpec,
                               load_functions)
from devhost.http_server import HttpFrontend, HttpRoute, Router, route_for
from devhost.invoke import CallPlan, FunctionLoadError, Invoker, plan_call, resolve_queue_name
from devhost.queues import QueuePoller, direct_message, queue_message
from devhost.settings import (ConfigError, QueueOptions, function_allow_list, load_host_config,
                              load_local_settings, queue_options, route_prefix)
from devhost.timers import MANUAL_REASON, Schedule, TimerJob, TimerScheduler, schedule_for, utc_now
from shared.ports import Queue

__all__ = ["LocalHost", "HostError", "FunctionInfo", "load_functions", "FunctionSpec"]

log = logging.getLogger("devhost.host")

KEY_SETTING = "DEVHOST_FUNCTION_KEY"
# The app's own host name and port, which App Service sets in Azure; the app builds its public links on it
# when PUBLIC_BASE_URL is not set, so locally they name this host on the port it listens on.
HOSTNAME_SETTING = "WEBSITE_HOSTNAME"


class HostError(Exception):
    """The host cannot start: bad settings, host.json or function definitions (all problems are listed)."""


@dataclass(frozen=True)
class FunctionInfo:
    """One line of the startup listing."""

    name: str
    trigger_type: str
    detail: str  # the URL with methods, the schedule or the queue name
    running: bool
    note: str = ""

    def line(self) -> str:
        if self.trigger_type == HTTP_TRIGGER and self.detail:
            text = f"{self.name}: {self.detail}"  # "[GET,POST] http://...", as func start prints it
        else:
            text = f"{self.name}: {self.trigger_type}" + (f" ({self.detail})" if self.detail else "")
        return f"{text} [{self.note}]" if self.note else text


class LocalHost:
    def __init__(self, app_dir: Path | str = ".", *, module: str = "function_app", host: str = "127.0.0.1",
                 port: int = 0, timers: bool = True, queues: bool = True, functions: Iterable[str] | None = None,
                 queue: Queue | None = None, function_key: str | None = None, stop_timeout: float = 30.0,
                 local_settings: bool = True):
        self.app_dir = Path(app_dir).resolve()
        self.local_settings = local_settings  # False: the environment only (a test's host, not the developer's)
        self.module = module
        self.host = host
        self.requested_port = port
        self.timers_enabled = timers
        self.queues_enabled = queues
        self.only = list(functions) if functions else None
        self.stop_timeout = stop_timeout
        self._queue = queue
        self._queue_lock = threading.Lock()
        self._given_key = function_key
        self.function_key = ""
        self.key_generated = False
        self.functions: list[FunctionInfo] = []
        self._plans: dict[str, CallPlan] = {}
        self._frontend: HttpFrontend | None = None
        self._scheduler: TimerScheduler | None = None
        self._pollers: list[QueuePoller] = []
        self._admin_pool: ThreadPoolExecutor | None = None
        self._invoker: Invoker | None = None
        self._started = False
        self._hostname_set = False

    # --- public API --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        self._require_started()
        return self._frontend.port

    @property
    def base_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0") else f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    @property
    def queue(self) -> Queue:
        """The Queue adapter: the injected one, else ``shared.bootstrap.build_queue`` (built on first use)."""
        with self._queue_lock:
            if self._queue is None:
                from shared.bootstrap import build_queue
                from shared.config import Settings
                self._queue = build_queue(Settings.from_env())
            return self._queue

    def start(self) -> LocalHost:
        if self._started:
            raise RuntimeError("the host is already started")
        if self.local_settings:
            self._load(load_local_settings, self.app_dir)  # before the app is imported: it may read settings then
        config = self._load(load_host_config, self.app_dir)
        specs = self._select(self._load(load_functions, self.app_dir, self.module, load_settings=False), config)
        options = self._load(queue_options, config)
        self._invoker = Invoker(self._send_to_queue)
        routes, jobs, pollers = self._build(specs, options)
        self.function_key, self.key_generated = self._key()
        self._frontend = HttpFrontend(self.host, self.requested_port, self._load(route_prefix, config),
                                      Router(routes), self._invoker, self.function_key, self._admin)
        self._scheduler = TimerScheduler(jobs, self._invoker)
        self._pollers = pollers
        self._admin_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="devhost-admin")
        self._frontend.start()
        self._started = True
        # Before any trigger can run the app (which reads its settings once); a setting given is kept.
        self._hostname_set = HOSTNAME_SETTING not in os.environ
        if self._hostname_set:
            os.environ[HOSTNAME_SETTING] = self.base_url.removeprefix("http://")
        self.functions = self._listing(specs, routes, jobs)
        if self.timers_enabled:
            self._scheduler.start()
        for poller in pollers:
            poller.start()
        log.info("host started on %s with %d functions", self.base_url, len(self._plans))
        return self

    def stop(self) -> None:
        """Stop triggers and let running invocations finish (up to ``stop_timeout`` seconds each stage);
        queue messages taken and not finished are handed back at once (``devhost.queues``)."""
        if not self._started:
            return
        self._started = False
        self._frontend.stop_accepting()
        self._scheduler.stop(self.stop_timeout)
        # Every poller stops taking first, so that none takes messages while another one finishes its own.
        for poller in self._pollers:
            poller.stop_taking(self.stop_timeout)
        for poller in self._pollers:
            poller.finish(self.stop_timeout)
        self._admin_pool.shutdown(wait=True)
        if not self._invoker.in_flight.wait_idle(self.stop_timeout):
            log.warning("stopping with %d invocations still running", self._invoker.in_flight.count)
        self._frontend.close()
        self._invoker.stop()
        if self._hostname_set:  # another host in this process gets its own
            os.environ.pop(HOSTNAME_SETTING, None)
        log.info("host stopped")

    def run_timer(self, name: str, *, past_due: bool = False) -> None:
        """Run a timer function now, in this thread (also with timers off); raises what it raised."""
        self._require_started()
        self._scheduler.run(name, past_due=past_due)

    def startup_lines(self) -> list[str]:
        """What ``python -m devhost`` prints; the last line is ``Host listening on <base_url>``."""
        lines = ["Functions:", *(f"  {info.line()}" for info in self.functions)]
        if self.key_generated:
            lines.append(f"Function key: {self.function_key} (generated; set {KEY_SETTING} to choose one)")
        lines.append(f"Host listening on {self.base_url}")
        return lines

    def __enter__(self) -> LocalHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- building ----------------------------------------------------------------------------------

    @staticmethod
    def _load(loader, *args: Any, **kwargs: Any) -> Any:
        try:
            return loader(*args, **kwargs)
        except (ConfigError, AppLoadError) as error:
            raise HostError(str(error)) from error

    def _select(self, specs: list[FunctionSpec], config: dict[str, Any]) -> list[FunctionSpec]:
        names = {spec.name for spec in specs}
        allowed = self._load(function_allow_list, config)
        for wanted, source in ((self.only, "--function"), (allowed, "host.json functions")):
            if wanted is None:
                continue
            unknown = sorted(set(wanted) - names)
            if unknown:
                raise HostError(f"{source} names unknown functions {unknown}; the app has {sorted(names)}")
            specs = [spec for spec in specs if spec.name in wanted]
        return specs

    def _build(self, specs: list[FunctionSpec], options: QueueOptions
               ) -> tuple[list[HttpRoute], list[TimerJob], list[QueuePoller]]:
        routes: list[HttpRoute] = []
        jobs: list[TimerJob] = []
        pollers: list[QueuePoller] = []
        problems: list[str] = []
        for spec in specs:
            if _disabled(spec.name):
                continue
            try:
                plan = plan_call(spec)
                if spec.trigger_type == HTTP_TRIGGER:
                    routes.append(_route(plan))
                elif spec.trigger_type == TIMER_TRIGGER:
                    jobs.append(TimerJob(plan, self._schedule(spec), bool(spec.trigger.get("runOnStartup"))))
                elif spec.trigger_type == QUEUE_TRIGGER and self.queues_enabled:
                    name = resolve_queue_name(spec.trigger.get("queueName", ""), None,
                                              what=f"function {spec.name!r}: queueName")
                    pollers.append(QueuePoller(plan, name, self.queue, options, self._invoker))
            except (FunctionLoadError, ConfigError) as error:
                problems.append(str(error))
                continue
            self._plans[spec.name] = plan
        if problems:
            for poller in pollers:
                poller.stop()
            raise HostError("the app's functions cannot run:\n  " + "\n  ".join(problems))
        return routes, jobs, pollers

    def _schedule(self, spec: FunctionSpec) -> Schedule | None:
        raw = spec.trigger.get("schedule", "")
        try:
            return schedule_for(raw, function=spec.name)
        except ConfigError:
            if self.timers_enabled:
                raise
            return None  # with timers off, only run_timer uses the job, and it needs no schedule

    def _key(self) -> tuple[str, bool]:
        key = self._given_key or os.environ.get(KEY_SETTING)
        return (key, False) if key else (secrets.token_urlsafe(24), True)

    def _listing(self, specs: list[FunctionSpec], routes: list[HttpRoute], jobs: list[TimerJob]
                 ) -> list[FunctionInfo]:
        urls = {route.name: self._describe_route(route) for route in routes}
        schedules = {job.name: getattr(job.schedule, "expression", None) or "" for job in jobs}
        listing = []
        for spec in specs:
            kind = spec.trigger_type
            if _disabled(spec.name):
                listing.append(FunctionInfo(spec.name, kind, "", False, "disabled"))
            elif kind == HTTP_TRIGGER:
                note = "" if spec.auth_level == "anonymous" else "key required"
                listing.append(FunctionInfo(spec.name, kind, urls[spec.name], True, note))
            elif kind == TIMER_TRIGGER:
                listing.append(FunctionInfo(spec.name, kind, schedules[spec.name] or str(spec.trigger.get("schedule")),
                                            self.timers_enabled, "" if self.timers_enabled else "timers off"))
            else:
                queue_name = next((p.queue_name for p in self._pollers if p.name == spec.name),
                                  str(spec.trigger.get("queueName")))
                listing.append(FunctionInfo(spec.name, kind, queue_name, self.queues_enabled,
                                            "" if self.queues_enabled else "queues off"))
        return listing

    def _describe_route(self, route: HttpRoute) -> str:
        methods = ",".join(sorted(route.methods)) if route.methods else "ANY"
        prefix = self._frontend.prefix
        path = "/".join(part for part in (prefix, route.template.template.strip("/")) if part)
        return f"[{methods}] {self.base_url}/{path}"

    # --- running -----------------------------------------------------------------------------------

    def _send_to_queue(self, queue_name: str, body: str) -> None:
        self.queue.send(queue_name, body)
        for poller in self._pollers:
            if poller.queue_name == queue_name:
                poller.notify()

    def _admin(self, name: str, given: str) -> None:
        plan = self._plans.get(name)
        if plan is None:
            raise LookupError(f"no running function named {name!r}")
        kind = plan.spec.trigger_type
        if kind == TIMER_TRIGGER:
            self._admin_pool.submit(self._quietly, self._scheduler.run, name, reason=MANUAL_REASON)
        elif kind == QUEUE_TRIGGER:
            queue_name = resolve_queue_name(plan.spec.trigger.get("queueName", ""), None,
                                            what=f"function {name!r}: queueName")
            message = queue_message(direct_message(queue_name, given, utc_now()), utc_now())
            self._admin_pool.submit(self._quietly, self._invoker.invoke, plan, message, reason=MANUAL_REASON)
        else:
            raise ValueError(f"{name} is an HTTP function: call its URL instead")

    @staticmethod
    def _quietly(call, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the invoker logged it; nobody waits for an admin-API run
            pass

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError("the host is not started")


def _route(plan: CallPlan) -> HttpRoute:
    try:
        return route_for(plan)
    except ValueError as error:
        raise FunctionLoadError(f"function {plan.spec.name!r}: {error}") from None


def _disabled(name: str) -> bool:
    # Azure's switch; Linux app settings cannot hold dots, hence the underscore spelling too.
    for setting in (f"AzureWebJobs.{name}.Disabled", f"AzureWebJobs__{name}__Disabled"):
        if os.environ.get(setting, "").strip().lower() in ("true", "1"):
            return True
    return False
