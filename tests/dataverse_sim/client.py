"""What a salesperson's client (the Sales app) sends: QualifyLead, disqualify, WinOpportunity,
LoseOpportunity — over HTTP, with its own user's token."""
from __future__ import annotations

import requests

from shared.domain.sales import LEAD_QUALIFIED_STATUS, OPPORTUNITY_WON_STATUS


class SalesClientError(Exception):
    def __init__(self, response: requests.Response):
        super().__init__(f"{response.request.method} {response.url} -> {response.status_code}: {response.text}")
        self.status = response.status_code
        self.body = response.text


class SalesClient:
    def __init__(self, api_url: str, token: str, session: requests.Session | None = None, timeout: float = 5.0):
        self._api = api_url.rstrip("/") + "/"
        self._session = session or requests.Session()
        self._timeout = timeout
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json", "OData-Version": "4.0",
                         "OData-MaxVersion": "4.0", "Content-Type": "application/json; charset=utf-8"}

    def _call(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        response = self._session.request(method, self._api + path, json=body, headers=self._headers,
                                         timeout=self._timeout)
        if response.status_code >= 400:
            raise SalesClientError(response)
        return response

    def qualify(self, lead_id: str) -> dict[str, str]:
        """QualifyLead creating account, contact and opportunity; returns their ids by logical name."""
        response = self._call("POST", f"leads({lead_id})/Microsoft.Dynamics.CRM.QualifyLead", {
            "CreateAccount": True, "CreateContact": True, "CreateOpportunity": True, "Status": LEAD_QUALIFIED_STATUS})
        created = {}
        for record in response.json()["value"]:
            logical = record["@odata.type"].rsplit(".", 1)[-1]
            created[logical] = record[f"{logical}id"]
        return created

    def disqualify(self, lead_id: str, statuscode: int = 4) -> None:
        self._call("PATCH", f"leads({lead_id})", {"statecode": 2, "statuscode": statuscode})

    def win(self, opportunity_id: str, subject: str = "Won") -> None:
        self._call("POST", "WinOpportunity", {"Status": OPPORTUNITY_WON_STATUS, "OpportunityClose": {
            "subject": subject, "opportunityid@odata.bind": f"/opportunities({opportunity_id})"}})

    def lose(self, opportunity_id: str, statuscode: int = 4, subject: str = "Lost") -> None:
        self._call("POST", "LoseOpportunity", {"Status": statuscode, "OpportunityClose": {
            "subject": subject, "opportunityid@odata.bind": f"/opportunities({opportunity_id})"}})
