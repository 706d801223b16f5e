"""All prospects for automation: GET /api/backoffice/prospects (JSON pages with cursors and counts) and
/api/backoffice/prospects.csv (the filter's rows), function-keyed; a bad query value is a 400 problem+json."""
from __future__ import annotations

import csv
import io
import json
import logging

import azure.functions as func
import pytest

from functions.prospect_list import backoffice_prospects, backoffice_prospects_csv, bp
from shared.domain.model import ProspectStatus
from shared.domain.prospect_directory import ProspectSummary
from shared.services.prospect_directory import csv_cells
from tests.contract.factories import prospect
from tests.services.flow import signup_body

URL = "http://localhost:7071/api/backoffice/prospects"


def get(function, **params: str) -> func.HttpResponse:
    return function(func.HttpRequest("GET", URL, params=params, body=b""))


def answer(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())


def submitted(c, *bodies: dict) -> None:
    for body in bodies:
        c.intake.submit(body)
    c.channel_sync.run()


def with_company(n: int, name: str, vat: str | None = None) -> dict:
    body = signup_body(n)
    body["company"]["name"] = name
    if vat:
        body["company"]["vat_number"] = vat
    return body


def test_routes_take_a_function_key_of_their_own():
    """Not the admin (master) key: automation gets a key that can be revoked alone."""
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: (t.route, t.auth_level, [m.value for m in t.methods]) for name, t in triggers.items()} == {
        "backoffice_prospects": ("backoffice/prospects", func.AuthLevel.FUNCTION, ["GET"]),
        "backoffice_prospects_csv": ("backoffice/prospects.csv", func.AuthLevel.FUNCTION, ["GET"]),
    }


def test_pages_walk_forward_and_back_with_the_counts(app_container):
    submitted(app_container, *(signup_body(n) for n in range(1, 6)))
    first = get(backoffice_prospects, limit="2")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    page = answer(first)
    assert [r["number"] for r in page["prospects"]] == ["PRO-000005", "PRO-000004"]  # newest first
    assert page["counts"] == {"Pending": 5, "Approved": 0, "Rejected": 0, "attention": 0}
    assert page["previousCursor"] is None and page["nextCursor"]
    row = page["prospects"][0]
    assert (row["company"], row["requesterEmail"], row["country"], row["channel"], row["status"]) == (
        "Company 5 & Sons", "person5@example.com", "SE", "b2b-web", "Pending")
    second = answer(get(backoffice_prospects, limit="2", cursor=page["nextCursor"]))
    assert [r["number"] for r in second["prospects"]] == ["PRO-000003", "PRO-000002"]
    last = answer(get(backoffice_prospects, limit="2", cursor=second["nextCursor"]))
    assert [r["number"] for r in last["prospects"]] == ["PRO-000001"] and last["nextCursor"] is None
    back = answer(get(backoffice_prospects, limit="2", cursor=last["previousCursor"]))
    assert [r["number"] for r in back["prospects"]] == ["PRO-000003", "PRO-000002"]
    start = answer(get(backoffice_prospects, limit="2", cursor=back["previousCursor"]))
    assert [r["number"] for r in start["prospects"]] == ["PRO-000005", "PRO-000004"]
    assert start["previousCursor"] is None
    oldest = answer(get(backoffice_prospects, limit="2", sort="oldest"))
    assert [r["number"] for r in oldest["prospects"]] == ["PRO-000001", "PRO-000002"]


def test_filters_and_a_search_without_case_or_accents(app_container):
    submitted(app_container, with_company(1, "Söderberg & Öhman AB", vat="SE 556677-8899 01"),
              with_company(2, "Fabrikam AB"), with_company(3, "Søndergaard ApS"))
    app_container.back_office.reject("PRO-000002", "not a retailer", "alice")

    def numbers(**params: str) -> list[str]:
        return [r["number"] for r in answer(get(backoffice_prospects, **params))["prospects"]]

    assert numbers(q="soderberg") == ["PRO-000001"]
    assert numbers(q="SONDERG") == ["PRO-000003"]  # ø, which Unicode does not decompose, folds too
    assert numbers(q="se5566778899") == ["PRO-000001"]  # a VAT number typed without spaces and dashes
    assert numbers(q="person2@") == ["PRO-000002"]
    assert numbers(q="pro-000003") == ["PRO-000003"]
    assert numbers(status="rejected") == ["PRO-000002"]
    assert numbers(status="pending", sort="oldest") == ["PRO-000001", "PRO-000003"]
    assert numbers(channel="b2b-web", q="fab") == ["PRO-000002"]
    assert numbers(channel="elsewhere") == []
    assert numbers(attention="true") == []
    received = app_container.operator.prospect("PRO-000001").prospect.created_at
    assert numbers(**{"from": received.date().isoformat(), "to": received.date().isoformat()}) == [
        "PRO-000003", "PRO-000002", "PRO-000001"]
    assert numbers(**{"from": "2000-01-02", "to": "2000-01-01"}) == []  # from after to: nothing, no error
    assert numbers(status="", q="", attention="") == ["PRO-000003", "PRO-000002", "PRO-000001"]  # empty: no filter


@pytest.mark.parametrize("params, field", [
    ({"status": "approvedd"}, "status"), ({"attention": "maybe"}, "attention"), ({"from": "31/01/2026"}, "from"),
    ({"to": "2026-02-30"}, "to"), ({"sort": "random"}, "sort"), ({"limit": "0"}, "limit"),
    ({"limit": "5000"}, "limit"), ({"limit": "ten"}, "limit"), ({"cursor": "not-a-cursor"}, "cursor"),
    ({"q": "x" * 101}, "q"), ({"status": "Pending"}, "status"), ({"channel": "b2b web"}, "channel"),
    ({"from": "2026-01-31T12:00:00Z"}, "from"), ({"limit": ""}, "limit"), ({"cursor": ""}, "cursor"),
])
def test_a_bad_query_value_is_a_400_naming_it(app_container, params, field):
    for function in (backoffice_prospects, backoffice_prospects_csv):
        response = get(function, **params)
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        assert [e["field"] for e in answer(response)["errors"]] == [field]


def test_a_cursor_of_another_filter_is_refused(app_container):
    submitted(app_container, *(signup_body(n) for n in range(1, 4)))
    cursor = answer(get(backoffice_prospects, limit="1"))["nextCursor"]
    refused = get(backoffice_prospects, limit="1", cursor=cursor, status="pending")
    assert refused.status_code == 400 and "another filter" in answer(refused)["errors"][0]["message"]
    assert get(backoffice_prospects, limit="1", cursor=cursor).status_code == 200
    assert get(backoffice_prospects, limit="5", cursor=cursor).status_code == 200  # the page size may change


def test_the_csv_has_every_row_of_the_filter(app_container):
    submitted(app_container, *(signup_body(n) for n in range(1, 4)), with_company(4, "=HYPERLINK(\"x\")"))
    app_container.back_office.reject("PRO-000002", "not a retailer", "alice")
    response = get(backoffice_prospects_csv, status="pending", sort="oldest")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="prospects.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_body().decode("utf-8-sig"))))
    assert [r["number"] for r in rows] == ["PRO-000001", "PRO-000003", "PRO-000004"]
    assert rows[0]["requester_email"] == "person1@example.com" and rows[0]["status"] == "Pending"
    assert rows[2]["company"] == "'=HYPERLINK(\"x\")"  # shown as text, never run


def test_the_csv_reads_the_list_a_page_at_a_time(app_container, monkeypatch):
    """More rows than one export page: each page of the store is read once, none of them twice."""
    import shared.services.prospect_directory as directory

    monkeypatch.setattr(directory, "EXPORT_PAGE", 2)
    submitted(app_container, *(signup_body(n) for n in range(1, 6)))
    body = get(backoffice_prospects_csv).get_body().decode("utf-8-sig")
    assert [r["number"] for r in csv.DictReader(io.StringIO(body))] == [f"PRO-00000{n}" for n in range(5, 0, -1)]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_a_spreadsheet_would_run_is_made_text(value):
    row = ProspectSummary.of(prospect(1)).model_copy(update={"company": value, "requester": value})
    cells = dict(zip(("number", "status", "company", "requester"), csv_cells(row)))
    assert cells["company"] == "'" + value and cells["requester"] == "'" + value
    assert cells["number"] == "PRO-000001"


def test_no_personal_data_in_the_logs(app_container, caplog):
    submitted(app_container, signup_body(7))
    caplog.set_level(logging.DEBUG)
    get(backoffice_prospects, q="person7@example.com")
    get(backoffice_prospects_csv, q="company 7")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "prospect page" in logged and "prospects exported" in logged
    assert "person7" not in logged and "company 7" not in logged.lower()


def test_counts_follow_decisions(app_container):
    submitted(app_container, *(signup_body(n) for n in range(1, 4)))
    app_container.back_office.reject("PRO-000001", "no", "alice")
    counts = answer(get(backoffice_prospects))["counts"]
    assert counts[ProspectStatus.PENDING.value] == 2 and counts[ProspectStatus.REJECTED.value] == 1
