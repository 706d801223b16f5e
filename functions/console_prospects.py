"""All prospects, the console's entry page: the paged list with its counts, filters, search, order and CSV.

GET /api/console                  the page (a GET form: filters work without JavaScript; links keep the filter)
GET /api/console/prospects.csv    every prospect of the page's filter, as CSV"""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

import azure.functions as func

from functions._http import csv_download
from functions._runtime import container
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import InvalidQuery

bp = func.Blueprint()

PAGE_PATH = "/api/console"
CSV_PATH = "/api/console/prospects.csv"
_BADGES = {"Pending": "", "Approved": "ok", "Rejected": "bad"}  # ProspectStatus values (pydantic loads lazily)
_FIELD_LABELS = {"q": "Search", "status": "Status", "channel": "Channel", "from": "Received from",
                 "to": "Received until", "sort": "Order", "attention": "Needs attention", "limit": "Rows per page",
                 "cursor": "Page"}


def readable(at: datetime) -> str:
    """A moment as a clerk reads it: 3 Dec 2026, 14:05 UTC (the exact ISO time is in the <time> element)."""
    at = at.astimezone(timezone.utc)
    return f"{at.day} {at:%b %Y, %H:%M} UTC"


def _href(path: str, values: list[tuple[str, str]]) -> str:
    return f"{path}?{urlencode(values)}" if values else path


@bp.function_name("console_prospects")
@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_prospects(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.services.prospect_directory import ListQuery

    directory = container().prospect_directory
    try:
        query = ListQuery.parse(req.params)
    except InvalidQuery as refused:  # the form again, with what is wrong; the values stay as typed
        given = [(name, str(req.params.get(name))) for name in _FIELD_LABELS if req.params.get(name)]
        counts = directory.counts()
        return visit.page("console/prospects.html", status=400, **_frame(given, counts, problems=refused.problems))
    page = directory.page(query)
    newest = query.newest_first
    caption = (f"Prospects, {'newest' if newest else 'oldest'} first"
               + (" (a later page)" if query.cursor is not None else ""))
    listing = {"page": page, "caption": caption, "csv_href": _href(CSV_PATH, query.link(cursor=None, limit=None)),
               "next_href": page.next_cursor and _href(PAGE_PATH, query.link(cursor=page.next_cursor)),
               "previous_href": page.previous_cursor and _href(PAGE_PATH, query.link(cursor=page.previous_cursor))}
    return visit.page("console/prospects.html",
                      **{**_frame(list(query.values), page.counts, status=query.where.status), **listing})


def _frame(values: list[tuple[str, str]], counts: dict[str, int], *, status=None,
           problems: list[tuple[str, str]] = ()) -> dict:
    """What the page shows with or without a list: the counts as filter links, the form with its values
    (``status``: the ProspectStatus filtered on, if any)."""
    from shared.domain.model import ProspectStatus
    from shared.domain.prospect_directory import ATTENTION

    given = dict(values)
    attention = given.get("attention", "").lower() in ("true", "1", "yes", "on")
    kept = [(name, value) for name, value in values if name not in ("status", "attention", "cursor")]
    total = sum(counts.get(s.value, 0) for s in ProspectStatus)
    links = [("All", total, _href(PAGE_PATH, kept), status is None and not attention and not problems)]
    links += [(s.value, counts.get(s.value, 0), _href(PAGE_PATH, [*kept, ("status", s.value.lower())]),
               status is s and not attention) for s in ProspectStatus]
    links.append(("Needs attention", counts.get(ATTENTION, 0), _href(PAGE_PATH, [*kept, ("attention", "true")]),
                  attention and status is None))
    return {"status_links": links, "none_yet": total == 0, "value": lambda name: given.get(name, ""),
            "attention": attention,
            "statuses": [s.value for s in ProspectStatus], "problems": list(problems), "field_labels": _FIELD_LABELS,
            "badge": _BADGES, "when": readable, "page": None, "caption": "", "csv_href": "", "next_href": None,
            "previous_href": None}


@bp.function_name("console_prospects_csv")
@bp.route(route="console/prospects.csv", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_prospects_csv(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.services.prospect_directory import ListQuery

    return csv_download(container().prospect_directory, ListQuery.parse(req.params))
