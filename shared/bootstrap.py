"""The one place where settings become wired adapters and services."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from shared.config import Settings
from shared.ports import Clock, EmailTransport, KeptEmails, Queue, SalesGateway, Store, TokenVerifier


def build_clock(settings: Settings) -> Clock:
    from shared.adapters.clock import SystemClock

    return SystemClock()


def build_store(settings: Settings) -> Store:
    if settings.state_backend == "azure":
        from shared.adapters.azure_storage import table_service_client
        from shared.adapters.azure_table_store import AzureTableStore

        return AzureTableStore(table_service_client(settings), settings.state_table)
    from shared.adapters.sqlite_store import SqliteStore

    return SqliteStore(settings.data_dir / "state.sqlite3")


def build_queue(settings: Settings, clock: Clock | None = None) -> Queue:
    if settings.state_backend == "azure":
        from shared.adapters.azure_queue import AzureStorageQueue

        return AzureStorageQueue.from_settings(settings)
    from shared.adapters.sqlite_queue import SqliteQueue

    return SqliteQueue(settings.data_dir / "queues.sqlite3", clock or build_clock(settings))


def build_sales(settings: Settings, queue: Queue, clock: Clock) -> SalesGateway | None:
    """The Sales gateway; None with SALES_MODE=none (no CRM: back-office users decide prospects)."""
    if settings.sales_mode == "none":
        return None
    if settings.sales_mode == "dataverse":
        from shared.adapters.dataverse_sales import DataverseSales, managed_identity_credential

        return DataverseSales(settings.dataverse_url, managed_identity_credential(settings.dataverse_client_id),
                              prospect_number_column=settings.dataverse_prospect_number_column)
    from shared.adapters.embedded_sales import EmbeddedSales

    return EmbeddedSales(settings.data_dir / "sales.sqlite3", clock, queue, settings.outcome_queue)


KEEPING_TRANSPORTS = ("outbox", "storage")  # the transports that keep each email, readable as .eml


def build_transport(settings: Settings) -> EmailTransport:
    if settings.email_transport == "smtp":
        from shared.adapters.smtp_email import SmtpTransport

        return SmtpTransport(settings.smtp_host, settings.smtp_port, username=settings.smtp_username or None,
                             password=settings.smtp_password or None, starttls=settings.smtp_starttls,
                             timeout=settings.smtp_timeout_seconds)
    if settings.email_transport == "ses":
        from shared.adapters.ses_email import SesTransport

        return SesTransport(region=settings.ses_region, configuration_set=settings.ses_configuration_set or None)
    if settings.email_transport == "storage":
        from shared.adapters.blob_outbox_email import BlobOutboxTransport

        return BlobOutboxTransport.from_settings(settings)
    from shared.adapters.outbox_email import OutboxFolderTransport

    return OutboxFolderTransport(settings.data_dir / "outbox")


def build_token_verifier(settings: Settings) -> TokenVerifier:
    """The partner routes' bearer-token check; NotConfigured when PARTNER_TOKEN_* are empty (routes off)."""
    if not settings.partner_tokens_configured:
        from shared.domain.errors import NotConfigured

        raise NotConfigured("partner routes are off: set PARTNER_TOKEN_ISSUER, PARTNER_TOKEN_AUDIENCE "
                            "and PARTNER_TOKEN_JWKS_URL")
    from shared.adapters.jwks_tokens import JwksTokenVerifier

    return JwksTokenVerifier(settings.partner_token_issuer, settings.partner_token_audience,
                             settings.partner_token_jwks_url, subject_claim=settings.partner_token_subject_claim,
                             email_trust=settings.partner_email_trust)


def build_captcha(settings: Settings):
    """The CAPTCHA provider's siteverify client; None while CAPTCHA_PROVIDER is empty (no CAPTCHA)."""
    if not settings.captcha_provider:
        return None
    from shared.adapters.captcha import SiteverifyCaptcha

    return SiteverifyCaptcha(settings.captcha_provider, settings.captcha_secret, settings.captcha_site_key,
                             verify_url=settings.captcha_verify_url, timeout=settings.captcha_timeout_seconds)


@dataclass
class Container:
    """Adapters are built on construction; services on first use (a function builds only what it calls)."""

    settings: Settings
    clock: Clock
    store: Store
    queue: Queue
    sales: SalesGateway | None  # None with SALES_MODE=none
    transport: EmailTransport

    @classmethod
    def build(cls, settings: Settings, **replacements) -> Container:
        """Wire everything from settings; ``replacements`` swap an adapter (tests inject faults this way)."""
        clock = replacements.pop("clock", None) or build_clock(settings)
        queue = replacements.pop("queue", None) or build_queue(settings, clock)
        return cls(
            settings=settings,
            clock=clock,
            store=replacements.pop("store", None) or build_store(settings),
            queue=queue,
            sales=replacements.pop("sales", None) or build_sales(settings, queue, clock),
            transport=replacements.pop("transport", None) or build_transport(settings),
        )

    @cached_property
    def token_verifier(self) -> TokenVerifier:
        """Built on first use (no I/O: keys are fetched by the first verify). Raises NotConfigured, every time
        it is asked, while the PARTNER_TOKEN_* settings are empty; tests may assign a verifier instead."""
        return build_token_verifier(self.settings)

    @property
    def kept_emails(self) -> KeptEmails:
        """The emails the transport keeps (EMAIL_TRANSPORT=outbox or storage); NotConfigured with one that
        sends them on (SMTP, SES), where the email records (`b2b emails`) are what is left to read."""
        if self.settings.email_transport not in KEEPING_TRANSPORTS:
            from shared.domain.errors import NotConfigured

            raise NotConfigured(f"EMAIL_TRANSPORT={self.settings.email_transport} sends the emails on and keeps "
                                f"none; the outbox is read with EMAIL_TRANSPORT={' or '.join(KEEPING_TRANSPORTS)}")
        return self.transport  # type: ignore[return-value]

    @cached_property
    def local_issuer(self):
        """The development issuer of LOCAL_ISSUER=true (settings refuse it in Azure and off loopback); else None."""
        if not self.settings.local_issuer:
            return None
        from shared.adapters.local_issuer import LocalIssuer

        return LocalIssuer(self.settings.data_dir, self.settings.public_base_url, self.settings.portal_redirect_uri)

    @cached_property
    def portal_seal(self):
        """The portal's cookie seal; NotConfigured without PORTAL_SESSION_SECRET (a local issuer keeps its own)."""
        from shared.web.portal_session import PortalSeal, SessionSecretMissing

        secret = self.settings.portal_session_secret
        if not secret and self.settings.local_issuer:
            from shared.adapters.local_issuer import local_session_secret

            secret = local_session_secret(self.settings.data_dir)
        try:
            return PortalSeal(secret)
        except SessionSecretMissing as error:
            from shared.domain.errors import NotConfigured

            raise NotConfigured(f"the partner portal is off: {error}") from None

    @cached_property
    def oidc_client(self):
        """The portal's OpenID Connect client; NotConfigured while PORTAL_OIDC_AUTHORITY is empty."""
        s = self.settings
        if not s.portal_configured:
            from shared.domain.errors import NotConfigured

            raise NotConfigured("the partner portal is off: set PORTAL_OIDC_AUTHORITY and PORTAL_CLIENT_ID "
                                "(or LOCAL_ISSUER=true on a developer's machine)")
        from shared.adapters.oidc_client import OidcClient

        return OidcClient(s.portal_oidc_authority, s.portal_client_id, s.portal_redirect_uri,
                          client_secret=s.portal_client_secret, api_scope=s.portal_api_scope,
                          expected_issuer=s.partner_token_issuer)

    @cached_property
    def console_access(self):
        """Who may enter the console: the platform's sign-in in Azure, a development sign-in on loopback
        (both decided from the platform's own variables: WEBSITE_AUTH_ENABLED, WEBSITE_HOSTNAME, and those
        shared/deployment.py knows Azure by). Tests may assign one instead."""
        import os

        from shared.services.console_access import ConsoleAccess

        return ConsoleAccess.from_environment(os.environ, self.settings.console_operator_role,
                                              self.settings.console_viewer_role)

    @cached_property
    def relay(self):
        from shared.services.outbox import OutboxRelay

        return OutboxRelay(self.store, self.queue, self.clock)

    def signup_status_url(self, signup_id: str) -> str:
        """Where a signup's status is read (signup_status): on the configured public base URL, never on a
        request's Host header, which the client chooses."""
        return f"{self.settings.public_base_url}/api/signups/{signup_id}"

    @cached_property
    def intake(self):
        from shared.services.intake import IntakeService, ReceivedEmail

        return IntakeService(self.store, self.clock, self.intake_emails)

    @cached_property
    def intake_emails(self):
        from shared.services.intake import ReceivedEmail

        s, confirmation = self.settings, self.email_confirmation
        return ReceivedEmail(self.relay, s.email_queue, s.branding, self.signup_status_url,
                             send_received=s.send_received_email,
                             confirmation_url=None if confirmation is None else confirmation.links.url)

    @cached_property
    def email_confirmation(self):
        """The double opt-in (REQUIRE_EMAIL_CONFIRMATION), or None. Its links are signed with SIGNUP_LINK_SECRET,
        else the portal's session secret (a key derived for this use alone), else, off Azure, the local one."""
        s = self.settings
        if not s.require_email_confirmation:
            return None
        from datetime import timedelta

        from shared.services.email_confirmation import ConfirmationLinks, EmailConfirmation

        secret = s.signup_link_secret or s.portal_session_secret
        if not secret:
            import os

            from shared.deployment import running_in_azure

            if running_in_azure(os.environ):
                from shared.domain.errors import NotConfigured

                raise NotConfigured("REQUIRE_EMAIL_CONFIRMATION needs SIGNUP_LINK_SECRET (a Key Vault reference)")
            from shared.adapters.local_issuer import local_session_secret

            secret = local_session_secret(s.data_dir)
        links = ConfirmationLinks(secret, timedelta(hours=s.signup_link_hours), s.public_base_url)
        return EmailConfirmation(self.store, self.clock, links, repeat_email=self._repeat_email,
                                 send_now=self.relay.send_now, kept=self._kept_if_any)

    def _repeat_email(self, uow, repeat, first):
        return self.intake_emails.for_repeat(uow, repeat, first)

    @cached_property
    def intake_guard(self):
        """The form's and the JSON API's defenses: honeypot, fill time, CAPTCHA, rate limits."""
        from shared.services.intake_guard import DefenseSettings, IntakeGuard

        return IntakeGuard(self.store, self.clock, DefenseSettings.of(self.settings), build_captcha(self.settings))

    @cached_property
    def signup_status(self):
        from shared.services.intake import SignupStatusService

        return SignupStatusService(self.store)

    @cached_property
    def channel_sync(self):
        from shared.services.sync import ChannelSync

        return ChannelSync(self.store, self.clock, self.relay, self.settings.lead_queue, self.settings.sync_batch_size,
                           create_leads=self.sales is not None, reconciliation=self.reconciliation,
                           user_sync=self.user_sync, on_prospect_created=self.merchant_notice.prospect_created,
                           confirmation=self.email_confirmation, repeat_email=self._repeat_email)

    @cached_property
    def user_sync(self):
        from shared.services.user_sync import UserSync

        s = self.settings
        return UserSync(self.store, self.clock, self.relay, s.email_queue, s.store_name, s.store_url,
                        s.sync_batch_size)

    @cached_property
    def partner_users(self):
        from shared.services.partner_users import PartnerUsers

        return PartnerUsers(self.store, self.clock)

    @cached_property
    def credit(self):
        from shared.services.credit import Credit

        return Credit(self.store, self.clock, self.settings.partner_time_zone)

    @cached_property
    def approvals(self):
        from shared.services.approvals import Approvals

        s = self.settings
        return Approvals(self.store, self.clock, self.relay, s.email_queue, s.store_name,
                         f"{s.public_base_url}/api/portal/approvals",
                         expiry_days=s.approval_expiry_days, time_zone=s.partner_time_zone)

    @cached_property
    def ledger(self):
        from shared.services.ledger import CreditLedger

        return CreditLedger(self.store, self.clock)

    @cached_property
    def partner_admin(self):
        from shared.services.partner_admin import PartnerAdmin

        return PartnerAdmin(self.store, self.clock)

    @cached_property
    def partner_onboarding(self):
        from shared.services.partner_onboarding import PartnerOnboarding

        return PartnerOnboarding(self.store, self.clock)

    @cached_property
    def reconciliation(self):
        """Sales decisions whose outcome never arrived, enqueued again; None with SALES_MODE=none."""
        if self.sales is None:
            return None
        from shared.services.reconciliation import Reconciliation

        return Reconciliation(self.store, self.sales, self.queue, self.settings.outcome_queue)

    @cached_property
    def lead_creation(self):
        if self.sales is None:
            from shared.services.back_office import LeadsDisabled

            return LeadsDisabled(self.store, self.clock)
        from shared.services.leads import LeadCreation

        return LeadCreation(self.store, self.sales, self.clock)

    @cached_property
    def lead_batches(self):
        """The batch consumer of the lead queue with SALES_MODE=dataverse (leads go to Dataverse in $batch
        requests); None otherwise, where the per-message queue trigger creates each lead."""
        if self.settings.sales_mode != "dataverse" or self.sales is None:
            return None
        from shared.services.leads import LeadBatchCreation

        return LeadBatchCreation(self.lead_creation, self.sales, self.queue, self.settings.lead_queue,
                                 batch_size=self.settings.lead_batch_size)

    @cached_property
    def decision_effects(self):
        from shared.services.propagation import DecisionEffects

        s = self.settings
        return DecisionEffects(s.email_queue, s.branding)

    @cached_property
    def propagation(self):
        from shared.services.propagation import OutcomePropagation, ProspectLocks

        return OutcomePropagation(self.store, self.sales, self.clock, self.relay, self.decision_effects,
                                  locks=ProspectLocks())

    @cached_property
    def back_office(self):
        from shared.services.back_office import BackOffice

        return BackOffice(self.store, self.clock, self.relay, self.decision_effects)

    @cached_property
    def email_delivery(self):
        from shared.domain.email_templates import validate_templates
        from shared.services.notifications import EmailDelivery, Sender

        s = self.settings
        validate_templates(s.email_templates_dir)  # a broken override fails here, not in an inbox
        return EmailDelivery(self.store, self.transport, self.queue, self.clock,
                             Sender(s.email_sender_name, s.email_sender_address), s.email_queue, s.email_max_attempts,
                             s.email_templates_dir)

    @cached_property
    def prospect_directory(self):
        from shared.services.prospect_directory import ProspectDirectory

        return ProspectDirectory(self.store)

    @cached_property
    def email_outbox(self):
        from shared.services.outbox import EmailOutbox

        return EmailOutbox(self.store, self.relay, self.clock, self.settings.email_queue, self.email_delivery.render)

    @cached_property
    def operator(self):
        from shared.services.operator import OperatorService

        return OperatorService(self.store, self.queue, self.settings.queue_names, self.clock)

    @cached_property
    def prospect_timeline(self):
        from shared.services.prospect_timeline import ProspectTimeline

        return ProspectTimeline(self.store, self.queue, self.clock, self.settings.queue_names, self.operator,
                                dataverse_url=self.settings.dataverse_url)

    @cached_property
    def drift(self):
        """Prospects that disagree with Sales, and reconciling them now (raises without Sales)."""
        from shared.services.drift import DriftCheck

        return DriftCheck(self.store, self.sales, self.propagation)

    @cached_property
    def sales_webhook(self):
        from shared.services.sales_webhook import SalesWebhook

        opportunity_lead = self.sales.get_opportunity_lead if self.sales is not None else None
        return SalesWebhook(self.queue, self.settings.outcome_queue, self.clock, sales=self.sales, store=self.store,
                            opportunity_lead=opportunity_lead, budget=self.settings.sales_webhook_budget_seconds)

    @property
    def _kept_if_any(self) -> KeptEmails | None:
        """The emails the transport keeps, or None when it keeps none: what erasing deletes copies from."""
        return self.transport if self.settings.email_transport in KEEPING_TRANSPORTS else None

    @cached_property
    def erasure(self):
        """Erasing an applicant's personal data: on request, and the retention timer (RETENTION_DAYS)."""
        from shared.services.erasure import Erasure

        s = self.settings
        return Erasure(self.store, self.queue, self.clock, s.queue_names, self._kept_if_any, s.retention_days,
                       s.sync_batch_size)

    @cached_property
    def merchant_notice(self):
        """The merchant's "new partner request" notice (OPERATOR_EMAIL, OPERATOR_NOTICE)."""
        from shared.services.merchant_notice import MerchantNotice

        s = self.settings
        return MerchantNotice(self.store, self.clock, self.relay, s.email_queue, s.operator_emails, s.merchant_notice,
                              s.operator_language, s.console_base_url, s.store_name, s.store_time_zone)

    def queue_handlers(self) -> dict:
        """Which service consumes which queue (the CLI drains queues with these, as the host would)."""
        s = self.settings
        return {
            s.lead_queue: self.lead_creation.handle,
            s.outcome_queue: self.propagation.handle,
            s.email_queue: self.email_delivery.handle,
        }
