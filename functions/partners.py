"""The partner's admin manages its users (bearer JWT of a signed-in partner user).

GET    /api/partners/me                                the caller's user and partner
GET    /api/partners/{hierarchyId}/users               200 the partner's users
POST   /api/partners/{hierarchyId}/users               201 added (Pending until the sync), 200 the same add again
GET    /api/partners/{hierarchyId}/users/{userId}      200
GET    /api/partners/{hierarchyId}/credit              200 the credit line (any Active user of the partner)
GET    /api/partners/{hierarchyId}/credit/ledger?cursor=  200 the credit ledger, newest first, 50 a page (Admin)
PATCH  /api/partners/{hierarchyId}/users/{userId}      202 changed (the sync applies it), 200 nothing changed
DELETE /api/partners/{hierarchyId}/users/{userId}      202 removed (the sync takes it out of the hierarchy)
The caller is the user bound to the token's account (issuer + subject) at its first sign-in, which takes an
email the issuer vouches for (shared/services/sign_ins.py); a token's email names no one after that.
401 no or bad token · 403 not an Admin, or the email's user is bound to another account · 404 not the
caller's partner (or the account is bound to no user) · 409 email taken, last Admin."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response, signed_in
from functions._runtime import container
from shared.domain.errors import InvalidInput

bp = func.Blueprint()


def _flag(req: func.HttpRequest, name: str) -> bool:
    """A true/false query parameter, false when absent; any other value is refused (422), never read as false:
    a typo such as ``includeRemoved=ture`` must not quietly answer something else than asked."""
    value = req.params.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise InvalidInput([(name, "must be true or false")])
    return value.lower() == "true"


def _user_answer(user, status: int, **headers: str) -> func.HttpResponse:
    from shared.services.partner_users import user_json

    return json_response(user_json(user), status=status, headers=headers, no_store=True)


@bp.function_name("partner_me")
@bp.route(route="partners/me", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_me(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.partner_users import user_json

    user, hierarchy = container().partner_users.me(signed_in(req))
    return json_response({"user": user_json(user), "partner": {"hierarchyId": hierarchy.id, "name": hierarchy.name,
                                                               "purpose": hierarchy.purpose}}, no_store=True)


@bp.function_name("partner_users")
@bp.route(route="partners/{hierarchyId}/users", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_users(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.partner_users import user_json

    caller, hierarchy_id = signed_in(req), req.route_params["hierarchyId"]
    service = container().partner_users
    if req.method == "GET":
        removed = _flag(req, "includeRemoved")
        users = service.list(caller, hierarchy_id, include_removed=removed)
        return json_response({"users": [user_json(u) for u in users]}, no_store=True)
    added = service.add(caller, hierarchy_id, json_object(req, exact_numbers=True))
    return _user_answer(added.user, 201 if added.created else 200,
                        Location=f"/api/partners/{hierarchy_id}/users/{added.user.id}")


@bp.function_name("partner_user")
@bp.route(route="partners/{hierarchyId}/users/{userId}", methods=["GET", "PATCH", "DELETE"],
          auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_user(req: func.HttpRequest) -> func.HttpResponse:
    caller, hierarchy_id, user_id = signed_in(req), req.route_params["hierarchyId"], req.route_params["userId"]
    service = container().partner_users
    if req.method == "GET":
        return _user_answer(service.get(caller, hierarchy_id, user_id), 200)
    if req.method == "DELETE":
        return _user_answer(service.remove(caller, hierarchy_id, user_id), 202)
    user = service.edit(caller, hierarchy_id, user_id, json_object(req, exact_numbers=True))
    return _user_answer(user, 200 if user.sync is None else 202)


@bp.function_name("partner_credit")
@bp.route(route="partners/{hierarchyId}/credit", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_credit(req: func.HttpRequest) -> func.HttpResponse:
    """The partner's credit line (limit, reserved, available) as any Active user of it sees it; 404 when it has
    none yet, or for a partner the caller is no user of."""
    from shared.domain.errors import NotFound
    from shared.services.credit import credit_line_json

    hierarchy_id = req.route_params["hierarchyId"]
    line = container().credit.line_for_member(signed_in(req), hierarchy_id)
    if line is None:
        raise NotFound(f"partner {hierarchy_id} has no credit line yet")
    return json_response(credit_line_json(line), no_store=True)


@bp.function_name("partner_credit_ledger")
@bp.route(route="partners/{hierarchyId}/credit/ledger", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def partner_credit_ledger(req: func.HttpRequest) -> func.HttpResponse:
    """The partner's credit ledger for its Admin: every movement, newest first (403 for its Users, 404 for
    anyone else or without a credit line)."""
    page = container().ledger.page_for_member(signed_in(req), req.route_params["hierarchyId"],
                                              req.params.get("cursor"))
    return json_response(page.to_json(), no_store=True)
