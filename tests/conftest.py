"""Fixtures that every test folder can use."""
import os

import pytest

from devhost.azurite import AzuriteProcess, missing_reason


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite on free loopback ports for the whole session (started by the first test that asks).

    Without Node or the project's Azurite, its tests are skipped, except in CI (CI=true): there they fail."""
    reason = missing_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}. CI must run the Azure Storage tests.", pytrace=False)
        pytest.skip(reason)
    with AzuriteProcess(tmp_path_factory.mktemp("azurite")) as running:
        yield running


@pytest.fixture(scope="session")
def _local_issuer():
    from tests.auth_keys import LocalIssuer

    with LocalIssuer() as issuer:
        yield issuer


@pytest.fixture
def jwks(_local_issuer):
    """A token issuer whose JWKS is served on loopback (tests/auth_keys.py), reset for each test: one published
    key, no fetches counted. Keys are made once a session; each test's verifier has its own key cache."""
    _local_issuer.reset()
    return _local_issuer
