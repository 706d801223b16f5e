"""The console's form for a partner's time zone (its users' monthly limits run by its calendar months).

POST /api/console/partners/{hierarchyId}/time-zone   {timeZone} → 303 back to the partner's page, saying what
changed or why not. The same service function as PUT /api/backoffice/partners/{hierarchyId}/time-zone.
"""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from functions.console_partners import _outcome, _partner_path, _said
from functions.console_shell import ConsoleVisit, console_view

bp = func.Blueprint()


@bp.function_name("console_partner_time_zone")
@bp.route(route="console/partners/{hierarchyId}/time-zone", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_time_zone(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id = req.route_params["hierarchyId"]

    def set_time_zone() -> str:
        done = container().partner_admin.set_time_zone(hierarchy_id, {
            "timeZone": visit.form.get("timeZone", "").strip(), "operator": visit.operator})
        zone = done.hierarchy.time_zone
        return _said(done.changed, f"{hierarchy_id}'s time zone is {zone} now: monthly limits run by its months.",
                     f"{hierarchy_id}'s time zone is {zone} already.")

    return _outcome(visit, _partner_path(hierarchy_id), set_time_zone)
