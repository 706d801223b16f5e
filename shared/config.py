"""Settings: every value the app reads, from the environment (app settings in Azure)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
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
    # The Azure backend reads the same storage settings the Functions host reads for its triggers:
    # a connection string (Azurite, local) or identity-based service URIs.
    "AzureWebJobsStorage": ("storage_connection_string", ""),
    "AzureWebJobsStorage__queueServiceUri": ("storage_queue_uri", ""),
    "AzureWebJobsStorage__tableServiceUri": ("storage_table_uri", ""),
    "AzureWebJobsStorage__credential": ("storage_credential", ""),
    "AzureWebJobsStorage__clientId": ("storage_client_id", ""),
    "STATE_TABLE": ("state_table", "b2bstate"),
    # The console's app roles (App Service Authentication with Entra ID): the first acts, the second reads.
    "CONSOLE_OPERATOR_ROLE": ("console_operator_role", "B2B.Operator"),
    "CONSOLE_VIEWER_ROLE": ("console_viewer_role", "B2B.Viewer"),
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
    storage_connection_string: str
    storage_queue_uri: str
    storage_table_uri: str
    storage_credential: str
    storage_client_id: str
    state_table: str
    console_operator_role: str
    console_viewer_role: str

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
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        choices = {
            "STATE_BACKEND": (self.state_backend, {"sqlite", "azure"}),
            "SALES_MODE": (self.sales_mode, {"embedded", "dataverse", "none"}),
            "EMAIL_TRANSPORT": (self.email_transport, {"outbox", "smtp", "ses"}),
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
        if not 0 < self.sales_webhook_budget_seconds <= 50:
            raise ValueError(f"SALES_WEBHOOK_BUDGET_SECONDS={self.sales_webhook_budget_seconds} must be above 0 and "
                             "at most 50: Dataverse waits 60 s for the webhook's answer")
        self._validate_partner_tokens()
        if self.state_backend == "azure":
            if not (self.storage_connection_string or (self.storage_queue_uri and self.storage_table_uri)):
                raise ValueError(
                    "STATE_BACKEND=azure needs AzureWebJobsStorage (a connection string) or "
                    "AzureWebJobsStorage__queueServiceUri and AzureWebJobsStorage__tableServiceUri"
                )

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

    @property
    def partner_email_trust(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.partner_token_email_trust.split(",") if part.strip())

    @property
    def partner_tokens_configured(self) -> bool:
        return bool(self.partner_token_issuer)

    @property
    def queue_names(self) -> tuple[str, ...]:
        return (self.lead_queue, self.outcome_queue, self.email_queue)


def hosted_in_azure(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the app runs on Azure's platform (App Service / Functions set WEBSITE_INSTANCE_ID on every
    instance; Core Tools and the local host do not)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("WEBSITE_INSTANCE_ID"))


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
