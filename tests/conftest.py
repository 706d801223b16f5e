"""Fixtures that every test folder can use, and the CI rule: under CI no test may be skipped."""
from pathlib import Path

import pytest

from devhost.azurite import AzuriteProcess, missing_reason
from tests.log_checks import debug_logging_that_reports_errors
from tests.parts import in_ci, missing_part


# The host and service tests log at DEBUG, as an operator chasing a fault would run (tests/log_checks.py): a
# log call that raises (an ``extra=`` key that is a LogRecord attribute: KeyError) or a record no formatter can
# format fails the test instead of waiting for LOG_LEVEL=INFO in production. Other folders keep WARNING.
DEBUG_LOGGED_FOLDERS = frozenset({"services", "functions", "devhost", "e2e"})
_TESTS = Path(__file__).resolve().parent


def _debug_logged(request) -> bool:
    try:
        folder = Path(request.node.path).resolve().relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        return False
    return folder in DEBUG_LOGGED_FOLDERS


@pytest.fixture(autouse=True)
def log_everything_and_fail_on_log_errors(request, monkeypatch):
    """In DEBUG_LOGGED_FOLDERS: logging at DEBUG (LOG_LEVEL=DEBUG too, for a container built from the
    environment), and the test fails when a log call raised or a record could not be formatted, even where
    the code under test swallowed the exception."""
    if not _debug_logged(request) or request.node.get_closest_marker("log_errors_expected"):
        yield
        return
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    with debug_logging_that_reports_errors() as failures:
        yield
    if failures:
        pytest.fail("logging failed during the test:\n" + "\n".join(failures), pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "log_errors_expected: a test of the log checks themselves; the autouse "
                                       "fixture leaves its log errors alone")


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
