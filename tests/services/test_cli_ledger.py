"""`b2b ledger`, `b2b payment` and `b2b allow-exceeding` after the demo."""
from __future__ import annotations

from tests.services.test_cli import run


def test_payment_allow_exceeding_and_the_ledger_with_its_csv(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0
    assert run(capsys, "--data-dir", data, "partner", "CH-000001", "--credit", "5000.00", "EUR")[0] == 0
    code, out = run(capsys, "--data-dir", data, "payment", "CH-000001", "--amount", "120.50", "--id", "BANK-1",
                    "--reference", "Invoice 7", "--operator", "bob")
    assert code == 0 and "payment BANK-1 of 120.50 EUR; unpaid -120.50, available 5120.50 (ledger #2)" in out
    code, out = run(capsys, "--data-dir", data, "payment", "CH-000001", "--amount", "120.50", "--id", "BANK-1",
                    "--reference", "Invoice 7")
    assert code == 0 and "(recorded before; nothing changed)" in out
    code, out = run(capsys, "--data-dir", data, "payment", "CH-000001", "--amount", "99", "--id", "BANK-1")
    assert code == 1 and "BANK-1 was recorded already with 120.50 EUR" in out
    code, out = run(capsys, "--data-dir", data, "payment", "CH-000001", "--amount", "1.001", "--id", "BANK-2")
    assert code == 1 and "decimal places" in out
    code, out = run(capsys, "--data-dir", data, "allow-exceeding", "CH-000001", "on", "--operator", "carol")
    assert code == 0 and "CH-000001 may exceed its credit limit (available 5120.50 EUR)" in out
    code, out = run(capsys, "--data-dir", data, "ledger", "CH-000001", "--limit", "2")
    lines = out.splitlines()
    assert code == 0 and "unpaid -120.50, available 5120.50, may exceed its limit" in lines[0]
    assert lines[1].split() == ["SEQ", "AT", "KIND", "BY", "ABOUT", "AMOUNT", "RESERVED", "UNPAID", "AVAILABLE"]
    assert lines[2].split()[2:4] == ["allow_exceeding", "operator:carol"]
    assert lines[3].split()[2:5] == ["payment", "operator:bob", "BANK-1"]
    assert lines[-1] == "more: b2b ledger CH-000001 --cursor 2"
    code, out = run(capsys, "--data-dir", data, "ledger", "CH-000001", "--cursor", "2")
    assert code == 0 and "limit" in out.splitlines()[2] and "more:" not in out
    target = tmp_path / "ledger.csv"
    code, out = run(capsys, "--data-dir", data, "ledger", "CH-000001", "--csv", str(target))
    assert code == 0 and "3 ledger entries written" in out
    assert target.read_text().splitlines()[0].startswith("seq,at,kind,by,orderId,paymentId,note")
    code, out = run(capsys, "--data-dir", data, "ledger", "CH-000009")
    assert code == 1 and "has no credit line" in out
