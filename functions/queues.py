"""Queue-triggered functions: lead creation, Sales outcome propagation, email delivery.

A function that raises leaves its message for the host to retry; after host.json's maxDequeueCount
the host moves it to ``<queue>-poison``."""
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
