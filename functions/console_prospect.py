"""The console's prospect page and drift page.

GET  /api/console/prospects/{key}                            the request, status, Sales records, the whole timeline
POST /api/console/prospects/{key}/approve                    approve
GET  /api/console/prospects/{key}/reject   (+ POST)          confirm with a reason (required), then reject
POST /api/console/prospects/{key}/acknowledge                clear the attention flag, with a note
POST /api/console/prospects/{key}/emails/{emailId}/retry     queue a failed email again
GET  /api/console/prospects/{key}/replay   (+ POST)          confirm, then replay its poisoned messages
GET  /api/console/drift                                      prospects that disagree with Sales
POST /api/console/drift/reconcile                            reconcile one (``key``) or all, now

Each action calls the service the CLI and the JSON routes call, with the signed-in principal as the operator,
and answers 303 back to the page with what changed, or why not. Reject and replay change what cannot be
undone, so each first shows what will happen on a page of its own (no JavaScript needed)."""
from __future__ import annotations

from urllib.parse import quote

import azure.functions as func

from functions._runtime import container
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import DecisionConflict, DomainError, InvalidInput, NotFound

bp = func.Blueprint()

_STATUS_WORDS = {"Approved": "approved", "Rejected": "rejected"}


def prospect_path(key: str) -> str:
    return f"/api/console/prospects/{quote(key, safe='')}"


def _why_not(error: Exception) -> str:
    """A refusal in words: what the rules said, or each field that was wrong."""
    if isinstance(error, InvalidInput):
        return "; ".join(f"{'the ' + field if field != '(body)' else 'the form'} {why}"
                         for field, why in error.problems)
    return str(error)


def _conflict_words(action: str, conflict: DecisionConflict) -> str:
    when = f" at {conflict.decided_at:%Y-%m-%d %H:%M} UTC" if conflict.decided_at else ""
    return (f"{conflict.number} was not {action}: it was {_STATUS_WORDS.get(conflict.status, conflict.status)} "
            f"already by {conflict.decided_by or 'an earlier decision'}{when}")


def _prospect_or_missing(visit: ConsoleVisit, key: str):
    try:
        return container().prospect_timeline.show(key), None
    except NotFound as missing:
        return None, visit.page("console/prospect_missing.html", status=404, key=key, why=str(missing))


@bp.function_name("console_prospect")
@bp.route(route="console/prospects/{key}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_prospect(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    view, missing = _prospect_or_missing(visit, key)
    if missing:
        return missing
    return visit.page("console/prospect.html", view=view, timeline=list(reversed(view.timeline)),
                      here=prospect_path(view.prospect.number))


@bp.function_name("console_prospect_approve")
@bp.route(route="console/prospects/{key}/approve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_approve(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    try:
        decision = container().back_office.approve(key, visit.operator)
    except DecisionConflict as conflict:
        return visit.done(prospect_path(key), _conflict_words("approved", conflict))
    except DomainError as refused:
        return visit.done(prospect_path(key), f"{key} was not approved: {_why_not(refused)}")
    if not decision.changed:
        return visit.done(prospect_path(key), f"{decision.number} was approved already; nothing changed")
    return visit.done(prospect_path(key), f"{decision.number} approved: partner {decision.hierarchy_id} created, "
                                          "the approval email queued")


@bp.function_name("console_prospect_reject")
@bp.route(route="console/prospects/{key}/reject", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_reject(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    view, missing = _prospect_or_missing(visit, key)
    if missing:
        return missing
    here = prospect_path(view.prospect.number)
    if req.method == "GET":
        return visit.page("console/prospect_reject.html", view=view, here=here, reason="", error=None)
    reason = visit.form.get("reason", "")
    try:
        decision = container().back_office.reject(key, reason, visit.operator)
    except DecisionConflict as conflict:
        return visit.done(here, _conflict_words("rejected", conflict))
    except InvalidInput as invalid:  # the reason is missing or unusable: the same page, saying what to fix
        return visit.page("console/prospect_reject.html", status=422, view=view, here=here, reason=reason,
                          error=_why_not(invalid))
    except DomainError as refused:
        return visit.done(here, f"{key} was not rejected: {_why_not(refused)}")
    if not decision.changed:
        return visit.done(here, f"{decision.number} was rejected already; nothing changed")
    return visit.done(here, f"{decision.number} rejected; the decline email queued")


@bp.function_name("console_prospect_acknowledge")
@bp.route(route="console/prospects/{key}/acknowledge", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_acknowledge(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    try:
        done = container().back_office.acknowledge(key, visit.form.get("note", ""), visit.operator)
    except DomainError as refused:
        return visit.done(prospect_path(key), f"The flag was not acknowledged: {_why_not(refused)}")
    if not done.changed:
        return visit.done(prospect_path(key), f"{done.number} is not flagged; nothing changed")
    return visit.done(prospect_path(key), f"{done.number}: flag acknowledged (it said: {done.reason})")


@bp.function_name("console_prospect_email_retry")
@bp.route(route="console/prospects/{key}/emails/{emailId}/retry", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_email_retry(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key, email_id = req.route_params["key"], req.route_params["emailId"]
    try:
        done = container().email_delivery.retry(email_id, visit.operator)
    except DomainError as refused:
        return visit.done(prospect_path(key), f"The email was not retried: {_why_not(refused)}")
    return visit.done(prospect_path(key), done.describe())


@bp.function_name("console_prospect_replay")
@bp.route(route="console/prospects/{key}/replay", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_replay(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    view, missing = _prospect_or_missing(visit, key)
    if missing:
        return missing
    here = prospect_path(view.prospect.number)
    if req.method == "GET":
        return visit.page("console/prospect_replay.html", view=view, here=here)
    try:
        done = container().prospect_timeline.replay(key, visit.operator)
    except DomainError as refused:
        return visit.done(here, f"Nothing was replayed: {_why_not(refused)}")
    if not done:
        return visit.done(here, f"{view.prospect.number} has no poisoned message (any more); nothing replayed")
    queues = ", ".join(sorted({r.queue for r in done}))
    return visit.done(here, f"{len(done)} poisoned message{'s' if len(done) != 1 else ''} of "
                            f"{view.prospect.number} sent back from {queues}")


@bp.function_name("console_drift")
@bp.route(route="console/drift", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_drift(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    try:
        report = container().drift.report()
    except DomainError as refused:  # no Sales (SALES_MODE=none): nothing to compare with
        return visit.page("console/drift.html", report=None, why=str(refused))
    return visit.page("console/drift.html", report=report, why=None)


@bp.function_name("console_drift_reconcile")
@bp.route(route="console/drift/reconcile", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_drift_reconcile(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = (visit.form.get("key") or "").strip() or None
    try:
        done = container().drift.reconcile(key)
    except DomainError as refused:
        return visit.done("/api/console/drift", f"Nothing was reconciled: {_why_not(refused)}")
    if not done:
        return visit.done("/api/console/drift", "No prospect disagrees with Sales; nothing to do")
    return visit.done("/api/console/drift", " · ".join(r.describe() for r in done))
