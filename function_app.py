"""The Function App: one blueprint per concern. Importing it does no I/O (cold start matters)."""
import azure.functions as func

from functions import (
    approvals, assets, back_office, back_office_ledger, back_office_partners, back_office_prospect,
    back_office_queues, channel_sync, console_ledger, console_partner_time_zone, console_partners,
    console_prospect, console_prospects, console_queues, console_shell, erasure, health, intake_defenses,
    local_issuer, openapi, orders, partners, portal, portal_approvals, portal_credit, prospect_list, queues,
    sales_events, signup_confirmation, signups, storefront,
)

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (signups.bp, storefront.bp, channel_sync.bp, queues.bp, back_office.bp, sales_events.bp,
                  partners.bp, orders.bp, openapi.bp, assets.bp, console_shell.bp, health.bp,
                  console_prospects.bp, prospect_list.bp, local_issuer.bp, portal.bp, back_office_partners.bp,
                  back_office_prospect.bp, console_partners.bp, console_prospect.bp, back_office_queues.bp,
                  console_queues.bp, approvals.bp, back_office_ledger.bp, console_ledger.bp,
                  console_partner_time_zone.bp, erasure.bp, intake_defenses.bp, portal_approvals.bp,
                  portal_credit.bp, signup_confirmation.bp):
    app.register_functions(blueprint)
