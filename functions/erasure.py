"""An applicant's personal data: erased on request (the right to erasure) and by the retention timer, and the
merchant's daily digest of new partner requests.

GET  /api/console/prospects/{key}/erase   (+ POST)   confirm with a reason (required), then erase (act role)
POST /api/backoffice/prospects/{key}/erase           {"operator": "…", "reason": "…"}  the same, for automation
timer retention        (RETENTION_SCHEDULE)          erase what RETENTION_DAYS says was kept long enough
timer merchant_digest  (OPERATOR_DIGEST_SCHEDULE)    yesterday's new prospects to OPERATOR_EMAIL (OPERATOR_NOTICE=daily)

All of them call ``shared.services.erasure`` / ``shared.services.merchant_notice``, as ``b2b erase`` does."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response
from functions._runtime import container
from functions.console_prospect import _page, _why_not, prospect_path
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import InvalidInput
from shared.observability import correlation

bp = func.Blueprint()


@bp.function_name("console_prospect_erase")
@bp.route(route="console/prospects/{key}/erase", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_prospect_erase(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    """GET: what erasing does, with a reason to give, or why this prospect's data is not erased here (a partner,
    an undecided request) and what to do instead. POST: erase, then back to the prospect's page."""
    from shared.domain.erasure import ErasureRefused  # pydantic: not at import (cold start)

    c = container()
    view = c.prospect_timeline.show(req.route_params["key"])  # NotFound: the shell's 404 page
    here = prospect_path(view.prospect.number)
    refusal = None
    try:
        c.erasure.check(view.prospect.id)
    except ErasureRefused as refused:
        refusal = str(refused)
    if req.method == "GET" or refusal is not None:
        return _page(visit, "console/prospect_erase.html", view, status=200 if req.method == "GET" else 409,
                     refusal=refusal, reason="", error=None)
    reason = visit.form.get("reason", "")
    try:
        done = c.erasure.erase(view.prospect.id, reason, visit.operator)
    except InvalidInput as invalid:  # no usable reason: the same page again, saying what to fix
        return _page(visit, "console/prospect_erase.html", view, status=422, refusal=None, reason=reason,
                     error=_why_not(invalid))
    return visit.done(here, done.describe(), refused=not done.changed)


@bp.function_name("backoffice_erase")
@bp.route(route="backoffice/prospects/{key}/erase", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_erase(req: func.HttpRequest) -> func.HttpResponse:
    payload = json_object(req)
    done = container().erasure.erase(req.route_params["key"], payload.get("reason"), payload.get("operator"))
    return json_response(done.to_json())


@bp.function_name("retention")
@bp.timer_trigger(arg_name="timer", schedule="%RETENTION_SCHEDULE%", run_on_startup=False, use_monitor=True)
def retention(timer: func.TimerRequest) -> None:
    with correlation():
        container().erasure.run()


@bp.function_name("merchant_digest")
@bp.timer_trigger(arg_name="timer", schedule="%OPERATOR_DIGEST_SCHEDULE%", run_on_startup=False, use_monitor=True)
def merchant_digest(timer: func.TimerRequest) -> None:
    with correlation():
        container().merchant_notice.send_digest()
