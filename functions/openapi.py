"""The API's OpenAPI document and its docs page (anonymous): thin adapters over shared/web/.

GET /api/openapi.json           the OpenAPI 3.1 document of every HTTP route (shared/web/openapi.py)
GET /api/docs                   Swagger UI reading it
GET /api/docs/assets/{name}     the page's scripts and style sheet, from the installed package"""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function
from shared.domain.errors import NotFound

bp = func.Blueprint()

# The document and the docs files change only with a deployment: a browser may keep them a while.
_CACHEABLE = {"Cache-Control": "public, max-age=300"}


def _prefixed(path: str) -> str:
    from shared.web.openapi import ROUTE_PREFIX

    return f"/{ROUTE_PREFIX}/{path}"


@bp.function_name("openapi_document")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def openapi_document(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web.openapi import document_bytes

    return func.HttpResponse(document_bytes(), mimetype="application/json", charset="utf-8", headers=_CACHEABLE)


@bp.function_name("openapi_docs")
@bp.route(route="docs", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def openapi_docs(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web.api_docs import DOCS_POLICY, docs_page

    page = docs_page(_prefixed("openapi.json"), _prefixed("docs/assets"))
    return func.HttpResponse(page, mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": DOCS_POLICY, **_CACHEABLE})


@bp.function_name("openapi_docs_asset")
@bp.route(route="docs/assets/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def openapi_docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web.api_docs import asset

    found = asset(req.route_params["name"])
    if found is None:
        raise NotFound("no such file")
    body, media_type = found
    return func.HttpResponse(body, mimetype=media_type, charset="utf-8",
                             headers={"X-Content-Type-Options": "nosniff", **_CACHEABLE})
