"""The partner portal's credit page for the partner's Admin: the credit line and its ledger, a page at a time,
in the reader's language (?lang=, else the user's own language, else Accept-Language).

GET /api/portal/credit?cursor=N     the credit line (limit, reserved, unpaid, available) and the ledger, newest
                                    first, entries numbered below N when given
Who moved the line is named as the Admin knows them: a user of the partner by name, the back office as such."""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from functions.portal import PortalVisit, portal_view
from shared.domain.errors import Forbidden, InvalidQuery, NotFound

bp = func.Blueprint()

PATH = "/api/portal/credit"


def _who(by: str, names: dict[str, str], _) -> str:
    kind, _sep, name = by.partition(":")
    if kind == "user":
        return names.get(name, _("A former user"))
    if kind == "operator":
        return _("Back office")
    return _("System")


@bp.function_name("portal_credit")
@bp.route(route="portal/credit", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@portal_view(act=False)
def portal_credit(req: func.HttpRequest, visit: PortalVisit) -> func.HttpResponse:
    from urllib.parse import urlencode

    from shared.domain.money import format_amount
    from shared.web.i18n import Reader, negotiate, newstyle_gettext, newstyle_ngettext

    reader = Reader(negotiate(req.params.get("lang") or visit.user.language, req.headers.get("accept-language")))
    _ = reader.gettext
    words = {"lang": reader.language, "_": newstyle_gettext(_), "gettext": newstyle_gettext(_),
             "ngettext": newstyle_ngettext(reader.ngettext)}
    c, hierarchy_id, cursor = container(), visit.hierarchy.id, req.params.get("cursor")
    try:
        page = c.ledger.page_for_member(visit.caller, hierarchy_id, cursor)
    except Forbidden:
        return visit.page("credit_refused.html", 403, **words)
    except InvalidQuery:
        return visit.page("credit_refused.html", 400, stale_link=True, **words)
    except NotFound:  # no credit line yet
        page = None
    names = {u.id: f"{u.first_name} {u.last_name}" for u in c.partner_users.list(visit.caller, hierarchy_id, True)}

    def link(**query: str) -> str:
        query = {**query, **({"lang": req.params["lang"]} if req.params.get("lang") else {})}
        return PATH + ("?" + urlencode(query) if query else "")

    return visit.page("credit.html", page=page, money=format_amount, when=reader.datetime,
                      who=lambda by: _who(by, names, _),
                      older=link(cursor=page.next_cursor) if page and page.next_cursor else None,
                      newest=link() if cursor else None, **words)
