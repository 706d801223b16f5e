"""All prospects for back-office automation (function key): the list as JSON, and its CSV export.

GET /api/backoffice/prospects?status=&attention=&channel=&from=&to=&q=&sort=&cursor=&limit=
    {"prospects": [...], "counts": {...}, "nextCursor": …, "previousCursor": …}; a bad value is 400 problem+json
GET /api/backoffice/prospects.csv?(the same filter)   every row of the filter, as CSV

A function key, not the admin key: automation that reads the list gets a key of its own (a host key or this
function's key), which can be revoked alone; the master key stays with the platform."""
from __future__ import annotations

import azure.functions as func

from functions._http import csv_download, http_function, json_response
from functions._runtime import container

bp = func.Blueprint()


@bp.function_name("backoffice_prospects")
@bp.route(route="backoffice/prospects", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_prospects(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.prospect_directory import ListQuery, page_json

    page = container().prospect_directory.page(ListQuery.parse(req.params))
    return json_response(page_json(page), no_store=True)


@bp.function_name("backoffice_prospects_csv")
@bp.route(route="backoffice/prospects.csv", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_function
def backoffice_prospects_csv(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.prospect_directory import ListQuery

    return csv_download(container().prospect_directory, ListQuery.parse(req.params))
