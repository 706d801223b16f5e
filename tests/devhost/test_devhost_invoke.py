"""Binding parameters and calling functions, without a FunctionApp: specs are written out here."""
from datetime import datetime, timezone

import azure.functions as func
import pytest

from devhost.functions import FunctionSpec
from devhost.invoke import FunctionLoadError, Invoker, plan_call
from devhost.queues import queue_message
from shared.ports import ReceivedMessage

QUEUE_TRIGGER = {"type": "queueTrigger", "direction": "IN", "name": "msg", "queueName": "in-items"}


def spec(function, trigger=QUEUE_TRIGGER, *outputs) -> FunctionSpec:
    return FunctionSpec(function.__name__, function, trigger, (trigger, *outputs), "/app")


def message(body: str = "hello", dequeue_count: int = 2) -> func.QueueMessage:
    received = ReceivedMessage(queue="in-items", id="m1", pop_receipt="r1", body=body, dequeue_count=dequeue_count,
                               inserted_at=datetime(2024, 5, 1, tzinfo=timezone.utc))
    return queue_message(received, datetime(2024, 5, 1, 0, 10, tzinfo=timezone.utc))


def test_queue_message_carries_the_trigger_metadata():
    msg = message()
    assert isinstance(msg, func.QueueMessage)
    assert (msg.id, msg.pop_receipt, msg.get_body(), msg.dequeue_count) == ("m1", "r1", b"hello", 2)
    assert msg.insertion_time == datetime(2024, 5, 1, tzinfo=timezone.utc)
    assert msg.expiration_time == datetime(2024, 5, 8, tzinfo=timezone.utc)
    assert msg.time_next_visible == datetime(2024, 5, 1, 0, 10, tzinfo=timezone.utc)


def test_context_and_trigger_are_bound_by_name():
    seen = {}

    def handler(msg: func.QueueMessage, context: func.Context) -> None:
        seen.update(body=msg.get_body(), name=context.function_name, directory=context.function_directory,
                    invocation=context.invocation_id, local=context.thread_local_storage.invocation_id,
                    trace=context.trace_context.trace_parent, retry=context.retry_context.retry_count)

    Invoker(lambda q, b: None).invoke(plan_call(spec(handler)), message(), reason="test")
    assert seen["body"] == b"hello"
    assert (seen["name"], seen["directory"], seen["retry"]) == ("handler", "/app", 0)
    assert seen["invocation"] == seen["local"]
    assert seen["trace"].startswith("00-") and len(seen["trace"]) == 55


def test_str_and_bytes_annotations_get_the_body():
    got = []

    def as_text(msg: str) -> None:
        got.append(msg)

    def as_bytes(msg: bytes) -> None:
        got.append(msg)

    invoker = Invoker(lambda q, b: None)
    invoker.invoke(plan_call(spec(as_text)), message("ü"), reason="test")
    invoker.invoke(plan_call(spec(as_bytes)), message("ü"), reason="test")
    assert got == ["ü", "ü".encode()]


def test_async_functions_run_on_one_loop():
    import asyncio
    loops = []

    async def handler(msg: func.QueueMessage) -> None:
        await asyncio.sleep(0)
        loops.append(asyncio.get_running_loop())

    invoker = Invoker(lambda q, b: None)
    plan = plan_call(spec(handler))
    invoker.invoke(plan, message(), reason="test")
    invoker.invoke(plan, message(), reason="test")
    invoker.stop()
    assert len(loops) == 2 and loops[0] is loops[1]


def test_queue_outputs_are_sent_after_success(monkeypatch):
    monkeypatch.setenv("OUT_QUEUE", "out-items")
    sent = []
    out_binding = {"type": "queue", "direction": "OUT", "name": "out", "queueName": "%OUT_QUEUE%"}
    return_binding = {"type": "queue", "direction": "OUT", "name": "$return", "queueName": "returned"}

    def handler(msg: func.QueueMessage, out: func.Out[str]) -> list[str]:
        out.set("one")
        return ["two", "three"]

    Invoker(lambda q, b: sent.append((q, b))).invoke(
        plan_call(spec(handler, QUEUE_TRIGGER, out_binding, return_binding)), message(), reason="test")
    assert sorted(sent) == [("out-items", "one"), ("returned", "three"), ("returned", "two")]


def test_a_failing_function_sends_nothing_and_raises():
    sent = []
    out_binding = {"type": "queue", "direction": "OUT", "name": "out", "queueName": "out-items"}

    def handler(msg: func.QueueMessage, out: func.Out[str]) -> None:
        out.set("never")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        Invoker(lambda q, b: sent.append(b)).invoke(plan_call(spec(handler, QUEUE_TRIGGER, out_binding)),
                                                    message(), reason="test")
    assert sent == []


def test_what_the_worker_would_refuse_is_refused_before_starting(monkeypatch):
    monkeypatch.delenv("NOT_SET", raising=False)

    def unbound(msg: func.QueueMessage, extra) -> None: ...

    def wrong_name(message: func.QueueMessage) -> None: ...

    def blob_input(msg: func.QueueMessage, doc: func.InputStream) -> None: ...

    with pytest.raises(FunctionLoadError, match=r"parameters \['extra'\] are declared in Python but have no binding"):
        plan_call(spec(unbound))
    with pytest.raises(FunctionLoadError, match="names parameter 'msg', which the function lacks"):
        plan_call(spec(wrong_name))
    blob = {"type": "blob", "direction": "IN", "name": "doc", "path": "x/y"}
    with pytest.raises(FunctionLoadError, match="binding 'doc' of type 'blob' is not supported"):
        plan_call(spec(blob_input, QUEUE_TRIGGER, blob))
    bad_queue = {"type": "queue", "direction": "OUT", "name": "$return", "queueName": "Bad_Name"}
    with pytest.raises(FunctionLoadError, match="not a valid queue name"):
        plan_call(spec(wrong_name, {**QUEUE_TRIGGER, "name": "message"}, bad_queue))
    unset = {"type": "queue", "direction": "OUT", "name": "$return", "queueName": "%NOT_SET%"}
    with pytest.raises(FunctionLoadError, match="NOT_SET, which is not set"):
        plan_call(spec(wrong_name, {**QUEUE_TRIGGER, "name": "message"}, unset))
    def on_event(event: func.EventGridEvent) -> None: ...

    event_grid = {"type": "eventGridTrigger", "direction": "IN", "name": "event"}
    with pytest.raises(FunctionLoadError, match="trigger type 'eventGridTrigger' is not supported"):
        plan_call(spec(on_event, event_grid))


def test_an_app_indexed_elsewhere_in_the_process_still_loads(tmp_path, monkeypatch):
    from devhost.functions import load_functions

    (tmp_path / "host.json").write_text("{}")
    (tmp_path / "indexed_twice_app.py").write_text(
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='ping')\n"
        "def ping(req): return 'pong'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import indexed_twice_app

    indexed_twice_app.app.get_functions()  # the one call FunctionApp allows
    specs = load_functions(tmp_path, "indexed_twice_app")
    assert [(s.name, s.trigger["route"]) for s in specs] == [("ping", "ping")]
    assert load_functions(tmp_path, "indexed_twice_app") == specs
