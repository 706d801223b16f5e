"""What GET /api/health reports: whether this app, as configured where it runs, can take a signup to a decision.

Checks: the settings load; the modes can work in this environment (shared/deployment.py); the state store
answers; each queue and its poison queue answers (with how many messages wait); Sales and the email transport
are configured (and the storage outbox's container answers). Each check says what it found in words that hold
no personal data and no secret: setting names, modes, queue names and counts, host names of configured
services. Checks run side by side within ``budget`` seconds: a storage account that does not answer makes its
check fail with "no answer", not the health check hang behind the SDK's retries."""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, Literal, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from shared.deployment import UnworkableDeployment, running_in_azure
from shared.queue_worker import poison_queue_name

log = logging.getLogger("b2b.health")

BUDGET_SECONDS = 10.0


class HealthCheck(BaseModel):
    name: Literal["settings", "mode", "wiring", "storage", "queues", "sales", "email"]
    ok: bool
    detail: str = Field(description="What was found, or what is wrong and what to do (no personal data, no secret)")


class HealthReport(BaseModel):
    status: Literal["healthy", "unhealthy"]
    environment: Literal["azure", "local"] = Field(description="Where the app runs, as the platform's variables say")
    checks: list[HealthCheck]
    failing: list[str] = Field(description="The names of the checks that failed (empty when healthy)")

    @property
    def healthy(self) -> bool:
        return self.status == "healthy"


def check_health(build: Callable[[], object], environ: Mapping[str, str],
                 budget: float = BUDGET_SECONDS) -> HealthReport:
    """``build`` is how the functions get their container (functions/_runtime.container): the check sees the
    app exactly as a function would, refusal included."""
    environment = "azure" if running_in_azure(environ) else "local"
    ends = time.monotonic() + budget
    pool = ThreadPoolExecutor(max_workers=5, thread_name_prefix="health")
    try:
        return _checked(environment, pool.submit(build), pool, ends, budget)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a probe still waiting on the network ends on its own


def _checked(environment: str, building: Future, pool: ThreadPoolExecutor, ends: float, budget: float
             ) -> HealthReport:
    # Building the adapters reaches storage too (the table is created if missing): within the same budget.
    wait([building], timeout=max(0.0, ends - time.monotonic()))
    if not building.done():
        return _report(environment, [HealthCheck(name="settings", ok=True, detail="read"),
                                     HealthCheck(name="wiring", ok=False, detail=f"the adapters were not built "
                                                 f"within {budget:g} s (storage out of reach?)")])
    try:
        container = building.result()
    except UnworkableDeployment as refused:
        checks = [HealthCheck(name="settings", ok=True, detail="read"),
                  *(HealthCheck(name="mode", ok=False, detail=str(refusal)) for refusal in refused.refusals)]
        return _report(environment, checks)
    except ValueError as invalid:  # Settings.validate: the message names the setting and what it needs
        return _report(environment, [HealthCheck(name="settings", ok=False, detail=str(invalid))])
    except Exception as error:  # noqa: BLE001 - an adapter could not be built: usually storage out of reach
        log.warning("health: the app could not be wired", exc_info=True)
        return _report(environment, [HealthCheck(name="settings", ok=True, detail="read"),
                                     HealthCheck(name="wiring", ok=False, detail=f"the adapters could not be "
                                                 f"built (storage out of reach?): {_brief(error)}")])
    settings = container.settings
    checks = [HealthCheck(name="settings", ok=True, detail="read"),
              HealthCheck(name="mode", ok=True, detail=_modes(settings) + (
                  ": each works in Azure" if environment == "azure" else ": every mode works on one machine"))]
    probes = {"storage": lambda: _storage(container), "queues": lambda: _queues(container),
              "sales": lambda: _sales(settings), "email": lambda: _email(container)}
    futures = {name: pool.submit(probe) for name, probe in probes.items()}
    wait(futures.values(), timeout=max(0.0, ends - time.monotonic()))
    for name, future in futures.items():
        if not future.done():
            checks.append(HealthCheck(name=name, ok=False, detail=f"no answer within {budget:g} s"))
        elif future.exception() is not None:
            log.warning("health: the %s check failed", name, exc_info=future.exception(), extra={"check": name})
            checks.append(HealthCheck(name=name, ok=False, detail=_brief(future.exception())))
        else:
            checks.append(HealthCheck(name=name, ok=True, detail=future.result()))
    return _report(environment, checks)


def _report(environment: str, checks: list[HealthCheck]) -> HealthReport:
    failing = [check.name for check in checks if not check.ok]
    return HealthReport(status="unhealthy" if failing else "healthy", environment=environment, checks=checks,
                        failing=failing)


def _modes(settings) -> str:
    return (f"STATE_BACKEND={settings.state_backend}, SALES_MODE={settings.sales_mode}, "
            f"EMAIL_TRANSPORT={settings.email_transport}")


def _storage(container) -> str:
    with container.store.unit_of_work(read_only=True) as uow:
        uow.get_signup("health-check")  # a read of a row that never exists: the store answers, or raises
    where = f"table {container.settings.state_table}" if container.settings.state_backend == "azure" else "SQLite"
    return f"the state store answers ({where})"


def _queues(container) -> str:
    queue = container.queue
    depths = []
    for name in container.settings.queue_names:
        for each in (name, poison_queue_name(name)):
            depths.append(f"{each}: {queue.count(each)}")
    # A queue not there yet counts 0: the app creates a queue with its first message (the Bicep creates them).
    return "messages waiting: " + ", ".join(depths)


def _sales(settings) -> str:
    if settings.sales_mode == "none":
        return "SALES_MODE=none: no CRM, the back office decides each prospect"
    if settings.sales_mode == "dataverse":
        return f"Dynamics 365 Sales at {urlsplit(settings.dataverse_url).hostname}"
    return "the embedded Sales stand-in (b2b salesperson commands)"


def _email(container) -> str:
    settings, transport = container.settings, container.transport
    if settings.email_transport == "smtp":
        return f"SMTP through {settings.smtp_host}:{settings.smtp_port}"
    if settings.email_transport == "ses":
        return f"Amazon SES in {settings.ses_region}"
    if settings.email_transport == "storage":
        return transport.describe()
    return "kept as .eml files in the outbox folder"


def _brief(error: BaseException) -> str:
    """An exception in one line, short: its type and the first line of its message (SDK messages run long)."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:200]}".rstrip(": ")
