"""The back office's partner actions as JSON routes (a function key: automation; people use the console).

GET    /api/backoffice/partners/{hierarchyId}                   the partner whole: standing, users, credit line,
                                                                open reservations, history
PATCH  /api/backoffice/partners/{hierarchyId}                   {"name", "operator"} rename it
POST   /api/backoffice/partners/{hierarchyId}/block             {"reason", "operator"} its users are refused (403)
POST   /api/backoffice/partners/{hierarchyId}/reactivate        {"operator", "note"?}
PATCH  /api/backoffice/partners/{hierarchyId}/users/{userId}    {"operator", "role"?, …} change a user
DELETE /api/backoffice/partners/{hierarchyId}/users/{userId}    {"operator"} remove a user
200 with "changed" (false: it was so already); 404 no such partner or user; 409 the rules refuse it (the last
Admin, an email that signs in elsewhere); 422 a missing operator, reason or name.
The same functions serve the console's pages and `b2b partner …` (shared/services/partner_admin.py)."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function, json_object, json_response
from functions._runtime import container

bp = func.Blueprint()


@bp.function_name("backoffice_partner")
@bp.route(route="backoffice/partners/{hierarchyId}", methods=["GET", "PATCH"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.partner_admin import file_json

    admin, hierarchy_id = container().partner_admin, req.route_params["hierarchyId"]
    if req.method == "GET":
        return json_response(file_json(admin.file(hierarchy_id)), no_store=True)
    return json_response(admin.rename(hierarchy_id, json_object(req)).to_json(), no_store=True)


@bp.function_name("backoffice_partner_block")
@bp.route(route="backoffice/partners/{hierarchyId}/block", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_block(req: func.HttpRequest) -> func.HttpResponse:
    done = container().partner_admin.block(req.route_params["hierarchyId"], json_object(req))
    return json_response(done.to_json(), no_store=True)


@bp.function_name("backoffice_partner_reactivate")
@bp.route(route="backoffice/partners/{hierarchyId}/reactivate", methods=["POST"],
          auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_reactivate(req: func.HttpRequest) -> func.HttpResponse:
    done = container().partner_admin.reactivate(req.route_params["hierarchyId"], json_object(req))
    return json_response(done.to_json(), no_store=True)


@bp.function_name("backoffice_partner_user")
@bp.route(route="backoffice/partners/{hierarchyId}/users/{userId}", methods=["PATCH", "DELETE"],
          auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_partner_user(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.partner_users import user_json

    users, hierarchy_id, user_id = container().partner_users, req.route_params["hierarchyId"], req.route_params["userId"]
    if req.method == "DELETE":
        user = users.remove_by_operator(hierarchy_id, user_id, json_object(req))
    else:
        user = users.edit_by_operator(hierarchy_id, user_id, json_object(req, exact_numbers=True))
    return json_response(user_json(user), status=200 if user.sync is None else 202, no_store=True)
