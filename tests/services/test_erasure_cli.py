"""`b2b erase`, `b2b retention` and `b2b digest`: the CLI calls the services the console, the JSON route and the
timers call."""
from __future__ import annotations

from tests.services.test_cli import run


def test_erase_a_rejected_prospect_and_be_refused_for_the_partner(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0  # PRO-000001 approved, PRO-000002 and 3 rejected
    code, out = run(capsys, "--data-dir", data, "erase", "PRO-000002", "--reason", "the applicant asked",
                    "--operator", "alice")
    assert code == 0 and out.startswith("prospect PRO-000002: personal data erased (2 emails")
    code, out = run(capsys, "--data-dir", data, "erase", "pro-000002", "--reason", "again")
    assert code == 0 and "erased already; nothing changed" in out
    code, out = run(capsys, "--data-dir", data, "erase", "PRO-000001", "--reason", "the applicant asked")
    assert code == 1 and "PRO-000001 is an approved partner (CH-000001)" in out and "Remove the person" in out
    code, out = run(capsys, "--data-dir", data, "erase", "PRO-000002", "--reason", " ")
    assert code == 1 and "reason" in out
    code, out = run(capsys, "--data-dir", data, "prospect", "PRO-000002")
    assert "personal data erased" in out
    code, out = run(capsys, "--data-dir", data, "audit")
    assert "erase" in out and "prospect PRO-000002" in out


def test_retention_and_digest_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RETENTION_DAYS", "0")
    code, out = run(capsys, "--data-dir", str(tmp_path), "retention")
    assert code == 0 and "RETENTION_DAYS=0" in out
    monkeypatch.setenv("RETENTION_DAYS", "30")
    code, out = run(capsys, "--data-dir", str(tmp_path), "retention")
    assert code == 0 and "0 prospects" in out
    code, out = run(capsys, "--data-dir", str(tmp_path), "digest", "--day", "2026-12-03")
    assert code == 0 and "2026-12-03: 0 new prospects" in out and "OPERATOR_NOTICE=off" in out
    code, out = run(capsys, "--data-dir", str(tmp_path), "digest", "--day", "yesterday")
    assert code == 1 and "not a day" in out
