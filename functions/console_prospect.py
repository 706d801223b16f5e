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

from datetime import datetime, timezone
from urllib.parse import quote

import azure.functions as func

from functions._runtime import container
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import DecisionConflict, DomainError, InvalidInput, NotFound

bp = func.Blueprint()

DRIFT_PAGE = "/api/console/drift"
_DECIDED = {"Approved": "approved", "Rejected": "rejected"}
SOURCES = {"history": "History", "sales": "Sales", "queue": "Queue", "email": "Email"}


def prospect_path(key: str) -> str:
    return f"/api/console/prospects/{quote(key, safe='')}"


def when(at: datetime) -> str:
    """A moment as a clerk reads it: 3 Dec 2026, 14:02:11 UTC."""
    at = at.astimezone(timezone.utc)
    return f"{at.day} {at:%b %Y, %H:%M:%S} UTC"


def _why_not(error: Exception) -> str:
    """A refusal in words: what the rules said, or each field that was wrong and why."""
    if isinstance(error, InvalidInput):
        return "; ".join(f"the {field} {why}" for field, why in error.problems)
    return str(error)


def _conflict_words(action: str, conflict: DecisionConflict) -> str:
    """The 409 of a decision made the other way, said the way a clerk would: who decided, and when."""
    at = f" on {when(conflict.decided_at)}" if conflict.decided_at else ""
    return (f"{conflict.number} was not {action}: {_DECIDED.get(conflict.status, conflict.status)} already "
            f"by {conflict.decided_by or 'an earlier decision'}{at}")


def _page(visit: ConsoleVisit, template: str, view, status: int = 200, **values) -> func.HttpResponse:
    return visit.page(template, status=status, view=view, here=prospect_path(view.prospect.number), when=when,
                      **values)


@bp.function_name("console_prospect")
@bp.route(route="console/prospects/{key}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_prospect(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.services.prospect_timeline import PEEK_LIMIT

    view = container().prospect_timeline.show(req.route_params["key"])  # NotFound: the shell's 404 page
    return _page(visit, "console/prospect.html", view, timeline=list(reversed(view.timeline)), sources=SOURCES,
                 peek_limit=PEEK_LIMIT)


@bp.function_name("console_prospect_approve")
@bp.route(route="console/prospects/{key}/approve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_approve(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    try:
        decision = container().back_office.approve(key, visit.operator)
    except DecisionConflict as conflict:
        return visit.done(prospect_path(key), _conflict_words("approved", conflict), refused=True)
    if not decision.changed:
        return visit.done(prospect_path(key), f"{decision.number} was approved already; nothing changed")
    return visit.done(prospect_path(key), f"{decision.number} approved: partner {decision.hierarchy_id} created "
                                          "with the requester as Admin; the approval email is queued")


def _confirmed(req: func.HttpRequest, visit: ConsoleVisit, template: str, act, **values) -> func.HttpResponse:
    """A destructive action: GET shows what will happen with a confirm button; the POST does it (``act``)."""
    view = container().prospect_timeline.show(req.route_params["key"])
    if req.method == "GET":
        return _page(visit, template, view, **values)
    return act(view, prospect_path(view.prospect.number))


@bp.function_name("console_prospect_reject")
@bp.route(route="console/prospects/{key}/reject", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_reject(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    def reject(view, here: str) -> func.HttpResponse:
        reason = visit.form.get("reason", "")
        try:
            decision = container().back_office.reject(view.prospect.id, reason, visit.operator)
        except DecisionConflict as conflict:
            return visit.done(here, _conflict_words("rejected", conflict), refused=True)
        except InvalidInput as invalid:  # no usable reason: the same page again, saying what to fix
            return _page(visit, "console/prospect_reject.html", view, status=422, reason=reason,
                         error=_why_not(invalid))
        if not decision.changed:
            return visit.done(here, f"{decision.number} was rejected already; nothing changed")
        return visit.done(here, f"{decision.number} rejected; the decline email with your reason is queued")

    return _confirmed(req, visit, "console/prospect_reject.html", reject, reason="", error=None)


@bp.function_name("console_prospect_acknowledge")
@bp.route(route="console/prospects/{key}/acknowledge", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_acknowledge(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    key = req.route_params["key"]
    try:
        done = container().back_office.acknowledge(key, visit.form.get("note", ""), visit.operator)
    except InvalidInput as invalid:
        return visit.done(prospect_path(key), f"The flag was not acknowledged: {_why_not(invalid)}", refused=True)
    if not done.changed:
        return visit.done(prospect_path(key), f"{done.number} is not flagged; nothing changed")
    return visit.done(prospect_path(key), f"{done.number}: flag acknowledged (it said: {done.reason})")


@bp.function_name("console_prospect_email_retry")
@bp.route(route="console/prospects/{key}/emails/{emailId}/retry", methods=["POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_email_retry(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    email_id = req.route_params["emailId"]
    try:  # a failed email only: one queued or sending has a delivery under way, a sent one is done
        container().email_outbox.retry_email(email_id, visit.operator)
    except NotFound:
        raise  # no such email: the shell's 404 page
    except DomainError as refused:
        return visit.done(prospect_path(req.route_params["key"]), str(refused), refused=True)
    return visit.done(prospect_path(req.route_params["key"]), f"Email {email_id} queued again (it was failed).")


@bp.function_name("console_prospect_replay")
@bp.route(route="console/prospects/{key}/replay", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_replay(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    def replay(view, here: str) -> func.HttpResponse:
        done = container().prospect_timeline.replay(view.prospect.id, visit.operator)
        if not done:
            return visit.done(here, f"{view.prospect.number} has no poisoned message (any more); nothing replayed",
                              refused=True)
        queues = ", ".join(sorted({r.queue for r in done}))
        return visit.done(here, f"{len(done)} poisoned message{'s' if len(done) != 1 else ''} of "
                                f"{view.prospect.number} sent back from {queues}, to be processed again")

    return _confirmed(req, visit, "console/prospect_replay.html", replay)


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
    done = container().drift.reconcile(key)
    if not done:
        return visit.done(DRIFT_PAGE, "No prospect disagrees with Sales; nothing to do")
    return visit.done(DRIFT_PAGE, " · ".join(r.describe() for r in done), refused=not any(r.changed for r in done))
