"""The simulator answers as Microsoft documents the Dataverse Web API where the gateway depends on it
(raw HTTP here, no gateway): so that the gateway's tests rest on checked ground."""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.dataverse_sim import DataverseSimulator, SalesClient, SalesClientError

LEAD = "6f1d2c1e-4b8a-5e0f-9c3d-b2b0a1ce0001"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def sim(clock):
    with DataverseSimulator(monotonic=clock) as simulator:
        yield simulator


@pytest.fixture
def http(sim):
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {sim.issue_token()}", "Accept": "application/json",
                            "OData-Version": "4.0", "OData-MaxVersion": "4.0"})
    yield lambda method, path, **kw: session.request(method, sim.api_url + path, timeout=5, **kw)
    session.close()


def lead_body(lead_id: str = LEAD, **extra) -> dict:
    return {"leadid": lead_id, "subject": "B2B partner request", "firstname": "Åsa", "lastname": "Öberg",
            "companyname": "Company AB", "cr_b2bprospectnumber": "PRO-000001",
            "Lead_Annotation": [{"subject": "Created", "notetext": "by the integration"}], **extra}


def test_a_bearer_token_is_required(sim):
    answer = requests.get(sim.api_url + "leads", timeout=5)
    assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers
    assert requests.get(sim.api_url + "leads", headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401


def test_create_answers_204_with_the_entity_id_or_201_with_the_record(http, sim):
    plain = http("POST", "leads", json=lead_body())
    assert plain.status_code == 204 and plain.text == ""
    assert plain.headers["OData-EntityId"] == f"{sim.api_url}leads({LEAD})"
    other = str(uuid.uuid4())
    represented = http("POST", "leads?$select=leadid,statecode,statuscode,cr_b2bprospectnumber",
                       json=lead_body(other.upper()), headers={"Prefer": "return=representation"})
    assert represented.status_code == 201
    body = represented.json()
    assert body["leadid"] == other and body["@odata.etag"].startswith('W/"')
    assert (body["statecode"], body["statuscode"], body["cr_b2bprospectnumber"]) == (0, 1, "PRO-000001")
    assert "subject" not in body  # $select is honoured


def test_a_second_create_with_the_same_key_is_412_duplicate_key(http, sim):
    http("POST", "leads", json=lead_body())
    again = http("POST", "leads", json=lead_body(LEAD.upper()))
    assert again.status_code == 412
    assert again.json()["error"] == {"code": "0x80040237", "message": "A record with matching key values already exists."}
    assert sim.lead_count() == 1 and len(sim.notes(LEAD)) == 1


def test_patch_upsert_with_if_none_match_and_if_match(http, sim):
    assert http("PATCH", f"leads({LEAD})", json={"subject": "new"}, headers={"If-Match": "*"}).status_code == 404
    assert http("PATCH", f"leads({LEAD})", json={"subject": "new"}, headers={"If-None-Match": "*"}).status_code == 204
    refused = http("PATCH", f"leads({LEAD})", json={"subject": "again"}, headers={"If-None-Match": "*"})
    assert refused.status_code == 412 and "matching key values already exists" in refused.json()["error"]["message"]
    assert http("PATCH", f"leads({LEAD})", json={"subject": "update"}, headers={"If-Match": "*"}).status_code == 204
    assert sim.lead(LEAD)["subject"] == "update" and sim.lead_count() == 1


def test_unknown_columns_and_overlong_values_are_400(http):
    unknown = http("POST", "leads", json=lead_body(cr_nosuchcolumn="x"))
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "0x80060888"
    too_long = http("POST", "leads", json=lead_body(firstname="x" * 51))
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "0x80044331"
    assert http("GET", "leads?$select=nosuchcolumn").status_code == 400
    assert http("GET", "leads(not-a-guid)").status_code == 400


def test_filter_comparisons_null_checks_and_lookup_columns(http, sim):
    http("POST", "leads", json=lead_body())
    other = str(uuid.uuid4())
    http("POST", "leads", json={"leadid": other, "subject": "a salesperson's own lead", "lastname": "Other"})
    created = sim.lead(LEAD)["modifiedon"]

    def ids(query: str) -> list[str]:
        answer = http("GET", "leads?$select=leadid&" + query)
        assert answer.status_code == 200, answer.text
        return sorted(row["leadid"] for row in answer.json()["value"])

    assert ids("$filter=cr_b2bprospectnumber ne null") == [LEAD]
    assert ids("$filter=cr_b2bprospectnumber eq null") == [other]
    assert ids(f"$filter=modifiedon ge {created} and statecode eq 0") == sorted([LEAD, other])
    assert ids(f"$filter=modifiedon gt {created}") == []
    assert ids("$filter=modifiedon gt 2000-01-01T00:00:00Z and statecode ne 1") == sorted([LEAD, other])
    opportunity = SalesClient(sim.api_url, sim.issue_token("a salesperson")).qualify(LEAD)["opportunity"]
    found = http("GET", "opportunities?$select=opportunityid&$filter=originatingleadid/cr_b2bprospectnumber ne null")
    assert [row["opportunityid"] for row in found.json()["value"]] == [opportunity]
    assert http("GET", "opportunities?$filter=nosuchlookup/name ne null").status_code == 400
    assert http("GET", "opportunities?$filter=originatingleadid/nosuchcolumn ne null").status_code == 400
    assert http("GET", "leads?$filter=modifiedon gt null").status_code == 400
    assert http("GET", "leads?$filter=subject has 'x'").status_code == 400


def test_get_with_select_expand_and_etag(http):
    http("POST", "leads", json=lead_body())
    answer = http("GET", f"leads({LEAD})?$select=subject,_ownerid_value&$expand=Lead_Annotation($select=notetext)")
    body = answer.json()
    assert body["Lead_Annotation"][0]["notetext"] == "by the integration" and body["_ownerid_value"]
    assert http("GET", f"leads({LEAD})", headers={"If-None-Match": body["@odata.etag"]}).status_code == 304
    assert http("GET", f"leads({uuid.uuid4()})").status_code == 404


def test_qualify_lead_creates_account_contact_opportunity_linked_to_the_lead(http, sim):
    http("POST", "leads", json=lead_body())
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    created = salesperson.qualify(LEAD)
    assert set(created) == {"account", "contact", "opportunity"}
    for entity_set, logical in (("accounts", "account"), ("contacts", "contact"), ("opportunities", "opportunity")):
        assert sim.store.get(entity_set, created[logical])["_originatingleadid_value"] == LEAD
    lead = http("GET", f"leads({LEAD})?$select=statecode,statuscode,_qualifyingopportunityid_value").json()
    assert (lead["statecode"], lead["statuscode"], lead["_qualifyingopportunityid_value"]) == (1, 3, created["opportunity"])
    with pytest.raises(SalesClientError) as again:
        salesperson.qualify(LEAD)
    assert again.value.status == 400  # a closed lead cannot be qualified again
    found = http("GET", f"opportunities?$filter=_originatingleadid_value eq {LEAD}"
                        "&$expand=parentaccountid($select=name),parentcontactid($select=lastname)").json()["value"]
    assert found[0]["parentaccountid"]["name"] == "Company AB" and found[0]["parentcontactid"]["lastname"] == "Öberg"


def test_win_and_lose_close_the_opportunity_once(http, sim):
    http("POST", "leads", json=lead_body())
    salesperson = SalesClient(sim.api_url, sim.issue_token("a salesperson"))
    opportunity = salesperson.qualify(LEAD)["opportunity"]
    with pytest.raises(SalesClientError):
        salesperson.lose(opportunity, statuscode=3)  # 3 is a won status
    salesperson.win(opportunity)
    with pytest.raises(SalesClientError):
        salesperson.lose(opportunity)
    assert sim.store.get("opportunities", opportunity)["statecode"] == 1
    assert [e["MessageName"] for e in sim.store.events] == ["Create", "QualifyLead", "WinOpportunity"]


def _batch(changesets: list[list[dict]]) -> tuple[str, str]:
    lines = []
    for changeset in changesets:
        lines += ["--batch_1", "Content-Type: multipart/mixed; boundary=changeset_x", ""]
        for index, body in enumerate(changeset, 1):
            lines += ["--changeset_x", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                      f"Content-ID: {index}", "", "POST /api/data/v9.2/leads HTTP/1.1",
                      "Content-Type: application/json", "", requests.compat.json.dumps(body)]
        lines += ["--changeset_x--"]
    lines += ["--batch_1--", ""]
    return 'multipart/mixed; boundary="batch_1"', "\r\n".join(lines)


def test_a_failing_changeset_rolls_back_alone_with_continue_on_error(http, sim):
    ids = [str(uuid.uuid4()) for _ in range(4)]
    content_type, body = _batch([[lead_body(ids[0])], [lead_body(ids[1]), lead_body(ids[1])], [lead_body(ids[2])]])
    answer = http("POST", "$batch", data=body.encode(), headers={"Content-Type": content_type,
                                                                 "Prefer": "odata.continue-on-error"})
    assert answer.status_code == 200
    assert answer.text.count("HTTP/1.1 204") == 2 and answer.text.count("HTTP/1.1 412") == 1
    assert sim.lead(ids[0]) and sim.lead(ids[2]) and sim.lead(ids[1]) is None  # the second changeset rolled back
    content_type, body = _batch([[lead_body(ids[0])], [lead_body(ids[3])]])
    stopped = http("POST", "$batch", data=body.encode(), headers={"Content-Type": content_type})
    assert stopped.status_code == 412 and sim.lead(ids[3]) is None  # without it, the batch stops at the first error


def test_the_window_slides_and_rejected_requests_do_not_count(clock):
    with DataverseSimulator(max_requests=2, window_seconds=10, monotonic=clock) as sim:
        headers = {"Authorization": f"Bearer {sim.issue_token()}"}
        get = lambda: requests.get(sim.api_url + "leads", headers=headers, timeout=5)  # noqa: E731
        assert get().status_code == 200
        clock.now += 4
        assert get().status_code == 200
        refused = get()
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "6"
        assert refused.json()["error"]["code"] == "0x80072322"
        clock.now += 6
        assert get().status_code == 200  # the first left the window; the refused one never entered it
        other = {"Authorization": f"Bearer {sim.issue_token('someone else')}"}
        assert requests.get(sim.api_url + "leads", headers=other, timeout=5).status_code == 200  # per user


def test_the_managed_identity_endpoint_gives_the_production_credential_a_token(monkeypatch):
    """DefaultAzureCredential (what the app builds with SALES_MODE=dataverse) over the App Service managed
    identity protocol, against the simulator's endpoint: the gateway works with it, and a wrong client id,
    header or resource gets no token."""
    from azure.core.exceptions import ClientAuthenticationError

    from shared.adapters.dataverse_sales import DataverseSales, managed_identity_credential
    from tests.contract.factories import lead_draft
    from tests.dataverse_sim import running_simulator

    client_id = str(uuid.uuid4())
    with running_simulator() as sim:
        for name, value in sim.managed_identity(client_id).items():
            monkeypatch.setenv(name, value)
        for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        sales = DataverseSales(sim.url, managed_identity_credential(client_id))
        try:
            assert sales.create_lead(lead_draft(1)).prospect_number == "PRO-000001"
        finally:
            sales.close()
        assert sim.identity.requests[-1]["issued"] and sim.identity.requests[-1]["query"]["resource"] == sim.url
        assert [r["user"] for r in sim.requests_to("POST", "leads")] == ["commerce-b2b-integration"]

        with pytest.raises(ClientAuthenticationError):
            managed_identity_credential(str(uuid.uuid4())).get_token(f"{sim.url}/.default")
        with pytest.raises(ClientAuthenticationError):
            managed_identity_credential(client_id).get_token("https://other.crm.dynamics.com/.default")
        monkeypatch.setenv("IDENTITY_HEADER", "not-the-secret")
        with pytest.raises(ClientAuthenticationError):
            managed_identity_credential(client_id).get_token(f"{sim.url}/.default")
        assert [r["issued"] for r in sim.identity.requests[-3:]] == [False, False, False]
