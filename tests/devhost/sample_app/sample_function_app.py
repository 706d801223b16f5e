"""A small Functions app for the devhost tests: one of each trigger devhost runs."""
from __future__ import annotations

import json
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Every invocation appends here, by function name, so the tests can see what the host passed in.
CALLS: dict[str, list[dict]] = {}
_lock = threading.Lock()


def record(name: str, **facts) -> None:
    with _lock:
        CALLS.setdefault(name, []).append(facts)


def calls(name: str) -> list[dict]:
    with _lock:
        return list(CALLS.get(name, []))


@app.route(route="signups/{id}", methods=["GET"])
def get_signup(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    body = {
        "id": req.route_params.get("id"),
        "lang": req.params.get("lang"),
        "tag": req.headers.get("x-tag"),
        "function": context.function_name,
        "invocation_id": context.invocation_id,
        "traceparent": context.trace_context.trace_parent,
    }
    return func.HttpResponse(json.dumps(body), status_code=200, mimetype="application/json",
                             headers={"X-Signup-Id": req.route_params.get("id", "")})


@app.route(route="signups", methods=["POST"])
@app.queue_output(arg_name="outbox", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
def create_signup(req: func.HttpRequest, outbox: func.Out[str]) -> func.HttpResponse:
    outbox.set(req.get_body().decode("utf-8"))
    return func.HttpResponse("accepted", status_code=201)


@app.route(route="keyed", auth_level=func.AuthLevel.FUNCTION)
def keyed(req: func.HttpRequest) -> str:
    return "secret"


@app.route(route="boom")
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom")


@app.route(route="hello/{name:alpha}/{*rest}", methods=["GET", "PUT"])
async def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"{req.route_params['name']}|{req.route_params.get('rest', '')}")


@app.timer_trigger(schedule="%SAMPLE_SCHEDULE%", arg_name="timer", run_on_startup=False)
def tick(timer: func.TimerRequest) -> None:
    record("tick", past_due=timer.past_due)


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
def on_item(msg: func.QueueMessage) -> None:
    record("on_item", body=msg.get_body().decode("utf-8"), id=msg.id, dequeue_count=msg.dequeue_count,
           insertion_time=msg.insertion_time)


@app.queue_trigger(arg_name="msg", queue_name="sample-failing", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    record("always_fails", body=msg.get_body().decode("utf-8"), dequeue_count=msg.dequeue_count)
    raise ValueError("this function always fails")
