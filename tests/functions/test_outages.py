"""A storage outage met by a request is answered 503 with Retry-After ("try again"), never 500; our own faults stay
500, so they are not hidden."""
from __future__ import annotations

import json
import sqlite3

import azure.functions as func
import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from functions.signups import signup_intake
from shared.adapters.outages import is_outage
from tests.services.flow import signup_body


class _Answer:  # what HttpResponseError reads from a transport's response
    def __init__(self, status: int):
        self.status_code, self.reason, self.headers = status, "x", {}

    def text(self, encoding=None):
        return ""


@pytest.mark.parametrize("error, outage", [
    (ServiceRequestError("connection refused"), True),
    (ServiceResponseError("read timed out"), True),
    (HttpResponseError(response=_Answer(503)), True),
    (HttpResponseError(response=_Answer(429)), True),
    (HttpResponseError(response=_Answer(404)), False),
    (HttpResponseError(response=_Answer(412)), False),
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("no such table: signups"), False),
    (RuntimeError("a bug"), False),
])
def test_which_errors_are_outages(error, outage):
    assert is_outage(error) is outage


def _post() -> func.HttpResponse:
    return signup_intake(func.HttpRequest("POST", "http://localhost:7071/api/signups",
                                          headers={"content-type": "application/json"},
                                          body=json.dumps(signup_body()).encode()))


@pytest.mark.parametrize("error", [ServiceResponseError("read timed out"), sqlite3.OperationalError("database is locked")])
def test_a_store_outage_is_answered_try_again(app_container, monkeypatch, error):
    def unavailable(*args, **kwargs):
        raise error

    monkeypatch.setattr(type(app_container.store), "unit_of_work", unavailable)
    response = _post()
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert json.loads(response.get_body())["status"] == 503


def test_our_own_fault_stays_a_500(app_container, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(type(app_container.store), "unit_of_work", broken)
    assert _post().status_code == 500
