"""Settings: every value the app reads, from the environment (app settings in Azure)."""
from __future__ import annotations

import os
import re
import json
from dataclasses import dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

# Setting name → (attribute, default). The names are what Azure app settings, local.settings.json and
# the Bicep use; a test keeps them in step. The timer schedules (CHANNEL_SYNC_SCHEDULE,
# LEAD_BATCH_SCHEDULE) are not here: the Functions host resolves the %…% in the trigger itself.
_SETTINGS: dict[str, tuple[str, str]] = {
    "STATE_BACKEND": ("state_backend", "sqlite"),
    "SALES_MODE": ("sales_mode", "embedded"),
    "EMAIL_TRANSPORT": ("email_transport", "outbox"),
    "DATA_DIR": ("data_dir", ".data"),
    "LEAD_QUEUE": ("lead_queue", "b2b-leads"),
    "OUTCOME_QUEUE": ("outcome_queue", "b2b-sales-outcomes"),
    "EMAIL_QUEUE": ("email_queue", "b2b-emails"),
    "SYNC_BATCH_SIZE": ("sync_batch_size", "200"),
    "STORE_NAME": ("store_name", "Contoso B2B"),
    "STORE_URL": ("store_url", "http://localhost:7071/api/signup"),
    # The storefront's branding, the default of every channel; CHANNELS overrides any of them per channel id.
    # SIGN_IN_URL is where an approved partner signs in (the approval email's link); empty: this app's own
    # partner portal, PUBLIC_BASE_URL/api/portal.
    "LOGO_URL": ("logo_url", ""),
    "ACCENT_COLOR": ("accent_color", "#0b5cad"),
    "PRIVACY_POLICY_URL": ("privacy_policy_url", ""),
    "SUPPORT_EMAIL": ("support_email", ""),
    "SIGN_IN_URL": ("sign_in_url", ""),
    # The time zone the storefront's pages show times in (an IANA name, e.g. Europe/Stockholm).
    "STORE_TIME_ZONE": ("store_time_zone", "UTC"),
    # Per channel id, a JSON object of the branding above that differs, by lower-case name, e.g.
    # {"nordic-web": {"store_name": "Contoso Norden", "accent_color": "#006644", "sign_in_url": "https://…"}}.
    # One JSON setting, not CHANNEL__<id>__… settings: channel ids hold '-' and '.', which Azure app setting
    # names on Linux cannot.
    "CHANNELS": ("channels", ""),
    # The "we received your request" email, sent at intake with the status link.
    "SEND_RECEIVED_EMAIL": ("send_received_email", "true"),
    "EMAIL_SENDER_NAME": ("email_sender_name", "Contoso B2B"),
    "EMAIL_SENDER_ADDRESS": ("email_sender_address", "no-reply@contoso.example"),
    "EMAIL_MAX_ATTEMPTS": ("email_max_attempts", "8"),
    "EMAIL_TEMPLATES_DIR": ("email_templates_dir", ""),
    "LOG_LEVEL": ("log_level", "INFO"),
    # Where the app's HTTP routes are reached from outside: the links it hands out (a signup's status_url,
    # Location, the confirmation page) start with it, never with the request's Host header. Empty: the app's
    # own host name, https://$WEBSITE_HOSTNAME in Azure (http:// for a loopback host: the local host sets
    # WEBSITE_HOSTNAME to its own 127.0.0.1:<port>), else http://localhost:7071.
    "PUBLIC_BASE_URL": ("public_base_url", ""),
    # SALES_MODE=dataverse: the organization, and the managed identity registered as its application user.
    # Tokens come from azure-identity's DefaultAzureCredential (shared/adapters/dataverse_sales.py): the
    # platform's managed identity endpoint in Azure (IDENTITY_ENDPOINT/IDENTITY_HEADER, set by the platform),
    # AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET or a developer sign-in elsewhere.
    "DATAVERSE_URL": ("dataverse_url", ""),
    "DATAVERSE_CLIENT_ID": ("dataverse_client_id", ""),
    "DATAVERSE_PROSPECT_NUMBER_COLUMN": ("dataverse_prospect_number_column", "cr_b2bprospectnumber"),
    # SALES_MODE=dataverse: the lead queue is drained in batches by a timer (create_lead_batches), each
    # batch's leads created in one $batch; the per-message trigger create_lead is disabled in that mode.
    "LEAD_BATCH_SIZE": ("lead_batch_size", "100"),
    # The time one Dataverse webhook request (sales_events) may take, Sales reads included: Dataverse waits
    # 60 s for an answer, and retries only a 502/503/504 that came in time.
    "SALES_WEBHOOK_BUDGET_SECONDS": ("sales_webhook_budget_seconds", "20"),
    # EMAIL_TRANSPORT=smtp
    "SMTP_HOST": ("smtp_host", ""),
    "SMTP_PORT": ("smtp_port", "587"),
    "SMTP_USERNAME": ("smtp_username", ""),
    "SMTP_PASSWORD": ("smtp_password", ""),
    "SMTP_STARTTLS": ("smtp_starttls", "true"),
    "SMTP_TIMEOUT_SECONDS": ("smtp_timeout_seconds", "30"),
    # EMAIL_TRANSPORT=ses (AWS credentials come from boto3's own chain, not from these settings)
    "SES_REGION": ("ses_region", ""),
    "SES_CONFIGURATION_SET": ("ses_configuration_set", ""),
    # Partner routes: bearer JWTs from this issuer for this audience, keys from its JWKS; empty: routes off
    "PARTNER_TOKEN_ISSUER": ("partner_token_issuer", ""),
    "PARTNER_TOKEN_AUDIENCE": ("partner_token_audience", ""),
    "PARTNER_TOKEN_JWKS_URL": ("partner_token_jwks_url", ""),
    # The claim that names the account (bound to a partner user at its first sign-in): `sub` (External ID and
    # B2C's stable subject; Entra's is per application) or `oid` (the user's object id in the tenant, the same
    # for every application); a token without it is refused.
    "PARTNER_TOKEN_SUBJECT_CLAIM": ("partner_token_subject_claim", "sub"),
    # When a token's email may bind an account to the user added with that email, at its first sign-in (comma
    # separated): email_verified (`email` with `email_verified: true`), emails_claim (B2C / External ID's
    # `emails` of a local account: no `idp` claim, or the issuer's own). preferred_username never counts.
    "PARTNER_TOKEN_EMAIL_TRUST": ("partner_token_email_trust", "email_verified,emails_claim"),
    # The partner portal (GET /api/portal): OpenID Connect, authorization code + PKCE, as a confidential web
    # client. The authority's discovery document is at <authority>/.well-known/openid-configuration (External
    # ID: https://<tenant>.ciamlogin.com/<tenant-id>/v2.0; B2C: https://<tenant>.b2clogin.com/<tenant>.
    # onmicrosoft.com/<user-flow>/v2.0); its `issuer` must be PARTNER_TOKEN_ISSUER. The redirect URI to
    # register is <public base>/api/portal/callback. The token the portal hands the partner services is the
    # access token for PORTAL_API_SCOPE (e.g. api://<api-app-id>/Partners.Manage; its audience is
    # PARTNER_TOKEN_AUDIENCE) or, without a scope, the ID token (PARTNER_TOKEN_AUDIENCE = PORTAL_CLIENT_ID).
    "PORTAL_OIDC_AUTHORITY": ("portal_oidc_authority", ""),
    "PORTAL_CLIENT_ID": ("portal_client_id", ""),
    "PORTAL_CLIENT_SECRET": ("portal_client_secret", ""),
    "PORTAL_API_SCOPE": ("portal_api_scope", ""),
    # Seals the portal's session cookie (the token, encrypted and signed) and derives its CSRF tokens and each
    # sign-in's PKCE verifier and nonce: at least 32 characters, random, in Key Vault. Changing it signs
    # everyone out.
    "PORTAL_SESSION_SECRET": ("portal_session_secret", ""),
    # Local development only (make run): the app serves a labelled development issuer at /api/local-issuer and
    # points the portal and the partner token settings at it. Refused in Azure and off loopback.
    "LOCAL_ISSUER": ("local_issuer", "false"),
    # The Azure backend reads the same storage settings the Functions host reads for its triggers:
    # a connection string (Azurite, local) or identity-based service URIs.
    "AzureWebJobsStorage": ("storage_connection_string", ""),
    "AzureWebJobsStorage__queueServiceUri": ("storage_queue_uri", ""),
    "AzureWebJobsStorage__tableServiceUri": ("storage_table_uri", ""),
    "AzureWebJobsStorage__blobServiceUri": ("storage_blob_uri", ""),
    "AzureWebJobsStorage__credential": ("storage_credential", ""),
    "AzureWebJobsStorage__clientId": ("storage_client_id", ""),
    "STATE_TABLE": ("state_table", "b2bstate"),
    # The console's app roles (App Service Authentication with Entra ID): the first acts, the second reads.
    "CONSOLE_OPERATOR_ROLE": ("console_operator_role", "B2B.Operator"),
    "CONSOLE_VIEWER_ROLE": ("console_viewer_role", "B2B.Viewer"),
    # EMAIL_TRANSPORT=storage: each email kept as a blob <message id>.eml in this container of the
    # AzureWebJobsStorage account (created with the first email), until SMTP or SES is configured.
    "EMAIL_OUTBOX_CONTAINER": ("email_outbox_container", "b2b-outbox"),
    # Retention (shared/services/erasure.py): the personal data of rejected prospects and of requests that never
    # became one is erased this many days after their decision (or receipt); 0 keeps it forever. The timer's
    # schedule is RETENTION_SCHEDULE (resolved by the host, like CHANNEL_SYNC_SCHEDULE).
    "RETENTION_DAYS": ("retention_days", "90"),
    # The merchant's "new partner request" notice (shared/services/merchant_notice.py): to these addresses
    # (comma separated; empty: none), for each new prospect (each) or once a day (daily, on the timer
    # OPERATOR_DIGEST_SCHEDULE), or off; empty: each when OPERATOR_EMAIL is set. In OPERATOR_LANGUAGE, with
    # a link into the console at CONSOLE_URL (empty: PUBLIC_BASE_URL/api/console).
    "OPERATOR_EMAIL": ("operator_email", ""),
    "OPERATOR_NOTICE": ("operator_notice", ""),
    "OPERATOR_LANGUAGE": ("operator_language", "en"),
    "CONSOLE_URL": ("console_url", ""),
    # Intake defenses (shared/services/intake_guard.py). The form's stamp and the decoy ids are signed with
    # INTAKE_SIGNING_SECRET; empty: a random key the store keeps (made once, the same on every instance).
    "INTAKE_SIGNING_SECRET": ("intake_signing_secret", ""),
    # A form sent sooner than this after it was served is a bot's (answered as accepted, not kept); 0: off.
    "INTAKE_MIN_FILL_SECONDS": ("intake_min_fill_seconds", "3"),
    # Requests per client address per minute, and per requester email domain per hour; 0: off.
    "INTAKE_RATE_LIMIT_PER_MINUTE": ("intake_rate_limit_per_minute", "30"),
    "INTAKE_DOMAIN_RATE_LIMIT_PER_HOUR": ("intake_domain_rate_limit_per_hour", "30"),
    # Where the client's address comes from: the header a trusted front end sets (X-Forwarded-For: Azure's
    # front end appends the connection's address, with its port; X-Azure-ClientIP: Front Door), and for
    # X-Forwarded-For how many proxies of ours appended to it (the entry that many from the right).
    "CLIENT_IP_HEADER": ("client_ip_header", "X-Forwarded-For"),
    "CLIENT_IP_PROXY_HOPS": ("client_ip_proxy_hops", "1"),
    # Optional CAPTCHA on the form and the JSON API: turnstile, hcaptcha or recaptcha; empty: off.
    "CAPTCHA_PROVIDER": ("captcha_provider", ""),
    "CAPTCHA_SITE_KEY": ("captcha_site_key", ""),
    "CAPTCHA_SECRET": ("captcha_secret", ""),
    # When the provider cannot be reached: refuse (false, 503 / the form says try again) or let requests in.
    "CAPTCHA_FAIL_OPEN": ("captcha_fail_open", "false"),
    # The provider's siteverify URL (empty: its documented one); tests point it at a loopback stand-in.
    "CAPTCHA_VERIFY_URL": ("captcha_verify_url", ""),
    "CAPTCHA_TIMEOUT_SECONDS": ("captcha_timeout_seconds", "5"),
    # reCAPTCHA v3 tokens carry a score (1.0 a person, 0.0 a bot); below this one is refused.
    "RECAPTCHA_MIN_SCORE": ("recaptcha_min_score", "0.5"),
    # Double opt-in (issue 11): a request waits until its requester opens the emailed link and confirms; only
    # then does it become a prospect. Links hold SIGNUP_LINK_HOURS; unconfirmed requests are deleted then.
    # On in the Azure defaults (infra). The links are signed with SIGNUP_LINK_SECRET (Key Vault in Azure; empty:
    # PORTAL_SESSION_SECRET, else, off Azure, a random one kept in DATA_DIR).
    "REQUIRE_EMAIL_CONFIRMATION": ("require_email_confirmation", "false"),
    "SIGNUP_LINK_HOURS": ("signup_link_hours", "48"),
    "SIGNUP_LINK_SECRET": ("signup_link_secret", ""),
    # Limits per month run by the partner's calendar month: its own time zone (set by the back office), else
    # this one (an IANA name).
    "PARTNER_TIME_ZONE": ("partner_time_zone", "UTC"),
    # An order submitted for approval expires when no Approver or Admin has decided it within these days.
    "APPROVAL_EXPIRY_DAYS": ("approval_expiry_days", "7"),
}

SETTING_NAMES = tuple(_SETTINGS)


@dataclass(frozen=True)
class Settings:
    state_backend: str
    sales_mode: str
    email_transport: str
    data_dir: Path
    lead_queue: str
    outcome_queue: str
    email_queue: str
    sync_batch_size: int
    store_name: str
    store_url: str
    logo_url: str
    accent_color: str
    privacy_policy_url: str
    support_email: str
    sign_in_url: str
    store_time_zone: str
    channels: str
    send_received_email: bool
    email_sender_name: str
    email_sender_address: str
    email_max_attempts: int
    email_templates_dir: str
    log_level: str
    public_base_url: str
    dataverse_url: str
    dataverse_client_id: str
    dataverse_prospect_number_column: str
    lead_batch_size: int
    sales_webhook_budget_seconds: float
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_starttls: bool
    smtp_timeout_seconds: float
    ses_region: str
    ses_configuration_set: str
    partner_token_issuer: str
    partner_token_audience: str
    partner_token_jwks_url: str
    partner_token_subject_claim: str
    partner_token_email_trust: str
    portal_oidc_authority: str
    portal_client_id: str
    portal_client_secret: str
    portal_api_scope: str
    portal_session_secret: str
    local_issuer: bool
    storage_connection_string: str
    storage_queue_uri: str
    storage_table_uri: str
    storage_blob_uri: str
    storage_credential: str
    storage_client_id: str
    state_table: str
    console_operator_role: str
    console_viewer_role: str
    email_outbox_container: str
    retention_days: int
    operator_email: str
    operator_notice: str
    operator_language: str
    console_url: str
    intake_signing_secret: str
    intake_min_fill_seconds: float
    intake_rate_limit_per_minute: int
    intake_domain_rate_limit_per_hour: int
    client_ip_header: str
    client_ip_proxy_hops: int
    captcha_provider: str
    captcha_site_key: str
    captcha_secret: str
    captcha_fail_open: bool
    captcha_verify_url: str
    captcha_timeout_seconds: float
    recaptcha_min_score: float
    require_email_confirmation: bool
    signup_link_hours: float
    signup_link_secret: str
    partner_time_zone: str
    approval_expiry_days: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for name, (attribute, default) in _SETTINGS.items():
            raw = environ.get(name, default)
            values[attribute] = _convert(types[attribute], raw, name)
        values["public_base_url"] = public_base_url(values["public_base_url"], environ.get("WEBSITE_HOSTNAME", ""))
        values.update(overrides)
        if values["local_issuer"]:
            values.update(_local_issuer_settings(values, environ))
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        choices = {
            "STATE_BACKEND": (self.state_backend, {"sqlite", "azure"}),
            "SALES_MODE": (self.sales_mode, {"embedded", "dataverse", "none"}),
            "EMAIL_TRANSPORT": (self.email_transport, {"outbox", "storage", "smtp", "ses"}),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {sorted(allowed)}")
        if self.sales_mode == "dataverse" and not _https_or_loopback(self.dataverse_url):
            raise ValueError("SALES_MODE=dataverse needs DATAVERSE_URL, e.g. https://contoso.crm4.dynamics.com "
                             "(http:// only on loopback, for a local Dataverse simulator)")
        if self.email_transport == "smtp" and not self.smtp_host:
            raise ValueError("EMAIL_TRANSPORT=smtp needs SMTP_HOST")
        if self.email_transport == "ses" and not self.ses_region:
            raise ValueError("EMAIL_TRANSPORT=ses needs SES_REGION")
        if self.email_transport == "storage":
            if not (self.storage_connection_string or self.storage_blob_uri):
                raise ValueError("EMAIL_TRANSPORT=storage needs AzureWebJobsStorage (a connection string) or "
                                 "AzureWebJobsStorage__blobServiceUri")
            if not _BLOB_CONTAINER.fullmatch(self.email_outbox_container):
                raise ValueError(f"EMAIL_OUTBOX_CONTAINER={self.email_outbox_container!r} is not a blob container "
                                 "name (3 to 63 lower-case letters, digits and single hyphens)")
        if not 0 < self.sales_webhook_budget_seconds <= 50:
            raise ValueError(f"SALES_WEBHOOK_BUDGET_SECONDS={self.sales_webhook_budget_seconds} must be above 0 and "
                             "at most 50: Dataverse waits 60 s for the webhook's answer")
        self._validate_merchant_notice()
        if not 0 < self.signup_link_hours <= 24 * 30:
            raise ValueError(f"SIGNUP_LINK_HOURS={self.signup_link_hours} must be above 0 and at most 720 (30 days)")
        self._validate_partner_tokens()
        self._validate_approvals()
        self.channel_branding  # every channel's branding, checked now: a typo stops the app at start
        self._validate_portal()
        self._validate_intake_defenses()
        if self.state_backend == "azure":
            if not (self.storage_connection_string or (self.storage_queue_uri and self.storage_table_uri)):
                raise ValueError(
                    "STATE_BACKEND=azure needs AzureWebJobsStorage (a connection string) or "
                    "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri"
                )

    def _validate_merchant_notice(self) -> None:
        if self.retention_days < 0:
            raise ValueError(f"RETENTION_DAYS={self.retention_days} must be 0 (keep forever) or more")
        if self.operator_notice not in ("", "each", "daily", "off"):
            raise ValueError(f"OPERATOR_NOTICE={self.operator_notice!r} is not one of each, daily, off")
        if self.merchant_notice != "off" and not self.operator_emails:
            raise ValueError(f"OPERATOR_NOTICE={self.operator_notice} needs OPERATOR_EMAIL (one or more addresses)")
        from email_validator import EmailNotValidError, validate_email

        for address in self.operator_emails:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as error:
                raise ValueError(f"OPERATOR_EMAIL holds {address!r}, which is not an email address: {error}") from None
        if self.console_url and not _https_or_loopback(self.console_url):
            raise ValueError(f"CONSOLE_URL must be an https:// URL (http:// only on loopback), not {self.console_url!r}")

    @property
    def operator_emails(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.operator_email.replace(";", ",").split(",") if a.strip())

    @property
    def merchant_notice(self) -> str:
        """each, daily or off: OPERATOR_NOTICE, or each when only OPERATOR_EMAIL is set."""
        return self.operator_notice or ("each" if self.operator_email.strip() else "off")

    @property
    def console_base_url(self) -> str:
        return (self.console_url or f"{self.public_base_url}/api/console").rstrip("/")

    def _validate_partner_tokens(self) -> None:
        given = {"PARTNER_TOKEN_ISSUER": self.partner_token_issuer, "PARTNER_TOKEN_AUDIENCE": self.partner_token_audience,
                 "PARTNER_TOKEN_JWKS_URL": self.partner_token_jwks_url}
        if not any(given.values()):
            return
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise ValueError(f"partner tokens need all of {', '.join(given)}; missing {', '.join(missing)}")
        if not _https_or_loopback(self.partner_token_jwks_url):
            raise ValueError(f"PARTNER_TOKEN_JWKS_URL must be an https:// URL (http:// only on loopback), "
                             f"not {self.partner_token_jwks_url!r}")
        from shared.adapters.jwks_tokens import EMAIL_TRUST, SUBJECT_CLAIMS

        if self.partner_token_subject_claim not in SUBJECT_CLAIMS:
            raise ValueError(f"PARTNER_TOKEN_SUBJECT_CLAIM={self.partner_token_subject_claim!r} is not one of "
                             f"{sorted(SUBJECT_CLAIMS)}")
        unknown = set(self.partner_email_trust) - set(EMAIL_TRUST)
        if unknown or not self.partner_email_trust:
            raise ValueError(f"PARTNER_TOKEN_EMAIL_TRUST={self.partner_token_email_trust!r}: name one or more of "
                             f"{', '.join(EMAIL_TRUST)}, comma separated")

    @cached_property
    def channel_branding(self) -> dict[str, Branding]:
        """The default branding under ``""`` and each channel's (CHANNELS) over it; ValueError names what is wrong."""
        default = Branding.checked("", {field: getattr(self, field) for field in BRANDING_FIELDS},
                                   public_base_url=self.public_base_url)
        return {"": default, **channel_overrides(self.channels, default, self.public_base_url)}

    def branding(self, channel_id: str) -> Branding:
        """The branding of ``channel_id``: its own overrides, else the defaults."""
        brandings = self.channel_branding
        return brandings.get(channel_id, brandings[""])
    def _validate_approvals(self) -> None:
        from shared.domain.approvals import time_zone

        try:
            time_zone(self.partner_time_zone)
        except ValueError:
            raise ValueError(f"PARTNER_TIME_ZONE must be an IANA time zone such as Europe/Stockholm, not "
                             f"{self.partner_time_zone!r}") from None
        if not 1 <= self.approval_expiry_days <= 365:
            raise ValueError(f"APPROVAL_EXPIRY_DAYS={self.approval_expiry_days} must be between 1 and 365")

    def _validate_portal(self) -> None:
        if not (self.portal_oidc_authority or self.portal_client_id):
            return
        if not (self.portal_oidc_authority and self.portal_client_id):
            raise ValueError("the portal needs both PORTAL_OIDC_AUTHORITY and PORTAL_CLIENT_ID")
        if not _https_or_loopback(self.portal_oidc_authority):
            raise ValueError(f"PORTAL_OIDC_AUTHORITY must be an https:// URL (http:// only on loopback), "
                             f"not {self.portal_oidc_authority!r}")
        if not self.partner_tokens_configured:
            raise ValueError("the portal signs partner users in for the partner services: set PARTNER_TOKEN_ISSUER, "
                             "PARTNER_TOKEN_AUDIENCE and PARTNER_TOKEN_JWKS_URL too")
        if not self.portal_api_scope and self.partner_token_audience != self.portal_client_id:
            raise ValueError("without PORTAL_API_SCOPE the portal hands the partner services its ID token, whose "
                             "audience is PORTAL_CLIENT_ID: PARTNER_TOKEN_AUDIENCE must be the same (or set "
                             "PORTAL_API_SCOPE to the partner API's scope)")

    def _validate_intake_defenses(self) -> None:
        from shared.services.intake_guard import validate_defense_settings

        validate_defense_settings(self)

    @property
    def portal_configured(self) -> bool:
        return bool(self.portal_oidc_authority)

    @property
    def portal_redirect_uri(self) -> str:
        return f"{self.public_base_url}/api/portal/callback"

    @property
    def partner_email_trust(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.partner_token_email_trust.split(",") if part.strip())

    @property
    def partner_tokens_configured(self) -> bool:
        return bool(self.partner_token_issuer)

    @property
    def queue_names(self) -> tuple[str, ...]:
        return (self.lead_queue, self.outcome_queue, self.email_queue)


# Azure Storage's container naming rule: a letter or digit first and last, no two hyphens together.
_BLOB_CONTAINER = re.compile(r"(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*")


# The settings a channel may override (CHANNELS), by their attribute names.
BRANDING_FIELDS = ("store_name", "store_url", "logo_url", "accent_color", "privacy_policy_url", "support_email",
                   "sign_in_url", "store_time_zone")
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}|#[0-9A-Fa-f]{3}")
_SUPPORT_EMAIL = re.compile(r"[^@\s<>\"'()]+@[^@\s<>\"'()]+\.[^@\s<>\"'()]+")


@dataclass(frozen=True)
class Branding:
    """What a storefront channel shows and links: its name, logo, colour, policy, support address, where its
    partners sign in, its time zone. Every value is checked (``checked``) before the app serves a page."""

    channel_id: str
    store_name: str
    store_url: str
    logo_url: str
    accent_color: str
    privacy_policy_url: str
    support_email: str
    sign_in_url: str
    store_time_zone: str

    @classmethod
    def checked(cls, channel_id: str, values: Mapping[str, str], *, public_base_url: str) -> Branding:
        where = f"CHANNELS[{channel_id!r}]." if channel_id else ""
        branding = cls(channel_id=channel_id, **{name: str(values[name]).strip() for name in BRANDING_FIELDS})
        if not branding.sign_in_url:
            branding = replace(branding, sign_in_url=f"{public_base_url}/api/portal")
        if not branding.store_name:
            raise ValueError(f"{where}STORE_NAME must not be empty")
        # The colour goes into a stylesheet: only a hex colour, so that no value can become CSS of its own.
        if not _COLOUR.fullmatch(branding.accent_color):
            raise ValueError(f"{where}ACCENT_COLOR must be a hex colour such as #0b5cad, not {branding.accent_color!r}")
        for name in ("store_url", "sign_in_url", "privacy_policy_url", "logo_url"):
            url = getattr(branding, name)
            if url and not (_https_or_loopback(url) or urlsplit(url).scheme == "http" and name == "store_url"):
                raise ValueError(f"{where}{name.upper()} must be an absolute https:// URL (http:// only on "
                                 f"loopback), not {url!r}")
        if branding.support_email and not _SUPPORT_EMAIL.fullmatch(branding.support_email):
            raise ValueError(f"{where}SUPPORT_EMAIL must be an email address, not {branding.support_email!r}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(branding.store_time_zone)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"{where}STORE_TIME_ZONE must be an IANA time zone such as Europe/Stockholm, "
                             f"not {branding.store_time_zone!r}") from None
        return branding


def channel_overrides(raw: str, default: Branding, public_base_url: str) -> dict[str, Branding]:
    """CHANNELS (a JSON object: channel id → the branding fields that differ) as each channel's Branding."""
    if not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"CHANNELS must be a JSON object of channel id → settings: {error}") from None
    if not isinstance(parsed, dict):
        raise ValueError("CHANNELS must be a JSON object of channel id → settings, e.g. "
                         '{"nordic-web": {"store_name": "Contoso Norden"}}')
    channels = {}
    for channel_id, overrides in parsed.items():
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", channel_id):
            raise ValueError(f"CHANNELS: {channel_id!r} is not a channel id (1 to 64 letters, digits, '.', '_', '-')")
        if not isinstance(overrides, dict):
            raise ValueError(f"CHANNELS[{channel_id!r}] must be an object of settings, not {overrides!r}")
        unknown = set(overrides) - set(BRANDING_FIELDS)
        if unknown:
            raise ValueError(f"CHANNELS[{channel_id!r}]: unknown {sorted(unknown)}; a channel may set "
                             f"{', '.join(BRANDING_FIELDS)}")
        if not all(isinstance(value, str) for value in overrides.values()):
            raise ValueError(f"CHANNELS[{channel_id!r}]: every value must be a string")
        base = {name: getattr(default, name) for name in BRANDING_FIELDS}
        channels[channel_id] = Branding.checked(channel_id, {**base, **overrides}, public_base_url=public_base_url)
    return channels


# The local development issuer (LOCAL_ISSUER=true): its identifier names no network place on purpose, so that
# its tokens (and `b2b token`'s, made without a running host) are the same whatever port the host listens on.
LOCAL_ISSUER_ID = "urn:b2b:local-development-issuer"
LOCAL_CLIENT_ID = "b2b-portal-local"
LOCAL_ISSUER_PATH = "/api/local-issuer"


def _local_issuer_settings(values: Mapping[str, object], environ: Mapping[str, str]) -> dict[str, object]:
    """LOCAL_ISSUER=true: the portal and the partner tokens point at the app's own development issuer. Only on
    a loopback host and never in Azure: anyone can sign in as anyone there."""
    from shared.deployment import AZURE_PLATFORM_VARIABLES, running_in_azure  # it imports this module

    if running_in_azure(environ):
        raise ValueError(f"LOCAL_ISSUER=true is for local development only and refused in Azure (one of "
                         f"{', '.join(AZURE_PLATFORM_VARIABLES)} is set): configure PORTAL_OIDC_AUTHORITY and "
                         "PARTNER_TOKEN_*")
    base = str(values["public_base_url"])
    if urlsplit(base).hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"LOCAL_ISSUER=true needs a loopback host (the public base URL is {base})")
    taken = [name for name in ("PARTNER_TOKEN_ISSUER", "PARTNER_TOKEN_AUDIENCE", "PARTNER_TOKEN_JWKS_URL",
                               "PORTAL_OIDC_AUTHORITY", "PORTAL_CLIENT_ID", "PORTAL_API_SCOPE")
             if values[_SETTINGS[name][0]]]
    if taken:
        raise ValueError(f"LOCAL_ISSUER=true sets {', '.join(taken)} itself; leave them empty or turn it off")
    return {"partner_token_issuer": LOCAL_ISSUER_ID, "partner_token_audience": LOCAL_CLIENT_ID,
            "partner_token_jwks_url": f"{base}{LOCAL_ISSUER_PATH}/keys", "portal_client_id": LOCAL_CLIENT_ID,
            "portal_oidc_authority": f"{base}{LOCAL_ISSUER_PATH}"}


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_PUBLIC_BASE_URL = "http://localhost:7071"  # the port Core Tools and the local host listen on by default


def public_base_url(configured: str, website_hostname: str) -> str:
    """PUBLIC_BASE_URL without a trailing slash; when empty, derived from the host name the platform gives
    the app (WEBSITE_HOSTNAME: App Service and Functions set it in Azure, devhost to its own address).
    ValueError for anything but an absolute http(s) URL without query or fragment, https unless on loopback."""
    source, url = "PUBLIC_BASE_URL", configured.strip().rstrip("/")
    if not url:
        host = website_hostname.strip()
        if not host:
            return DEFAULT_PUBLIC_BASE_URL
        if not re.fullmatch(r"[A-Za-z0-9.\-\[\]:]+", host):
            raise ValueError(f"WEBSITE_HOSTNAME must be a host name (and port), not {host!r}")
        source, url = "WEBSITE_HOSTNAME", f"https://{host}"
        if _https_or_loopback(f"http://{host}"):
            url = f"http://{host}"  # a local host serves plain http
    if not _https_or_loopback(url) or "?" in url or "#" in url:
        raise ValueError(f"{source} must give an absolute https:// URL such as https://b2b.contoso.com "
                         f"(http:// only on loopback); {url!r} is not one")
    return url


def _https_or_loopback(url: str) -> bool:
    """https with a host (a Dataverse organization, an issuer's JWKS); plain http only to a loopback address
    (a simulator or local issuer on this machine, in tests), so that no token crosses a network unencrypted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https":
        return bool(host)
    return parts.scheme == "http" and host in LOOPBACK_HOSTS


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def _convert(kind: object, raw: str, name: str) -> object:
    if kind in (int, "int", float, "float"):
        number = int if kind in (int, "int") else float
        try:
            return number(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if kind in (bool, "bool"):
        if raw.strip().lower() not in _TRUE | _FALSE:
            raise ValueError(f"{name} must be true or false, not {raw!r}")
        return raw.strip().lower() in _TRUE
    if kind in (Path, "Path"):
        return Path(raw)
    return raw
