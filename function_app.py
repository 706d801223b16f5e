"""The Function App: one blueprint per concern. Importing it does no I/O (cold start matters)."""
import azure.functions as func

from functions import (
    assets, back_office, channel_sync, console_shell, health, local_issuer, openapi, orders, partners, portal,
    queues, sales_events, signups, storefront,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (signups.bp, storefront.bp, channel_sync.bp, queues.bp, back_office.bp, sales_events.bp,
                  partners.bp, orders.bp, openapi.bp, assets.bp, console_shell.bp, health.bp, portal.bp,
                  local_issuer.bp):
    app.register_functions(blueprint)
