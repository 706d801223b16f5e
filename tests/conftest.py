"""Fixtures that every test folder can use, and the CI rule: under CI no test may be skipped."""
import pytest

from devhost.azurite import AzuriteProcess, missing_reason
from tests.parts import in_ci, missing_part


@pytest.fixture(scope="session")
def azurite(tmp_path_factory):
    """Azurite on free loopback ports for the whole session (started by the first test that asks).

    Without Node or the project's Azurite, its tests are skipped, except in CI: there they fail (tests/parts.py)."""
    reason = missing_reason()
    if reason:
        missing_part(f"{reason}. CI must run the Azure Storage tests.")
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


def _skipped_in_ci(report) -> bool:
    # An xfail is reported as skipped too; it is an expected failure, not a test that did not run.
    return in_ci() and report.skipped and not hasattr(report, "wasxfail")


def _ci_failure(report, what: str) -> None:
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"{what} was skipped, and under CI nothing may be skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI a skip is a failure, whatever skipped: tests/parts.py's missing_part fails already, and this
    catches the rest (a bare pytest.skip, a skip or skipif mark, an empty parametrize)."""
    outcome = yield
    report = outcome.get_result()
    if _skipped_in_ci(report):
        _ci_failure(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """The same for a whole module skipped while it is collected (pytest.importorskip, allow_module_level)."""
    outcome = yield
    report = outcome.get_result()
    if _skipped_in_ci(report):
        _ci_failure(report, collector.nodeid)
