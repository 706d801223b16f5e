"""The local host end to end, on the sample app, over real HTTP, with an in-memory queue."""
import json
import os
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e

from devhost.host import HostError, LocalHost, load_functions
from memory_queue import MemoryQueue

SAMPLE_DIR = Path(__file__).parent / "sample_app"
MODULE = "sample_function_app"
KEY = "test-function-key"
SETTINGS = {
    "SAMPLE_QUEUE": "sample-items",
    "SAMPLE_SCHEDULE": "0 0 0 1 1 *",  # once a year: the test runs it by name
    "DEVHOST_FUNCTION_KEY": KEY,
    # host.json says 5; the setting wins, as in Azure.
    "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "3",
}


def eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


@pytest.fixture(scope="module")
def running():
    with pytest.MonkeyPatch.context() as patch:
        for name, value in SETTINGS.items():
            patch.setenv(name, value)
        queue = MemoryQueue()
        host = LocalHost(SAMPLE_DIR, module=MODULE, port=0, queue=queue).start()
        try:
            yield host, queue, sys.modules[MODULE]
        finally:
            host.stop()


@pytest.fixture(scope="module")
def host(running):
    return running[0]


@pytest.fixture(scope="module")
def queue(running):
    return running[1]


@pytest.fixture(scope="module")
def app(running):
    return running[2]


def test_startup_lines_list_functions_then_the_address(host):
    lines = host.startup_lines()
    base = host.base_url
    assert base.startswith("http://127.0.0.1:") and host.port > 0
    assert lines[0] == "Functions:"
    assert f"  get_signup: [GET] {base}/api/signups/{{id}}" in lines
    assert f"  keyed: [ANY] {base}/api/keyed [key required]" in lines
    assert "  tick: timerTrigger (0 0 0 1 1 *)" in lines
    assert "  on_item: queueTrigger (sample-items)" in lines
    assert lines[-1] == f"Host listening on {base}"
    assert not any(KEY in line for line in lines)  # a key from the settings is not printed


def test_metadata_comes_from_the_function_app(host):
    specs = {spec.name: spec for spec in load_functions(SAMPLE_DIR, MODULE)}
    assert specs["get_signup"].trigger["route"] == "signups/{id}"
    assert specs["tick"].trigger["schedule"] == "%SAMPLE_SCHEDULE%"
    assert specs["on_item"].trigger["queueName"] == "%SAMPLE_QUEUE%"
    assert specs["hello"].is_async


def test_route_params_query_headers_and_context(host):
    with requests.Session() as session:  # one keep-alive connection for both requests
        first = session.get(f"{host.base_url}/api/signups/42", params={"lang": "nl"}, headers={"X-Tag": "t1"})
        second = session.get(f"{host.base_url}/API/Signups/43/")
    assert first.status_code == 200
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["X-Signup-Id"] == "42"
    assert first.headers["Content-Length"] == str(len(first.content))
    body = first.json()
    assert (body["id"], body["lang"], body["tag"], body["function"]) == ("42", "nl", "t1", "get_signup")
    assert len(body["invocation_id"]) == 36
    assert second.json()["id"] == "43"
    assert second.json()["invocation_id"] != body["invocation_id"]


def test_incoming_traceparent_is_continued(host):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    body = requests.get(f"{host.base_url}/api/signups/1", headers={"traceparent": parent}).json()
    assert body["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert body["traceparent"] != parent


def test_unknown_paths_are_404_and_wrong_methods_405(host):
    assert requests.get(f"{host.base_url}/api/nothing").status_code == 404
    assert requests.get(f"{host.base_url}/signups/1").status_code == 404  # no route prefix
    response = requests.delete(f"{host.base_url}/api/signups/1")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("method", ["QUERY", "PROPFIND"])
def test_methods_http_server_does_not_know_are_routed_too(host, method):
    # http.server answered these 501 Not Implemented; the Functions host answers as for any other method.
    response = requests.request(method, f"{host.base_url}/api/signups/1")
    assert (response.status_code, response.headers["Allow"]) == (405, "GET")
    assert requests.request(method, f"{host.base_url}/api/nothing").status_code == 404


def test_function_keys(host):
    url = f"{host.base_url}/api/keyed"
    assert requests.get(url).status_code == 401
    assert requests.get(url, params={"code": "wrong"}).status_code == 401
    response = requests.get(url, params={"code": KEY})
    assert (response.status_code, response.text) == (200, "secret")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert requests.get(url, headers={"x-functions-key": KEY}).status_code == 200


def test_an_exception_is_a_500_with_a_short_body(host):
    response = requests.get(f"{host.base_url}/api/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert "kaboom" not in response.text


def test_async_function_with_constraint_and_catch_all(host):
    response = requests.put(f"{host.base_url}/api/hello/Ann/a/b%20c")
    assert (response.status_code, response.text) == (200, "Ann|a/b c")
    assert requests.get(f"{host.base_url}/api/hello/Ann").text == "Ann|"
    assert requests.get(f"{host.base_url}/api/hello/4nn/x").status_code == 404  # :alpha


def test_head_has_no_body(host):
    response = requests.head(f"{host.base_url}/api/keyed", params={"code": KEY})
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "6"
    assert response.content == b""
    # As in Azure, a GET-only function does not answer HEAD.
    assert requests.head(f"{host.base_url}/api/signups/1").status_code == 405


def test_queue_trigger_gets_the_message(host, queue, app):
    message_id = queue.send("sample-items", '{"n": 1}')
    calls = eventually(lambda: [c for c in app.calls("on_item") if c["id"] == message_id])
    assert calls, "on_item was not called"
    assert calls[0]["body"] == '{"n": 1}'
    assert calls[0]["dequeue_count"] == 1
    assert calls[0]["insertion_time"] is not None
    assert eventually(lambda: queue.count("sample-items") == 0)


def test_queue_output_binding_feeds_the_queue_trigger(host, app):
    response = requests.post(f"{host.base_url}/api/signups", data=json.dumps({"email": "a@example.com"}))
    assert (response.status_code, response.text) == (201, "accepted")
    assert eventually(lambda: any(c["body"] == '{"email": "a@example.com"}' for c in app.calls("on_item")))


def test_a_failing_message_goes_to_poison_after_max_dequeue_count(host, queue, app):
    queue.send("sample-failing", "cannot be processed")
    assert eventually(lambda: queue.count("sample-failing-poison") == 1)
    assert queue.bodies("sample-failing-poison") == ["cannot be processed"]
    assert queue.count("sample-failing") == 0
    tries = [c["dequeue_count"] for c in app.calls("always_fails") if c["body"] == "cannot be processed"]
    assert tries == [1, 2, 3]


def test_run_timer_by_name(host, app):
    before = len(app.calls("tick"))
    host.run_timer("tick")
    assert app.calls("tick")[before:] == [{"past_due": False}]
    with pytest.raises(LookupError):
        host.run_timer("get_signup")


def test_admin_api_runs_a_timer(host, app):
    before = len(app.calls("tick"))
    url = f"{host.base_url}/admin/functions/tick"
    assert requests.post(url, json={"input": ""}).status_code == 401
    assert requests.post(url, json={}, headers={"x-functions-key": KEY}).status_code == 202
    assert eventually(lambda: len(app.calls("tick")) > before)
    missing = requests.post(f"{host.base_url}/admin/functions/nope", json={}, headers={"x-functions-key": KEY})
    assert missing.status_code == 404


def test_a_missing_setting_stops_the_start(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", SETTINGS["SAMPLE_SCHEDULE"])
    monkeypatch.delenv("SAMPLE_QUEUE", raising=False)
    with pytest.raises(HostError, match="SAMPLE_QUEUE, which is not set"):
        LocalHost(SAMPLE_DIR, module=MODULE, queue=MemoryQueue()).start()


def test_only_the_named_functions_run(monkeypatch):
    monkeypatch.setenv("SAMPLE_SCHEDULE", SETTINGS["SAMPLE_SCHEDULE"])
    monkeypatch.delenv("SAMPLE_QUEUE", raising=False)  # no queue function is selected, so none is needed
    with LocalHost(SAMPLE_DIR, module=MODULE, functions=["get_signup", "tick"], timers=False) as host:
        assert [f.name for f in host.functions] == ["get_signup", "tick"]
        assert "[timers off]" in host.functions[1].line()
        assert requests.get(f"{host.base_url}/api/signups/9").status_code == 200
        assert requests.get(f"{host.base_url}/api/boom").status_code == 404
    with pytest.raises(HostError, match="unknown functions"):
        LocalHost(SAMPLE_DIR, module=MODULE, functions=["nope"]).start()


def test_disabled_functions_do_not_run(monkeypatch):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AzureWebJobs.boom.Disabled", "true")
    with LocalHost(SAMPLE_DIR, module=MODULE, queues=False) as host:
        assert requests.get(f"{host.base_url}/api/boom").status_code == 404
        assert "  boom: httpTrigger [disabled]" in host.startup_lines()


def test_local_settings_are_loaded_before_the_app_is_imported(tmp_path):
    (tmp_path / "host.json").write_text('{"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}')
    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"DEVHOST_TEST_ROUTE": "from-settings"}}))
    (tmp_path / "settings_at_import_app.py").write_text(
        "import os\n"
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route=os.environ['DEVHOST_TEST_ROUTE'])\n"
        "def read_at_import(req: func.HttpRequest) -> str:\n"
        "    return 'ok'\n"
    )
    try:
        with LocalHost(tmp_path, module="settings_at_import_app") as host:
            assert requests.get(f"{host.base_url}/from-settings").text == "ok"  # and no /api prefix
    finally:
        os.environ.pop("DEVHOST_TEST_ROUTE", None)


def test_a_graceful_stop_hands_back_the_messages_it_took_and_did_not_finish(tmp_path):
    # One queue function on one pool thread (batchSize 1), taking a new batch while one is in progress
    # (newBatchThreshold 1): one message running, one taken and queued behind it when the host stops.
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"queues": {
        "batchSize": 1, "newBatchThreshold": 1, "maxPollingInterval": "00:00:00.2"}}}))
    (tmp_path / "slow_queue_app.py").write_text(
        "import time\n"
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "STARTED = []\n"
        "@app.queue_trigger(arg_name='msg', queue_name='slow-items', connection='AzureWebJobsStorage')\n"
        "def slow(msg: func.QueueMessage) -> None:\n"
        "    STARTED.append(msg.get_body().decode())\n"
        "    time.sleep(0.5)\n"
    )
    queue = MemoryQueue()
    for body in ("first", "second", "third"):
        queue.send("slow-items", body)
    host = LocalHost(tmp_path, module="slow_queue_app", queue=queue, timers=False, local_settings=False).start()
    app_module = sys.modules["slow_queue_app"]
    try:
        assert eventually(lambda: app_module.STARTED and len(queue.peek("slow-items", max_messages=10)) == 1)
    finally:
        host.stop()
    started = list(app_module.STARTED)
    assert len(started) == 1  # the one running was finished ...
    visible = queue.receive("slow-items", max_messages=10, visibility_timeout=60)
    # ... and the one taken behind it is visible again at once with the one never taken, not after 600 s.
    assert sorted(m.body for m in visible) == sorted({"first", "second", "third"} - set(started))
