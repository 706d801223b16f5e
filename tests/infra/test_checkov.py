"""checkov over infra/: it must read every file (a file it cannot parse is skipped silently, exit code 0)
and find nothing, or each finding must be suppressed in the Bicep with a written reason:
`// checkov:skip=CKV_AZURE_XX:why`, inside the resource's body."""
from __future__ import annotations

import re
import shutil

from tests.infra.bicep_tree import INFRA, bicep_files
from tests.infra.conftest import PROBE_ID, run_checkov

SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def _results(report, kind):
    return report["results"].get(kind, [])


def _relative(file_path: str) -> str:
    return file_path.lstrip("/")


def test_checkov_parses_every_file(checkov_report):
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {checkov_report['results'].get('parsing_errors')}"
    assert summary["resource_count"] > 0
    seen = {_relative(r["file_path"]) for r in _results(checkov_report, "passed_checks") if r["check_id"] == PROBE_ID}
    expected = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert seen == expected, f"checkov saw no resources in: {sorted(expected - seen)}"


def test_checkov_finds_no_failures(checkov_report):
    real = [r for r in _results(checkov_report, "passed_checks") if r["check_id"] != PROBE_ID]
    assert real, "checkov ran no real checks: is the Bicep framework still scanning?"
    failures = [f"{r['check_id']} {_relative(r['file_path'])}:{r['file_line_range']} {r['resource']}: {r['check_name']}"
                for r in _results(checkov_report, "failed_checks")]
    assert not failures, "fix, or suppress inside the resource with `// checkov:skip=ID:reason`:\n" + "\n".join(failures)


def test_every_suppression_has_a_reason_and_is_used(checkov_report):
    written = []
    for path in bicep_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP_COMMENT.search(line)
            if match:
                where = f"{path.relative_to(INFRA)}:{number}"
                reason = (match.group(2) or "").strip()
                assert line.strip().startswith("// checkov:skip="), f"{where}: not a `// checkov:skip=` line"
                assert len(reason.split()) >= 4, f"{where}: {match.group(1)} needs a written reason"
                written.append((path.relative_to(INFRA).as_posix(), match.group(1)))
    skipped = {(_relative(r["file_path"]), r["check_id"]) for r in _results(checkov_report, "skipped_checks")}
    stale = sorted(set(written) - skipped)
    assert not stale, f"suppressions checkov did not apply (misplaced, or the finding is gone): {stale}"


def test_checkov_reports_a_file_it_cannot_parse(tmp_path):
    """Canary for the first test: a broken file must show up as a parsing error, not vanish."""
    shutil.copy(INFRA / "core" / "identity.bicep", tmp_path / "good.bicep")
    (tmp_path / "broken.bicep").write_text("resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n")
    report = run_checkov(tmp_path)
    assert report["summary"]["parsing_errors"] == 1, report["summary"]
