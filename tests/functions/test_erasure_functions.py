"""POST /api/backoffice/prospects/{key}/erase and the timers of functions/erasure.py, with real azure.functions
requests: 200 with what was removed, 409 saying what to do for a partner or an open prospect, 422 without a
reason, 404 for no prospect; the retention and digest timers call their services."""
from __future__ import annotations

import azure.functions as func

from functions.erasure import backoffice_erase, bp, merchant_digest, retention
from shared.domain.audit import AuditAction
from tests.functions.test_back_office_prospect_function import answer, post
from tests.services.flow import synced, work

URL = "http://localhost:7071/api/backoffice/prospects/{}/erase"


def test_the_routes_and_timers_of_the_blueprint():
    triggers = {b._function.get_function_name(): b._function.get_trigger() for b in bp._function_builders}
    assert {name: getattr(t, "route", None) or t.schedule for name, t in triggers.items()} == {
        "console_prospect_erase": "console/prospects/{key}/erase",
        "backoffice_erase": "backoffice/prospects/{key}/erase",
        "retention": "%RETENTION_SCHEDULE%",
        "merchant_digest": "%OPERATOR_DIGEST_SCHEDULE%",
    }
    assert triggers["backoffice_erase"].auth_level is func.AuthLevel.FUNCTION


def erase(key: str, payload: object) -> func.HttpResponse:
    return post(backoffice_erase, URL.format(key), {"key": key}, payload)


def test_erase_over_http(app_container):
    c = app_container
    synced(c, 1, 3)
    c.back_office.reject("PRO-000001", "not a retailer", "setup")
    work(c)

    refused = erase("PRO-000002", {"operator": "alice", "reason": "asked"})
    assert refused.status_code == 409 and "not decided yet: reject it first" in answer(refused)["detail"]
    missing = erase("PRO-000001", {"operator": "alice"})
    assert missing.status_code == 422 and [e["field"] for e in answer(missing)["errors"]] == ["reason"]
    assert erase("PRO-999999", {"operator": "alice", "reason": "asked"}).status_code == 404

    done = erase("pro-000001", {"operator": "alice", "reason": "the applicant asked"})
    assert done.status_code == 200
    assert answer(done) == {"about": "prospect PRO-000001", "changed": True, "emails": 2, "keptEmails": 2,
                            "queueMessages": 0}
    again = erase("PRO-000001", {"operator": "alice", "reason": "twice"})
    assert again.status_code == 200 and answer(again)["changed"] is False
    assert [e.operator for e in c.operator.audit() if e.action is AuditAction.ERASE] == ["alice"]


def test_the_timers_run_their_services(app_container, monkeypatch):
    called = []
    monkeypatch.setattr(type(app_container.erasure), "run", lambda self: called.append("retention"))
    monkeypatch.setattr(type(app_container.merchant_notice), "send_digest", lambda self: called.append("digest"))
    retention(None)
    merchant_digest(None)
    assert called == ["retention", "digest"]
