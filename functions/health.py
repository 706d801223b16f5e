"""GET /api/health (anonymous): whether the app as configured where it runs can carry a signup to a decision.

200 when every check passes, 503 with the failing ones otherwise (shared/services/health.py); JSON, never
cached. The azd postdeploy hook (hooks/postdeploy.py) reads it first."""
from __future__ import annotations

import os

import azure.functions as func

from functions._http import http_function, json_response
from functions._runtime import container

bp = func.Blueprint()


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def health(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.health import check_health

    report = check_health(container, os.environ)
    return json_response(report.model_dump(mode="json"), status=200 if report.healthy else 503, no_store=True)
