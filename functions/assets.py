"""The pages' static files (anonymous): GET /api/assets/{name}, from shared/web/static."""
from __future__ import annotations

import azure.functions as func

from functions._http import http_function
from shared.domain.errors import NotFound

bp = func.Blueprint()


@bp.function_name("static_asset")
@bp.route(route="assets/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def static_asset(req: func.HttpRequest) -> func.HttpResponse:
    from shared.web.assets import static_file

    found = static_file(req.route_params["name"])
    if found is None:
        raise NotFound("no such file")
    body, media_type, fingerprint = found
    # A URL with the current fingerprint names this content forever (pages link them so): keep it a year.
    # Without it (or with an old one) the browser asks again soon, so a deployment shows at once.
    current = req.params.get("v") == fingerprint
    caching = "public, max-age=31536000, immutable" if current else "public, max-age=300"
    return func.HttpResponse(body, mimetype=media_type, charset="utf-8",
                             headers={"Cache-Control": caching, "ETag": f'"{fingerprint}"',
                                      "X-Content-Type-Options": "nosniff"})
