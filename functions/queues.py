"""Queue-triggered functions: lead creation, Sales outcome propagation, email delivery; and the timer that
drains the lead queue in batches with SALES_MODE=dataverse.

A function that raises leaves its message for the host to retry; after host.json's maxDequeueCount
the host moves it to ``<queue>-poison``.

Which function consumes the lead queue is the host's choice, by app setting: with SALES_MODE=dataverse
``AzureWebJobs.create_lead.Disabled`` is true and ``create_lead_batches`` runs (infra/app/api.bicep sets
both); otherwise ``create_lead`` runs and ``create_lead_batches`` finds no batch consumer and returns."""
from __future__ import annotations

import azure.functions as func

from functions._runtime import container
from shared.observability import correlation

bp = func.Blueprint()


@bp.function_name("create_lead")
@bp.queue_trigger(arg_name="msg", queue_name="%LEAD_QUEUE%", connection="AzureWebJobsStorage")
def create_lead(msg: func.QueueMessage) -> None:
    with correlation(msg.id):
        container().lead_creation.handle(msg.get_body())


@bp.function_name("create_lead_batches")
@bp.timer_trigger(arg_name="timer", schedule="%LEAD_BATCH_SCHEDULE%", run_on_startup=False, use_monitor=True)
def create_lead_batches(timer: func.TimerRequest) -> None:
    batches = container().lead_batches
    if batches is None:
        return
    with correlation():
        batches.drain()


@bp.function_name("propagate_sales_outcome")
@bp.queue_trigger(arg_name="msg", queue_name="%OUTCOME_QUEUE%", connection="AzureWebJobsStorage")
def propagate_sales_outcome(msg: func.QueueMessage) -> None:
    with correlation(msg.id):
        container().propagation.handle(msg.get_body())


@bp.function_name("deliver_email")
@bp.queue_trigger(arg_name="msg", queue_name="%EMAIL_QUEUE%", connection="AzureWebJobsStorage")
def deliver_email(msg: func.QueueMessage) -> None:
    with correlation(msg.id):
        container().email_delivery.handle(msg.get_body())
