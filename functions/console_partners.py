"""The console's Partners pages: the list with search, and a partner's page with its actions.

GET  /api/console/partners                                  the list (?q= name, CH-number or email; ?cursor=)
GET  /api/console/partners/{hierarchyId}                    the partner: standing, users, credit, reservations,
                                                            history; the actions for an Operator
POST /api/console/partners/{hierarchyId}/rename             {name}
GET  /api/console/partners/{hierarchyId}/block              confirm: what blocking does, and the reason
POST /api/console/partners/{hierarchyId}/block              {reason}
POST /api/console/partners/{hierarchyId}/reactivate         {note?}
POST /api/console/partners/{hierarchyId}/credit             {limit, currency}
POST /api/console/partners/{hierarchyId}/users              add a user {firstName, lastName, email, role, …}
GET  /api/console/partners/{hierarchyId}/users/{userId}     confirm a demotion or removal (?change=demote|remove)
POST /api/console/partners/{hierarchyId}/users/{userId}     {change: admin | demote | remove}
Each POST calls the same service function as the JSON route and `b2b partner …`, as the signed-in operator, and
answers 303 back to the partner's page with the outcome in words (what changed, or why not).
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import quote, urlencode

import azure.functions as func

from functions._runtime import container
from functions.console_shell import ConsoleVisit, console_view
from shared.domain.errors import DomainError, InvalidInput

bp = func.Blueprint()

PARTNERS = "/api/console/partners"
_CHANGES = {"demote": "Make User", "remove": "Remove"}


def _partner_path(hierarchy_id: str) -> str:
    return f"{PARTNERS}/{quote(hierarchy_id, safe='')}"


def _outcome(visit: ConsoleVisit, location: str, act: Callable[[], str]) -> func.HttpResponse:
    """Run the action; 303 back to ``location`` saying what changed, or in the rule's own words why not."""
    try:
        notice = act()
    except InvalidInput as error:
        return visit.done(location, "Not done: " + "; ".join(f"{_field(f)} {m}" for f, m in error.problems),
                          refused=True)
    except DomainError as error:
        return visit.done(location, f"Not done: {error}", refused=True)
    return visit.done(location, notice)


def _field(name: str) -> str:
    """A field as the form labels it (the services name them as the JSON does)."""
    return {"firstName": "first name", "lastName": "last name", "spendingLimit": "spending limit",
            "(body)": "the form"}.get(name, name)


def _said(changed: bool, did: str, already: str) -> str:
    return did if changed else f"Nothing changed: {already}"


@bp.function_name("console_partners")
@bp.route(route="console/partners", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_partners(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    query, cursor = (req.params.get("q") or "").strip(), req.params.get("cursor") or None
    page = container().partner_admin.page(query or None, cursor)
    next_url = None
    if page.next_cursor:
        next_url = f"{PARTNERS}?" + urlencode({**({"q": query} if query else {}), "cursor": page.next_cursor})
    first_url = f"{PARTNERS}?" + urlencode({"q": query}) if query else PARTNERS
    return visit.page("console/partners.html", rows=page.rows, query=query, next_url=next_url,
                      first_url=first_url if cursor else None, partner_path=_partner_path)


@bp.function_name("console_partner")
@bp.route(route="console/partners/{hierarchyId}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("read")
def console_partner(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from functions.console_ledger import ledger_section

    file = container().partner_admin.file(req.route_params["hierarchyId"])
    return visit.page("console/partner.html", file=file, path=_partner_path(file.hierarchy.id),
                      **ledger_section(file.hierarchy.id, req.params.get("ledger")))


@bp.function_name("console_partner_rename")
@bp.route(route="console/partners/{hierarchyId}/rename", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_rename(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id = req.route_params["hierarchyId"]

    def rename() -> str:
        done = container().partner_admin.rename(hierarchy_id, {"name": visit.form.get("name", ""),
                                                               "operator": visit.operator})
        return _said(done.changed, f"Renamed {hierarchy_id} to “{done.hierarchy.name}”.",
                     f"{hierarchy_id} is called “{done.hierarchy.name}” already.")

    return _outcome(visit, _partner_path(hierarchy_id), rename)


@bp.function_name("console_partner_block")
@bp.route(route="console/partners/{hierarchyId}/block", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_block(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    admin, hierarchy_id = container().partner_admin, req.route_params["hierarchyId"]
    if req.method == "GET":
        file = admin.file(hierarchy_id)
        return visit.page("console/partner_confirm.html", file=file, path=_partner_path(hierarchy_id),
                          change="block", user=None)

    def block() -> str:
        done = admin.block(hierarchy_id, {"reason": visit.form.get("reason", ""), "operator": visit.operator})
        return _said(done.changed, f"Blocked {hierarchy_id}: its users are refused and its orders denied until "
                                   "it is reactivated.",
                     f"{hierarchy_id} was blocked already by {done.hierarchy.status_changed_by} "
                     f"({done.hierarchy.block_reason}).")

    location = _partner_path(hierarchy_id)
    if not visit.form.get("reason", "").strip():  # back to the confirmation, which asks for it
        return visit.done(f"{location}/block", "Not done: say why the partner is blocked.", refused=True)
    return _outcome(visit, location, block)


@bp.function_name("console_partner_reactivate")
@bp.route(route="console/partners/{hierarchyId}/reactivate", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_reactivate(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id = req.route_params["hierarchyId"]

    def reactivate() -> str:
        note = visit.form.get("note", "").strip()
        done = container().partner_admin.reactivate(hierarchy_id, {"operator": visit.operator,
                                                                   **({"note": note} if note else {})})
        return _said(done.changed, f"Reactivated {hierarchy_id}: its users may sign in and order again.",
                     f"{hierarchy_id} is not blocked.")

    return _outcome(visit, _partner_path(hierarchy_id), reactivate)


@bp.function_name("console_partner_credit")
@bp.route(route="console/partners/{hierarchyId}/credit", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_credit(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    from shared.domain.money import format_amount

    hierarchy_id = req.route_params["hierarchyId"]

    def set_line() -> str:
        line = container().credit.set_line(hierarchy_id, {"limit": visit.form.get("limit", "").strip(),
                                                          "currency": visit.form.get("currency", "").strip()})
        return (f"Credit line of {hierarchy_id} set to {format_amount(line.limit)} {line.currency} "
                f"({format_amount(line.available)} available).")

    return _outcome(visit, _partner_path(hierarchy_id), set_line)


@bp.function_name("console_partner_users")
@bp.route(route="console/partners/{hierarchyId}/users", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_users(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id = req.route_params["hierarchyId"]

    def add() -> str:
        fields = {name: visit.form.get(name, "").strip() for name in ("firstName", "lastName", "email", "role",
                                                                       "spendingLimit")}
        payload = {"operator": visit.operator, **{k: v for k, v in fields.items() if v}}
        added = container().partner_users.add_by_operator(hierarchy_id, payload)
        user = added.user
        return _said(added.created, f"Added {user.email} as {user.role.value}: Pending until the next user sync.",
                     f"{user.email} was added with these details before.")

    return _outcome(visit, _partner_path(hierarchy_id), add)


@bp.function_name("console_partner_user")
@bp.route(route="console/partners/{hierarchyId}/users/{userId}", methods=["GET", "POST"],
          auth_level=func.AuthLevel.ANONYMOUS)
@console_view("act")
def console_partner_user(req: func.HttpRequest, visit: ConsoleVisit) -> func.HttpResponse:
    hierarchy_id, user_id = req.route_params["hierarchyId"], req.route_params["userId"]
    users, location = container().partner_users, _partner_path(hierarchy_id)
    if req.method == "GET":  # the confirmation of a demotion or a removal
        change = req.params.get("change", "")
        if change not in _CHANGES:
            raise InvalidInput([("change", "must be demote or remove")])
        file = container().partner_admin.file(hierarchy_id)
        user = next((u for u in file.users if u.id == user_id), None)
        if user is None:
            return visit.done(location, f"Not done: {hierarchy_id} has no such user.", refused=True)
        return visit.page("console/partner_confirm.html", file=file, path=location, change=change, user=user)

    change = visit.form.get("change", "")

    def act() -> str:
        operator = {"operator": visit.operator}
        if change == "remove":
            user = users.remove_by_operator(hierarchy_id, user_id, operator)
            return f"Removed {user.email}: the next user sync takes it out of the hierarchy (the customer stays)."
        if change in ("admin", "demote"):
            role = "Admin" if change == "admin" else "User"
            before = next((u.version for u in container().operator.partner_users(hierarchy_id) if u.id == user_id),
                          None)
            user = users.edit_by_operator(hierarchy_id, user_id, {**operator, "role": role})
            return _said(user.version != before, f"{user.email} is {role} now (the next user sync applies it).",
                         f"{user.email} is {role} already.")
        raise InvalidInput([("change", "must be admin, demote or remove")])

    return _outcome(visit, location, act)
