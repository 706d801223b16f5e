"""The managed identity endpoint of App Service / Azure Functions, as the simulator's token source for an
app in another process.

In Azure the platform runs this endpoint on the instance and sets ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER``; azure-identity's ``ManagedIdentityCredential`` (inside ``DefaultAzureCredential``)
then asks it ``GET <endpoint>?api-version=2019-08-01&resource=<scope without /.default>[&client_id=…]``
with the ``X-IDENTITY-HEADER`` header, over plain http to a local address. Client-secret credentials
cannot be pointed at a loopback token endpoint (MSAL accepts https authorities only), so this is the
one documented azure-identity path a test can serve honestly: the app runs its production credential
code unchanged, with the two environment variables the platform would set.

The endpoint issues a simulator bearer token for the integration user when the header is the secret, the
resource is the simulator's organization URL (what the gateway's scope ``<url>/.default`` becomes) and
the client id, when one is expected, is that one.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from tests.dataverse_sim.api import Answer

PATH = "/msi/token"
API_VERSION = "2019-08-01"
LIFETIME = 3600


class ManagedIdentityEndpoint:
    def __init__(self, resource: str, issue: Callable[[], str], client_id: str | None = None):
        self.secret = secrets.token_urlsafe(16)
        self.resource = resource.rstrip("/")
        self.client_id = client_id
        self._issue = issue
        self.requests: list[dict] = []  # query and whether it was answered with a token

    def answer(self, raw_path: str, headers) -> Answer:
        query = {name: values[0] for name, values in parse_qs(urlsplit(raw_path).query).items()}
        problem = self._problem(query, headers)
        self.requests.append({"query": query, "issued": problem is None})
        if problem is not None:
            status, message = problem
            return _json(status, {"error": "invalid_request", "error_description": message})
        expires_on = int(time.time()) + LIFETIME
        return _json(200, {"access_token": self._issue(), "expires_on": str(expires_on), "resource": self.resource,
                           "token_type": "Bearer", "client_id": query.get("client_id", "")})

    def _problem(self, query: dict[str, str], headers) -> tuple[int, str] | None:
        if headers.get("X-IDENTITY-HEADER") != self.secret:
            return 401, "X-IDENTITY-HEADER is missing or wrong"
        if query.get("api-version") != API_VERSION:
            return 400, f"api-version must be {API_VERSION}"
        if query.get("resource", "").rstrip("/") != self.resource:
            return 400, f"no such resource: {query.get('resource')!r} (this organization is {self.resource})"
        if self.client_id is not None and query.get("client_id") != self.client_id:
            return 400, f"no managed identity with client_id {query.get('client_id')!r} on this app"
        return None


def _json(status: int, value: dict) -> Answer:
    return Answer(status, {"Content-Type": "application/json"}, json.dumps(value).encode())
