"""The partner portal's "Approvals" page: orders over a buyer's limits.

GET  /api/portal/approvals                        Approvers and Admins: the pending requests with approve and
                                                  reject forms, and those decided; everyone: their own requests
POST /api/portal/approvals/{orderId}/approve      {csrf, comment?} → 303 back, saying what was done or why not
POST /api/portal/approvals/{orderId}/reject       {csrf, comment} (a comment is required: the buyer reads it)

The page calls the same service as the partner API (shared/services/approvals.py) with the session's verified
caller, so the API's rules decide (not one's own order, decided once, the credit held in the same step).
"""
from __future__ import annotations

import azure.functions as func

from functions.portal import PortalVisit, _money, portal_view
from functions._runtime import container
from shared.domain.errors import DomainError, Forbidden, InvalidInput, NotFound

bp = func.Blueprint()

APPROVALS = "/api/portal/approvals"


def _reader(req: func.HttpRequest, visit: PortalVisit):
    """The page's language: ?lang=, else the user's own (their emails'), else Accept-Language; its times in the
    partner's time zone (the one its monthly limits run by)."""
    from shared.web.i18n import Reader, negotiate

    zone = visit.hierarchy.time_zone or container().settings.partner_time_zone
    return Reader(negotiate(req.params.get("lang") or visit.user.language, req.headers.get("accept-language")), zone)


def _page(req: func.HttpRequest, visit: PortalVisit, status: int = 200, *, problem: str | None = None,
          errors: dict | None = None, form_order: str | None = None) -> func.HttpResponse:
    from shared.web.i18n import newstyle_gettext

    reader = _reader(req, visit)
    approvals = container().approvals
    decides = visit.user.role.value in ("Admin", "Approver")
    everyone = approvals.list(visit.caller, visit.hierarchy.id, {}) if decides else []
    mine = approvals.list(visit.caller, visit.hierarchy.id, {"mine": "true"})
    pending = [a for a in everyone if a.status.value == "pending_approval"]
    decided = [a for a in everyone if a.status.value != "pending_approval"][:50]
    return visit.page("approvals.html", status, decides=decides, pending=pending, decided=decided, mine=mine,
                      money=_money, when=reader.datetime, problem=problem, errors=errors or {},
                      form_order=form_order, lang=reader.language, _=newstyle_gettext(reader.gettext))


@bp.function_name("portal_approvals")
@bp.route(route="portal/approvals", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_approvals(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    return _page(req, visit)


@bp.function_name("portal_approval_approve")
@bp.route(route="portal/approvals/{orderId}/approve", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_approval_approve(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    return _decide(req, visit, req.route_params["orderId"], "approved")


@bp.function_name("portal_approval_reject")
@bp.route(route="portal/approvals/{orderId}/reject", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_approval_reject(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    return _decide(req, visit, req.route_params["orderId"], "rejected")


def _decide(req: func.HttpRequest, visit: PortalVisit, order_id: str, decision: str) -> func.HttpResponse:
    from shared.domain.approvals import ApprovalStatus

    comment = (visit.form.get("comment") or "").strip()
    try:
        container().approvals.decide(visit.caller, visit.hierarchy.id, order_id, ApprovalStatus(decision),
                                     {"comment": comment} if comment else {})
    except InvalidInput as error:
        return _page(req, visit, 422, errors={order_id: message for _, message in error.problems}, form_order=order_id)
    except NotFound:
        raise  # the portal's own page: not found
    except Forbidden as error:  # not an approver, or their own order
        return _page(req, visit, 403, problem=str(error), form_order=order_id)
    except DomainError as error:  # decided otherwise or expired, or the credit no longer covers it (the figures)
        return _page(req, visit, 409, problem=str(error), form_order=order_id)
    _ = _reader(req, visit).gettext
    done = _("Order %(order)s approved: the amount is reserved on the credit line. The buyer gets an email.") \
        if decision == "approved" else _("Order %(order)s rejected. The buyer gets an email.")
    return visit.done(APPROVALS, done % {"order": order_id})
