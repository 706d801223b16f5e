"""The operator CLI: the demo walkthrough and the commands a person uses after it."""
from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from shared.cli import main


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_demo_then_operator_commands(tmp_path, capsys):
    data = str(tmp_path)
    code, out = run(capsys, "--data-dir", data, "demo")
    assert code == 0
    assert "PRO-000001  Approved" in out and "hierarchy CH-000001" in out
    assert out.count("Rejected") == 2 and "0 in a salesperson's 'My open leads'" in out

    code, out = run(capsys, "--data-dir", data, "prospects", "--status", "rejected")
    assert code == 0 and "PRO-000002" in out and "PRO-000003" in out and "PRO-000001" not in out

    code, out = run(capsys, "--data-dir", data, "prospect", "pro-000001")
    assert "Admin Active" in out and "lead created" in out
    assert "sales    Sales                        approved — opportunity won" in out  # a decision Sales sent

    code, out = run(capsys, "--data-dir", data, "outbox")
    ids = [line.split()[0] for line in out.splitlines()[1:]]
    assert len(ids) == 6  # each signup's "we received your request", then the approval and the two declines
    code, out = run(capsys, "--data-dir", data, "outbox", ids[0])
    assert code == 0 and "Subject:" in out

    code, out = run(capsys, "--data-dir", data, "leads", "--all")
    assert out.count("PRO-00000") == 3

    code, out = run(capsys, "--data-dir", data, "win", "PRO-000002")
    assert code == 1 and "no opportunity" in out


@pytest.mark.parametrize("environment", [
    {"STATE_BACKEND": "azure"},  # not even a storage account set: the demo must not need one
    {"SALES_MODE": "none", "EMAIL_TRANSPORT": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9"},
])
@pytest.mark.parametrize("own_folder", [True, False])


def test_the_demo_runs_on_the_embedded_default_whatever_the_environment_says(
        tmp_path, capsys, monkeypatch, environment, own_folder):
    # The deployment's settings would send fake signups to its real tables, queues, CRM or inbox.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the default DATA_DIR (.data) is relative to it
    for name, value in {**environment, "DATA_DIR": str(elsewhere / "data")}.items():
        monkeypatch.setenv(name, value)
    demo_dir = tmp_path / "demo"
    code, out = run(capsys, *(["--data-dir", str(demo_dir)] if own_folder else []), "demo")
    assert code == 0, out
    assert "PRO-000001  Approved" in out and out.count("Rejected") == 2
    state_folder = Path(out.split("state folder: ")[1].splitlines()[0])
    try:
        assert state_folder == demo_dir if own_folder else state_folder.name.startswith("b2b-demo-")
        assert {"state.sqlite3", "queues.sqlite3", "sales.sqlite3", "outbox"} <= {p.name for p in state_folder.iterdir()}
        assert len(list((state_folder / "outbox").iterdir())) == 6  # three received, three decided
    finally:
        if not own_folder:
            shutil.rmtree(state_folder)
    assert list(elsewhere.iterdir()) == []


def test_salesperson_commands_and_poison(tmp_path, capsys):
    data = str(tmp_path)
    body = tmp_path / "signup.json"
    from tests.services.flow import signup_body

    body.write_text(json.dumps(signup_body()))
    code, signup_id = run(capsys, "--data-dir", data, "submit", str(body))
    assert code == 0 and len(signup_id.strip()) == 36
    assert "prospects created: 1" in run(capsys, "--data-dir", data, "sync")[1]
    assert "messages processed: 1" in run(capsys, "--data-dir", data, "work")[1]
    assert "qualified: opportunity" in run(capsys, "--data-dir", data, "qualify", "PRO-000001")[1]
    assert "closed as lost" in run(capsys, "--data-dir", data, "lose", "PRO-000001", "--reason", "out-sold")[1]
    run(capsys, "--data-dir", data, "work")
    code, out = run(capsys, "--data-dir", data, "prospect", "PRO-000001")
    assert "Rejected" in out and "Out-Sold" in out

    from shared.bootstrap import Container
    from shared.config import Settings

    c = Container.build(Settings.from_env({}, data_dir=tmp_path))
    c.queue.send(c.settings.outcome_queue, "{broken")
    run(capsys, "--data-dir", data, "work")
    code, out = run(capsys, "--data-dir", data, "poison", "list")
    assert "b2b-sales-outcomes-poison  1" in out
    message_id = c.operator.poison_messages(c.settings.outcome_queue)[0].id
    code, out = run(capsys, "--data-dir", data, "poison", "show", "b2b-sales-outcomes", message_id)
    assert "{broken" in out
    code, out = run(capsys, "--data-dir", data, "poison", "replay", "b2b-sales-outcomes-poison", "all")
    assert code == 0 and f"replayed {message_id}" in out
    assert c.queue.count(c.settings.outcome_queue) == 1


def test_submit_refuses_a_file_that_is_not_json_in_one_line(tmp_path, capsys):
    body = tmp_path / "signup.json"
    body.write_text('{"company": ')
    code, out = run(capsys, "--data-dir", str(tmp_path), "submit", str(body))
    assert code == 1
    assert out == f"b2b: {body}: is not JSON (Expecting value, line 1 column 13)\n"
    body.write_bytes(b'{"company": "\xff"}')
    assert run(capsys, "--data-dir", str(tmp_path), "submit", str(body)) == (1, f"b2b: {body}: is not UTF-8 text\n")


def test_back_office_commands_without_sales(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SALES_MODE", "none")
    data = str(tmp_path)
    from tests.services.flow import signup_body

    for n in (1, 2):
        body = tmp_path / f"signup{n}.json"
        body.write_text(json.dumps(signup_body(n)))
        assert run(capsys, "--data-dir", data, "submit", str(body))[0] == 0
    assert "prospects created: 2" in run(capsys, "--data-dir", data, "sync")[1]
    assert "messages processed: 0" in run(capsys, "--data-dir", data, "work")[1]  # no create-lead messages

    code, out = run(capsys, "--data-dir", data, "approve", "PRO-000001", "--operator", "alice")
    assert code == 0 and "PRO-000001 Approved, hierarchy CH-000001" in out
    code, out = run(capsys, "--data-dir", data, "approve", "pro-000001")
    assert code == 0 and "Approved already; nothing changed" in out
    code, out = run(capsys, "--data-dir", data, "reject", "PRO-000002", "--reason", "Outside our market",
                    "--operator", "alice")
    assert code == 0 and "PRO-000002 Rejected" in out
    code, out = run(capsys, "--data-dir", data, "approve", "PRO-000002")
    assert code == 1 and "cannot become Approved" in out
    code, out = run(capsys, "--data-dir", data, "approve", "PRO-000009")
    assert code == 1 and "no prospect PRO-000009" in out
    with pytest.raises(SystemExit) as refused:  # --reason is required
        main(["--data-dir", data, "reject", "PRO-000001"])
    assert refused.value.code == 2 and "--reason" in capsys.readouterr().err

    assert "messages processed: 2" in run(capsys, "--data-dir", data, "work")[1]
    code, out = run(capsys, "--data-dir", data, "prospect", "PRO-000001")
    assert "back-office:alice" in out and "Admin Active" in out and "lead created" not in out
    with pytest.raises(SystemExit, match="embedded Sales"):  # no Sales to show
        main(["--data-dir", data, "leads"])


def test_drift_and_the_reconciliation_in_sync(tmp_path, capsys):
    data = str(tmp_path)
    body = tmp_path / "signup.json"
    from tests.services.flow import signup_body

    body.write_text(json.dumps(signup_body()))
    run(capsys, "--data-dir", data, "submit", str(body))
    run(capsys, "--data-dir", data, "sync")
    run(capsys, "--data-dir", data, "work")
    assert run(capsys, "--data-dir", data, "drift") == (0, "(none)\n")
    run(capsys, "--data-dir", data, "qualify", "PRO-000001")
    run(capsys, "--data-dir", data, "win", "PRO-000001")
    code, out = run(capsys, "--data-dir", data, "drift")  # the outcomes are queued, not applied yet
    assert code == 0 and "PRO-000001" in out and "Pending, no customers" in out
    assert "lead Qualified, opportunity Won" in out and "Sales says Approved, we say Pending" in out
    code, out = run(capsys, "--data-dir", data, "sync")
    assert "sales decisions read: 2, outcomes enqueued again: 2" in out  # harmless copies of the queued ones
    run(capsys, "--data-dir", data, "work")
    run(capsys, "--data-dir", data, "work")  # an email queued by the first pass, if that pass missed it
    assert run(capsys, "--data-dir", data, "drift") == (0, "(none)\n")
    code, out = run(capsys, "--data-dir", data, "prospect", "PRO-000001")
    assert "Approved" in out and out.count("approved —") == 1
    assert run(capsys, "--data-dir", data, "emails")[1].count("prospect_approved") == 1


def test_a_prospects_timeline_its_repairs_and_reconcile(tmp_path, capsys):
    data = str(tmp_path)
    body = tmp_path / "signup.json"
    from tests.services.flow import signup_body

    for n in (1, 2):
        body.write_text(json.dumps(signup_body(n)))
        run(capsys, "--data-dir", data, "submit", str(body))
    run(capsys, "--data-dir", data, "sync")
    run(capsys, "--data-dir", data, "work")
    poison = "b2b-leads-poison"
    from shared.bootstrap import Container
    from shared.config import Settings
    from shared.domain.messages import CreateLead

    c = Container.build(Settings.from_env({}, data_dir=tmp_path))
    prospect_id = c.operator.prospect("PRO-000001").prospect.id
    c.queue.send(poison, CreateLead(prospect_id=prospect_id).to_json())
    code, out = run(capsys, "--data-dir", data, "prospect", "PRO-000001")
    assert code == 0 and "lead: " in out and "history  channel-sync" in out
    assert f"queue    {poison}" in out and "create-lead poisoned" in out
    code, out = run(capsys, "--data-dir", data, "replay", "PRO-000001", "--operator", "carol")
    assert code == 0 and f"from {poison} as " in out
    assert run(capsys, "--data-dir", data, "replay", "PRO-000001")[1] == "PRO-000001: no poisoned message; nothing replayed\n"
    assert "back-office:carol" in run(capsys, "--data-dir", data, "prospect", "PRO-000001")[1]

    run(capsys, "--data-dir", data, "disqualify", "PRO-000002")
    c.queue.receive("b2b-sales-outcomes", max_messages=32, visibility_timeout=3600)  # in flight: not applied
    code, out = run(capsys, "--data-dir", data, "drift", "--limit", "1")
    assert "PRO-000001" not in out and "(checked 1 prospects" in out
    code, out = run(capsys, "--data-dir", data, "reconcile", "pro-000002")
    assert out == "PRO-000002: applied lead disqualified; it agrees with Sales now\n"
    assert run(capsys, "--data-dir", data, "reconcile")[1] == "no prospect disagrees with Sales; nothing to do\n"
    c.store.close()
    c.queue.close()
    c.sales.close()

    code, out = run(capsys, "--data-dir", data, "emails", "--pending")  # not the delivered "we received" ones
    email_id = out.splitlines()[1].split()[0]
    code, out = run(capsys, "--data-dir", data, "retry-email", email_id, "--operator", "dave")
    assert code == 1 and "is queued, not failed: nothing to retry" in out  # only a failed email is retried


def test_back_office_partner_commands(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0
    code, out = run(capsys, "--data-dir", data, "partner", "CH-000001", "--credit", "5000.00", "EUR")
    assert code == 0 and "credit: 5000.00 EUR, reserved 0.00, available 5000.00" in out
    assert "Admin" in out and "Active" in out and "from prospect" in out

    code, out = run(capsys, "--data-dir", data, "customer", "ACC-1", "--type", "Organization", "--name", "Fabrikam AB")
    org_id = out.split()[1]
    code, out = run(capsys, "--data-dir", data, "customer", "ACC-2", "--type", "Person", "--first-name", "Bo",
                    "--last-name", "Ek", "--email", "bo@fabrikam.example")
    person_id = out.split()[1]
    code, out = run(capsys, "--data-dir", data, "onboard", org_id, "--admin", person_id, "--operator", "alice")
    assert code == 0 and "CH-000002 'Fabrikam AB': 1 users, Pending" in out
    code, out = run(capsys, "--data-dir", data, "sync")
    assert "partner user changes applied: 1" in out
    code, out = run(capsys, "--data-dir", data, "partner", "CH-000002")
    assert "onboarded by hand" in out and "bo@fabrikam.example" in out and "Active" in out

    code, out = run(capsys, "--data-dir", data, "onboard", person_id, "--admin", person_id)
    assert code == 1 and "not a Organization" in out
    code, out = run(capsys, "--data-dir", data, "partner", "CH-000009")
    assert code == 1 and "no partner CH-000009" in out


def test_partner_rename_block_reactivate_and_user_commands(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0
    cmd = ["--data-dir", data, "partner"]
    code, out = run(capsys, *cmd, "rename", "CH-000001", "Fabrikam Nordic", "--operator", "alice")
    assert (code, out) == (0, "CH-000001 renamed: 'Fabrikam Nordic', active\n")
    with pytest.raises(SystemExit) as usage:  # a block without a reason is refused before anything runs
        main(["--data-dir", data, "partner", "block", "CH-000001"])
    assert usage.value.code == 2 and "--reason" in capsys.readouterr().err
    code, out = run(capsys, *cmd, "block", "CH-000001", "--reason", "Unpaid invoices", "--operator", "alice")
    assert (code, out) == (0, "CH-000001 blocked: 'Fabrikam Nordic', blocked\n")
    code, out = run(capsys, *cmd, "block", "CH-000001", "--reason", "again", "--operator", "bob")
    assert (code, out) == (0, "CH-000001 is 'Fabrikam Nordic', blocked already; nothing changed\n")
    code, out = run(capsys, *cmd, "show", "CH-000001", "--history")
    assert "BLOCKED since" in out and "by back-office:alice: Unpaid invoices" in out
    assert "partner blocked — Unpaid invoices" in out and "partner renamed" in out
    listed = run(capsys, "--data-dir", data, "partners", "--search", "nordic")[1].splitlines()
    assert len(listed) == 2 and listed[1].split()[:4] == ["CH-000001", "Fabrikam", "Nordic", "blocked"]

    admin = run(capsys, *cmd, "CH-000001")[1].splitlines()[-1].split()[0]  # the old form: show
    code, out = run(capsys, *cmd, "user", "CH-000001", admin, "--remove", "--operator", "alice")
    assert code == 1 and "at least one Admin" in out
    code, out = run(capsys, *cmd, "reactivate", "CH-000001", "--note", "Paid", "--operator", "bob")
    assert (code, out) == (0, "CH-000001 reactivated: 'Fabrikam Nordic', active\n")
    assert run(capsys, *cmd, "reactivate", "CH-000001")[1].endswith("active already; nothing changed\n")


def test_the_back_office_gives_a_partner_an_admin_and_acknowledges_the_flag(tmp_path, capsys):
    from shared.bootstrap import Container
    from shared.config import Settings
    from tests.services.partners import partner_without_admin

    c = Container.build(Settings.from_env({}, data_dir=tmp_path))
    try:
        hierarchy, number = partner_without_admin(c)
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()
    data = str(tmp_path)
    assert number in run(capsys, "--data-dir", data, "prospects", "--attention")[1]

    add = ["--data-dir", data, "add-user", hierarchy, "boss@company2.example", "Bo", "Boss", "--role", "Admin",
           "--limit", "100.00", "--language", "sv-SE", "--operator", "alice"]
    code, out = run(capsys, *add)
    assert code == 0 and f"boss@company2.example Admin of {hierarchy}: Pending until the next sync" in out
    assert "added before; nothing changed" in run(capsys, *add)[1]
    code, out = run(capsys, "--data-dir", data, "add-user", hierarchy, "person2@example.com", "P", "Two")
    assert code == 1 and "signs in to the store already" in out

    run(capsys, "--data-dir", data, "sync")
    run(capsys, "--data-dir", data, "work")
    out = run(capsys, "--data-dir", data, "partner", hierarchy)[1]
    assert "boss@company2.example" in out and "Admin" in out and "Active" in out
    listed = run(capsys, "--data-dir", data, "partners")[1].splitlines()
    assert [line.split()[0] for line in listed] == ["HIERARCHY", "CH-000001", hierarchy]
    assert "Company 2 & Sons" in listed[2] and listed[2].rstrip().endswith("prospect")

    code, out = run(capsys, "--data-dir", data, "acknowledge", number, "--note", "Admin added", "--operator", "alice")
    assert code == 0 and f"{number}: flag acknowledged (the requester's email signs in for partner" in out
    assert number not in run(capsys, "--data-dir", data, "prospects", "--attention")[1]
    assert "not flagged; nothing changed" in run(capsys, "--data-dir", data, "acknowledge", number, "--note", "x")[1]


@pytest.mark.parametrize("argv, wanted", [
    (["poison", "show"], "the following arguments are required: queue, id"),
    (["poison", "replay"], "the following arguments are required: queue, id"),
    (["poison", "show", "b2b-emails"], "the following arguments are required: id"),
    (["poison", "replay", "b2b-emails"], "the following arguments are required: id"),
    (["poison"], "the following arguments are required: {list,show,reveal,replay,discard}"),
    (["poison", "drop", "b2b-emails"], "invalid choice: 'drop'"),
])


def test_poison_usage_errors_say_what_is_missing_with_exit_code_2(tmp_path, capsys, argv, wanted):
    with pytest.raises(SystemExit) as refused:
        main(["--data-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert refused.value.code == 2
    assert err.startswith("usage: b2b poison") and wanted in err and "Traceback" not in err


def test_poison_not_found_and_nothing_to_replay(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "poison", "show", "b2b-emails", "m-1") == (
        1, "b2b: no message m-1 on b2b-emails-poison\n")
    code, out = run(capsys, "--data-dir", data, "poison", "replay", "b2b-nope", "all")
    assert code == 1 and out.startswith("b2b: no queue b2b-nope; the queues are b2b-leads")
    for queue in ("b2b-emails", "b2b-emails-poison"):
        assert run(capsys, "--data-dir", data, "poison", "replay", queue, "all") == (
            0, "nothing to replay: b2b-emails-poison is empty\n")


def test_leads_show_states_in_words_and_a_dash_for_no_opportunity(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0
    header, *rows = run(capsys, "--data-dir", data, "leads", "--all")[1].splitlines()
    assert header.split() == ["PROSPECT", "LEAD", "COMPANY", "CONTACT", "STATE", "OPPORTUNITY"]
    by_prospect = {row.split()[0]: row for row in rows}
    assert set(by_prospect) == {"PRO-000001", "PRO-000002", "PRO-000003"}
    assert " Qualified " in by_prospect["PRO-000001"]
    assert " Disqualified " in by_prospect["PRO-000002"] and by_prospect["PRO-000002"].endswith("  —")
    assert "None" not in "\n".join(rows) and "STATECODE" not in header


def test_the_demo_ends_saying_where_its_state_stays(tmp_path, capsys):
    folder = tmp_path / "demo folder"
    code, out = run(capsys, "--data-dir", str(folder), "demo")
    assert code == 0
    assert out.splitlines()[-3:] == [
        f"The demo's state stays in {folder}",
        f"  look around: b2b --data-dir '{folder}' prospects   (or partners, emails, outbox, leads --all)",
        f"  start over:  rm -r '{folder}'",
    ]


class _InstanceDied(BaseException):
    """A kill -9 while the email is being sent: nothing after it runs (no ``except Exception`` catches it)."""


class _Transport:
    """Sends, fails (a retry), or kills the instance, as the test says."""

    def __init__(self):
        self.mode = "die"
        self.sent: list[str] = []

    def send(self, email) -> None:
        if self.mode == "die":
            raise _InstanceDied()
        if self.mode == "fail":
            raise ConnectionError("the mail server went away")
        self.sent.append(email.message_id)


def _backend_settings(request, backend: str, tmp_path) -> dict[str, str]:
    if backend == "sqlite":
        return {"SALES_MODE": "none"}
    import uuid

    unique = uuid.uuid4().hex[:12]
    return {"SALES_MODE": "none", "STATE_BACKEND": "azure",
            "AzureWebJobsStorage": request.getfixturevalue("azurite").connection_string,
            "STATE_TABLE": f"state{unique}", "LEAD_QUEUE": f"leads-{unique}", "OUTCOME_QUEUE": f"outcomes-{unique}",
            "EMAIL_QUEUE": f"emails-{unique}"}


@pytest.mark.parametrize("backend", ["sqlite", "azure"])


def test_emails_say_in_flight_since_when_an_instance_died_delivering_one(request, tmp_path, capsys, backend):
    import argparse

    from shared.adapters.clock import ManualClock
    from shared.bootstrap import Container
    from shared.cli import Cli, build_parser
    from shared.config import Settings
    from tests.services.flow import DECISIONS_ONLY, signup_body, work

    clock, transport = ManualClock(), _Transport()
    c = Container.build(Settings.from_env({**_backend_settings(request, backend, tmp_path), **DECISIONS_ONLY},
                                          data_dir=tmp_path),
                        clock=clock, transport=transport)

    def approval_email() -> str:
        Cli(c).emails(build_parser().parse_args(["emails"]))
        rows = [line for line in capsys.readouterr().out.splitlines() if "prospect_approved" in line]
        assert len(rows) == 1
        return rows[0]

    try:
        c.intake.submit(signup_body())
        c.channel_sync.run()
        c.back_office.approve("PRO-000001", "alice")
        with pytest.raises(_InstanceDied):
            work(c)  # the instance takes the deliver message and dies while sending
        # Its message is invisible for the whole lease: nothing shows in the queue, the email is pending.
        assert c.queue.peek(c.settings.email_queue, max_messages=32) == []
        row = approval_email()
        assert " sending " in row
        assert row.endswith("in flight since 2026-01-01 00:00:00Z, visible again at 2026-01-01 00:10:00Z")

        clock.advance(601)
        assert approval_email().endswith(
            "taken at 2026-01-01 00:00:00Z and not finished; visible again since 2026-01-01 00:10:00Z")

        email_id = approval_email().split()[0]
        transport.mode = "fail"  # the message came back: this attempt ends with a retry
        c.email_delivery.deliver(email_id)
        assert "in flight" not in approval_email() and "retry at 2026-01-01 00:10" in approval_email()

        transport.mode = "send"
        c.email_delivery.deliver(email_id)
        row = approval_email()
        assert transport.sent == [email_id] and " sent " in row and "in flight" not in row
    finally:
        for adapter in (c.store, c.queue):
            adapter.close()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _signups(tmp_path, capsys, count: int) -> str:
    from tests.services.flow import signup_body

    data = str(tmp_path)
    for n in range(count):
        body = tmp_path / f"signup{n}.json"
        body.write_text(json.dumps(signup_body(n)))
        assert run(capsys, "--data-dir", data, "submit", str(body))[0] == 0
    return data


def test_long_runs_count_what_they_handled_on_a_terminal(tmp_path, capsys, monkeypatch):
    data = _signups(tmp_path, capsys, 3)
    monkeypatch.setenv("SYNC_BATCH_SIZE", "1")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setenv("TQDM_MININTERVAL", "0")  # tqdm's own setting: draw every update, not every 0.1 s
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["--data-dir", data, "sync"]) == 0
    drawn = terminal.getvalue()
    assert [f"channel sync: {n} prospects" in drawn for n in (1, 2, 3)] == [True, True, True]
    assert "prospects created: 3" in capsys.readouterr().out  # the result stays on stdout, the bar is gone

    terminal.seek(0), terminal.truncate()
    assert main(["--data-dir", data, "work"]) == 0
    # the three leads and the three "we received your request" emails
    assert "queued messages: 6 messages" in terminal.getvalue()
    assert capsys.readouterr().out == "messages processed: 6\n"


def test_long_runs_draw_nothing_when_stderr_is_not_a_terminal(tmp_path, capsys, monkeypatch):
    data = _signups(tmp_path, capsys, 2)
    monkeypatch.setenv("TQDM_MININTERVAL", "0")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")  # `b2b work` sets the root logger's level: leave it as tests want
    for command, result in (("sync", "prospects created: 2"), ("work", "messages processed: 4")):  # + 2 received emails
        code, out = run(capsys, "--data-dir", data, command)
        assert code == 0 and result in out
        assert "\r" not in out and "prospects/s" not in out and "messages/s" not in out


def test_only_the_cli_imports_the_progress_library():
    # Services, adapters, the functions and the host get a callback; tqdm is the CLI's business.
    import ast

    root = Path(__file__).resolve().parents[2]
    importers = []
    for path in [root / "function_app.py", *(p for d in ("shared", "functions", "devhost") for p in (root / d).rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(name.split(".")[0] == "tqdm" for name in names):
                importers.append(path.relative_to(root).as_posix())
    assert sorted(set(importers)) == ["shared/cli.py"]


def test_lead_batches_tell_the_cli_each_batch_they_took(container):
    # `b2b work` with SALES_MODE=dataverse counts the lead queue's batches through this callback.
    from tests.services.test_lead_batches import ScriptedSales, consumer, prospects_with_messages

    prospects_with_messages(container, 7)
    taken: list[int] = []
    report = consumer(container, ScriptedSales(container.sales), batch_size=3).drain(on_batch=taken.append)
    assert taken == [3, 3, 1] and report.taken == 7


def test_prospects_filters_searches_and_writes_csv(tmp_path, capsys):
    from shared.bootstrap import Container
    from shared.config import Settings
    from tests.services.flow import signup_body

    data = tmp_path / "data"
    c = Container.build(Settings.from_env({}, data_dir=data))
    for n in range(1, 4):
        body = signup_body(n)
        body["company"]["name"] = ["Söderberg AB", "Fabrikam AB", "-Minus Oy"][n - 1]
        c.intake.submit(body)
    c.channel_sync.run()
    c.back_office.reject("PRO-000002", "not a retailer", "alice")
    c.store.close()

    def listing(*argv: str) -> tuple[int, str]:
        """stdout alone: log lines on stderr may quote the setup's own calls."""
        code = main(["--data-dir", str(data), "prospects", *argv])
        captured = capsys.readouterr()
        return code, captured.out if code == 0 else captured.err

    code, out = listing("--q", "SODER")
    assert code == 0 and "PRO-000001" in out and "PRO-000002" not in out and "Söderberg AB" in out
    code, out = listing("--status", "pending", "--sort", "oldest")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["PRO-000001", "PRO-000003"]
    code, out = listing("--from", "2000-01-01", "--to", "2000-01-31")
    assert out.strip() == "(none)"
    code, out = listing("--from", "31.01.2000")
    assert code == 1 and "from: must be a day" in out

    target = tmp_path / "prospects.csv"
    code, out = listing("--channel", "b2b-web", "--csv", str(target))
    assert code == 0 and f"3 prospects written to {target}" in out
    lines = target.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("number,status,company") and len(lines) == 4
    assert lines[1].startswith("PRO-000003,Pending,'-Minus Oy,")  # a formula start is made text


def test_token_prints_a_local_issuer_token_the_local_settings_accept(tmp_path, capsys, monkeypatch):
    """`b2b token EMAIL` signs with the state folder's key, which the host's LOCAL_ISSUER settings verify: the same
    account (sub) as signing in through the portal, its email verified."""
    import jwt

    from shared.adapters.jwks_tokens import JwksTokenVerifier
    from shared.adapters.local_issuer import LocalIssuer, subject_for
    from shared.config import Settings

    for name in ("PARTNER_TOKEN_ISSUER", "WEBSITE_INSTANCE_ID"):
        monkeypatch.delenv(name, raising=False)
    code, out = run(capsys, "--data-dir", str(tmp_path), "token", "Erik@Fabrikam.example")
    assert code == 0
    token = out.strip()
    settings = Settings.from_env({"LOCAL_ISSUER": "true", "DATA_DIR": str(tmp_path)})
    keys = LocalIssuer(tmp_path, settings.public_base_url, settings.portal_redirect_uri).jwks()
    verifier = JwksTokenVerifier(settings.partner_token_issuer, settings.partner_token_audience,
                                 settings.partner_token_jwks_url)
    monkeypatch.setattr(verifier, "_fetch", lambda: {k["kid"]: jwt.PyJWK(k).key for k in keys["keys"]})  # no host
    caller = verifier.verify(f"Bearer {token}")
    assert caller.verified_email == "erik@fabrikam.example" and caller.subject == subject_for("erik@fabrikam.example")

    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "an-azure-instance")
    code, out = run(capsys, "--data-dir", str(tmp_path), "token", "erik@fabrikam.example")
    assert code == 1 and "local development only" in out
    monkeypatch.delenv("WEBSITE_INSTANCE_ID")
    monkeypatch.setenv("PARTNER_TOKEN_ISSUER", "https://login.example/v2.0")
    monkeypatch.setenv("PARTNER_TOKEN_AUDIENCE", "api://x")
    monkeypatch.setenv("PARTNER_TOKEN_JWKS_URL", "https://login.example/keys")
    code, out = run(capsys, "--data-dir", str(tmp_path), "token", "erik@fabrikam.example")
    assert code == 1 and "names another issuer" in out


def test_poison_reveal_discard_audit_and_email_commands(tmp_path, capsys):
    from shared.bootstrap import Container
    from shared.config import Settings
    from shared.domain.model import EmailStatus
    from shared.queue_worker import poison_queue_name
    from tests.contract.factories import T0, email_record

    data = str(tmp_path)
    c = Container.build(Settings.from_env({}, data_dir=tmp_path))
    try:
        lead = {"schema": "create-lead", "version": 1, "prospect_id": "p-1", "contact": {"email": "asa@example.com"}}
        kept = c.queue.send(poison_queue_name(c.settings.lead_queue), json.dumps(lead))
        junk = c.queue.send(poison_queue_name(c.settings.lead_queue), "junk")
        with c.store.unit_of_work() as uow:
            uow.add_email(email_record("e-1", T0, EmailStatus.FAILED).model_copy(update={"last_error": "boom"}))
    finally:
        for adapter in (c.store, c.queue, c.sales):
            adapter.close()

    code, out = run(capsys, "--data-dir", data, "poison", "show", "b2b-leads", kept)
    assert code == 0 and "asa@example.com" not in out and "•••" in out and "prospect_id=p-1" in out
    code, out = run(capsys, "--data-dir", data, "poison", "reveal", "b2b-leads", kept, "--operator", "alice")
    assert code == 0 and "asa@example.com" in out and "unmasked (audited)" in out
    with pytest.raises(SystemExit) as refused:  # a discard without a reason is a usage error
        main(["--data-dir", data, "poison", "discard", "b2b-leads", junk])
    assert refused.value.code == 2 and "required: --reason" in capsys.readouterr().err
    code, out = run(capsys, "--data-dir", data, "poison", "discard", "b2b-leads", junk, "--reason", "sent by hand",
                    "--operator", "alice")
    assert code == 0 and f"discarded {junk}" in out and "not JSON (4 bytes)" in out
    code, out = run(capsys, "--data-dir", data, "poison", "list")
    assert out.splitlines()[1].split() == ["b2b-leads", "0", "b2b-leads-poison", "1"]

    code, out = run(capsys, "--data-dir", data, "emails", "--status", "failed")
    assert code == 0 and "e-1" in out and " failed " in out
    code, out = run(capsys, "--data-dir", data, "email", "e-1")
    assert code == 0 and "to: asa@example.com" in out and "last error: boom" in out and "Subject:" in out
    code, out = run(capsys, "--data-dir", data, "retry-email", "e-1", "--operator", "bob")
    assert code == 0 and "queued again" in out
    code, out = run(capsys, "--data-dir", data, "retry-email", "e-1")
    assert code == 1 and "is queued, not failed" in out

    code, out = run(capsys, "--data-dir", data, "audit")
    lines = out.splitlines()
    assert lines[0].split() == ["AT", "OPERATOR", "ACTION", "TARGET", "ABOUT", "REASON"]
    assert [line.split()[3] for line in lines[1:]] == ["retry-email", "discard", "reveal"]
    assert "sent by hand" in lines[2] and "asa@" not in out


def test_an_approver_with_a_monthly_limit_and_the_partners_time_zone(tmp_path, capsys):
    data = str(tmp_path)
    assert run(capsys, "--data-dir", data, "demo")[0] == 0
    code, out = run(capsys, "--data-dir", data, "add-user", "CH-000001", "ada@example.se", "Ada", "Larsson",
                    "--role", "Approver", "--monthly-limit", "3000", "--operator", "alice")
    assert code == 0 and out.startswith("ada@example.se Approver of CH-000001: Pending")
    code, out = run(capsys, "--data-dir", data, "partner", "user", "CH-000001", "ada@example.se",
                    "--monthly-limit", "2500.50", "--operator", "alice")
    assert code == 0 and "Approver" in out
    code, out = run(capsys, "--data-dir", data, "partner", "CH-000001", "--time-zone", "Europe/Stockholm",
                    "--operator", "alice")
    assert code == 0 and "time zone: Europe/Stockholm" in out
    ada = next(line for line in out.splitlines() if line.startswith("ada@example.se"))
    assert "Approver" in ada and "2500.50" in ada
    code, out = run(capsys, "--data-dir", data, "partner", "CH-000001", "--time-zone", "Mars/Olympus")
    assert code == 1 and "timeZone" in out
