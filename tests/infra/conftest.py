"""Validation of infra/ without a Bicep compiler: pycep parses it, checkov scans it, the tests read it.

pycep-parser and checkov come with requirements-dev.txt. Without them the tests here are skipped, except
in CI: there a missing tool is a failure, never a skip (tests/parts.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.infra.bicep_tree import INFRA, BicepFile, load_all
from tests.parts import missing_part

PROBE_CHECKS = Path(__file__).parent / "checkov_probe"
PROBE_ID = "CKV_B2B_SEEN"


def unavailable(reason: str) -> NoReturn:
    missing_part(f"the infra validation cannot run: {reason}")


def checkov_executable() -> Path:
    """The checkov of the interpreter running the tests (the venv's), not whatever is on PATH."""
    return Path(sys.executable).parent / ("checkov.cmd" if os.name == "nt" else "checkov")


def run_checkov(directory: Path, *extra: str) -> dict[str, Any]:
    """checkov's JSON report for the Bicep files under ``directory``."""
    executable = checkov_executable()
    if not executable.exists():
        unavailable(f"checkov is not installed next to {sys.executable} (pip install -r requirements-dev.txt)")
    completed = subprocess.run(
        [str(executable), "-d", str(directory), "--framework", "bicep", "--output", "json",
         "--skip-download", "--compact", *extra],
        capture_output=True, text=True, timeout=180,
    )
    # Exit code 1 means "failed checks" and is judged by the tests; anything else is checkov failing.
    if completed.returncode not in (0, 1) or not completed.stdout.strip():
        pytest.fail(f"checkov exited {completed.returncode}:\n{completed.stderr[-3000:]}", pytrace=False)
    report = json.loads(completed.stdout)
    if isinstance(report, list):  # one entry per framework when several ran
        report = next((r for r in report if r.get("check_type") == "bicep"), {})
    if not report.get("summary"):
        pytest.fail(f"checkov reported nothing for {directory}:\n{completed.stdout[:2000]}", pytrace=False)
    return report


@pytest.fixture(scope="session")
def pycep_available() -> None:
    try:
        import pycep  # noqa: F401
    except ImportError:
        unavailable("pycep-parser is not installed (pip install -r requirements-dev.txt)")


@pytest.fixture(scope="session")
def bicep(pycep_available) -> dict[str, BicepFile]:
    """Every infra/ file parsed, keyed by its path under infra/ ('app/api.bicep')."""
    return {path.relative_to(INFRA).as_posix(): file for path, file in load_all().items()}


@pytest.fixture(scope="session")
def checkov_report() -> dict[str, Any]:
    """One checkov run over infra/ for the session, with a probe check that passes on every resource so
    that each file checkov actually parsed shows up in the results."""
    return run_checkov(INFRA, "--external-checks-dir", str(PROBE_CHECKS))
