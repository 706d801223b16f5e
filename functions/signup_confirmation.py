"""The link of the "confirm your email" message (issue 11): GET shows a page with a button (mail scanners open
links: opening one confirms nothing), the button POSTs to the same URL, which confirms."""
from __future__ import annotations

import azure.functions as func

from functions._http import html_response, http_function
from functions._runtime import container
from functions.storefront import reader_of
from shared.web.signup_confirmation import STATUS, confirm_page

bp = func.Blueprint()
ROUTE = "signup/confirm/{id}/{expires}/{signature}"


def _answer(req: func.HttpRequest, confirm: bool) -> func.HttpResponse:
    c = container()
    service = c.email_confirmation
    link = (req.route_params["id"], req.route_params["expires"], req.route_params["signature"])
    if service is None:  # confirmation off: no link of ours is pending (one from before is as good as done)
        from shared.services.email_confirmation import Confirmation, LinkState

        seen = Confirmation(LinkState.INVALID)
    else:
        seen = service.confirm(*link) if confirm else service.look(*link)
    branding = c.settings.branding(seen.channel_id or "")
    here = f"/api/signup/confirm/{'/'.join(link)}"
    state = seen.state.value
    page = confirm_page(reader_of(req, branding.store_time_zone), branding, state, here, channel_id=seen.channel_id,
                        status_url=c.signup_status_url(seen.signup_id) if seen.signup_id else None)
    return html_response(page, STATUS[state], headers={"Referrer-Policy": "no-referrer"})


@bp.function_name("signup_confirm_page")
@bp.route(route=ROUTE, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_confirm_page(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(req, confirm=False)


@bp.function_name("signup_confirm")
@bp.route(route=ROUTE, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@http_function
def signup_confirm(req: func.HttpRequest) -> func.HttpResponse:
    return _answer(req, confirm=True)
