"""The function app's settings in the Bicep against the settings the code reads (shared/config.py), both
ways, read from pycep's parse tree; plus the queue and table names against the resources declared."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.config import SETTING_NAMES, Settings
from tests.infra.bicep_tree import INFRA, UNRESOLVED, BicepFile, bicep_files, loop_names

# Settings the code reads that the Bicep deliberately does not set.
NOT_SET_IN_AZURE = {
    # The connection-string form of the storage connection (Azurite locally). In Azure the storage account
    # has shared-key access disabled, so there is no key to put in one: host and code use the
    # identity-based AzureWebJobsStorage__* settings instead, and this one must stay absent.
    "AzureWebJobsStorage",
    # The portal's client secret and session secret: Key Vault references an operator adds once the secrets
    # exist (a reference to a missing secret would leave its own text as the value; the app refuses that).
    "PORTAL_CLIENT_SECRET",
    "PORTAL_SESSION_SECRET",
}

# Settings the Bicep sets that the code does not read: the Functions host and its telemetry read them.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri",  # host: locks, timer schedules, keys (blob)
    "APPLICATIONINSIGHTS_CONNECTION_STRING",  # host and worker telemetry
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Entra ID auth for telemetry (local auth is off)
    "AzureWebJobs.create_lead.Disabled",  # host: which consumer of the lead queue runs (by SALES_MODE)
    "AzureWebJobs.create_lead_batches.Disabled",
    # Timer schedules: the host resolves %CHANNEL_SYNC_SCHEDULE% and %LEAD_BATCH_SCHEDULE% in the triggers
    # (functions/channel_sync.py, functions/queues.py); the code never reads them.
    "CHANNEL_SYNC_SCHEDULE",
    "LEAD_BATCH_SCHEDULE",
}

# App settings that Flex Consumption replaced with functionAppConfig (runtime, deployment, scale) or that
# belong to other plans; setting them on Flex is wrong.
NOT_ON_FLEX = {
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTOVERVNET", "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_NODE_DEFAULT_VERSION", "WEBSITE_TIME_ZONE", "TZ",
}

KEY_MATERIAL = re.compile(r"AccountKey|listKeys|listAccountSas|listServiceSas|SharedAccessSignature", re.I)
QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")  # Azure Storage queue naming rules
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

QUEUE_SETTINGS = ("LEAD_QUEUE", "OUTCOME_QUEUE", "EMAIL_QUEUE")
QUEUE_TYPE = "Microsoft.Storage/storageAccounts/queueServices/queues"
TABLE_TYPE = "Microsoft.Storage/storageAccounts/tableServices/tables"


@pytest.fixture(scope="module")
def function_app(bicep) -> tuple[BicepFile, dict]:
    apps = [(file, resource) for file in bicep.values()
            for resource in file.resources_of_type("Microsoft.Web/sites").values()]
    assert len(apps) == 1, f"expected one function app, found {len(apps)}"
    return apps[0]


@pytest.fixture(scope="module")
def app_settings(bicep, function_app) -> dict[str, object]:
    """Setting name → its value in the parse tree (resolved where it is a literal, parameter or variable)."""
    for name, file in bicep.items():
        for resource in file.resources_of_type("Microsoft.Web/sites/config").values():
            assert resource["config"].get("name") != "appsettings", (
                f"{name}: a separate appsettings resource would replace the settings in siteConfig; keep them in one place")
    file, resource = function_app
    entries = resource["config"]["properties"]["siteConfig"]["appSettings"]
    assert isinstance(entries, list) and entries, "siteConfig.appSettings must be a literal list"
    settings: dict[str, object] = {}
    for entry in entries:
        assert set(entry) == {"name", "value"}, entry
        name = entry["name"]
        assert isinstance(name, str) and name not in file.params and name not in file.variables, (
            f"setting names must be literals, not {name!r}")
        assert name not in settings, f"{name} is set twice"
        settings[name] = (entry["value"], file.resolve(entry["value"]))
    return settings


def test_every_setting_the_code_reads_is_set(app_settings):
    missing = set(SETTING_NAMES) - NOT_SET_IN_AZURE - set(app_settings)
    assert not missing, f"shared/config.py reads these, infra/app/api.bicep does not set them: {sorted(missing)}"


def test_every_setting_the_bicep_sets_is_read(app_settings):
    unread = set(app_settings) - set(SETTING_NAMES) - PLATFORM_SETTINGS
    assert not unread, f"set in the Bicep, read by neither the code nor the platform: {sorted(unread)}"


def test_allow_lists_stay_honest():
    assert NOT_SET_IN_AZURE <= set(SETTING_NAMES), "an exception for a setting the code no longer reads"
    assert not PLATFORM_SETTINGS & set(SETTING_NAMES), "a platform setting the code now reads: drop it from the list"


def test_no_storage_keys_anywhere(app_settings):
    assert "AzureWebJobsStorage" not in app_settings, "no connection string: the storage account refuses shared keys"
    for name, (raw, _) in app_settings.items():
        found = KEY_MATERIAL.search(json.dumps(raw))
        assert not found, f"{name} uses key material ({found.group(0)})"
    for path in bicep_files():
        found = KEY_MATERIAL.search(path.read_text())
        assert not found, f"{path.relative_to(INFRA)} mentions key material ({found.group(0)})"


def test_host_storage_is_identity_based(app_settings):
    credential = app_settings["AzureWebJobsStorage__credential"][1]
    assert credential == "managedidentity"
    for service in ("blob", "queue", "table"):
        assert f"AzureWebJobsStorage__{service}ServiceUri" in app_settings
    assert app_settings["AzureWebJobsStorage__clientId"][1] is UNRESOLVED  # the identity's clientId, at deploy time


def test_no_settings_that_flex_consumption_replaced(app_settings, function_app):
    assert not NOT_ON_FLEX & set(app_settings), sorted(NOT_ON_FLEX & set(app_settings))
    file, resource = function_app
    runtime = resource["config"]["properties"]["functionAppConfig"]["runtime"]
    assert (file.resolve(runtime["name"]), file.resolve(runtime["version"])) == ("python", "3.11")


def test_the_values_satisfy_the_codes_own_validation(app_settings):
    """The resolved literals, with placeholders for what only exists at deploy time, load as Settings."""
    placeholders = {
        "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000000",
        "DATAVERSE_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
        "AzureWebJobsStorage__queueServiceUri": "https://example.queue.core.windows.net/",
        "AzureWebJobsStorage__tableServiceUri": "https://example.table.core.windows.net/",
    }
    environ = {}
    for name, (_, value) in app_settings.items():
        if value is UNRESOLVED:
            value = placeholders.get(name, "")
        assert isinstance(value, str), f"{name}: app settings are strings, not {value!r}"
        environ[name] = value
    settings = Settings.from_env(environ)
    assert (settings.state_backend, settings.sales_mode, settings.email_transport) == ("azure", "embedded", "outbox")
    assert str(settings.data_dir).startswith("/tmp/"), "the deployed package is read-only; only /tmp is writable"
    unresolved = {name for name, (_, value) in app_settings.items() if value is UNRESOLVED} - set(placeholders)
    # SMTP_PASSWORD is a Key Vault reference built from the vault's name, known at deploy time only.
    assert unresolved <= PLATFORM_SETTINGS | {"AzureWebJobsStorage__blobServiceUri", "STORE_URL", "SMTP_PASSWORD"}, unresolved


def test_secrets_are_key_vault_references():
    """A password is read by the app through its identity from Key Vault, never written into a setting."""
    source = (Path(__file__).resolve().parents[2] / "infra" / "app" / "api.bicep").read_text()
    value = re.search(r"name: 'SMTP_PASSWORD'\s*\n\s*value: '([^']*)'", source).group(1)
    assert value.startswith("@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=")


def test_every_key_vault_reference_names_a_secret_the_bicep_creates(bicep, app_settings):
    """A reference to a secret nothing creates resolves to nothing; a secret nothing references is dead."""
    created = {name for file in bicep.values()
               for resource in file.resources_of_type("Microsoft.KeyVault/vaults/secrets").values()
               for name in loop_names(file, resource)}
    referenced = {match for raw, _ in app_settings.values()
                  for match in re.findall(r"SecretName=([^;)]+)", json.dumps(raw))}
    assert referenced and referenced == created, f"referenced {sorted(referenced)}, created {sorted(created)}"
    # smtp-password's value: azd env SMTP_PASSWORD → main.bicep smtpPassword → core/keyvault.bicep
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["smtpPassword"]["value"] == "${SMTP_PASSWORD}"
    assert bicep["main.bicep"].modules["keyVault"]["config"]["params"]["smtpPassword"] == "smtpPassword"
    assert "smtpPassword" in bicep["core/keyvault.bicep"].params


# The email transport is chosen at deploy time (azd env → main.parameters.json → main.bicep → api.bicep),
# not fixed in the Bicep.
EMAIL_PARAMETERS = {"EMAIL_TRANSPORT": "emailTransport", "SMTP_HOST": "smtpHost", "SMTP_PORT": "smtpPort",
                    "SMTP_USERNAME": "smtpUsername", "SES_REGION": "sesRegion"}


@pytest.mark.parametrize("setting, parameter", EMAIL_PARAMETERS.items())
def test_the_email_transport_comes_from_the_azd_environment(bicep, app_settings, setting, parameter):
    assert app_settings[setting][0] == parameter, f"{setting} should be the parameter {parameter}"
    assert bicep["main.bicep"].modules["api"]["config"]["params"][parameter] == parameter
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given[parameter]["value"].startswith(f"${{{setting}"), given[parameter]


def test_the_email_transport_choices_are_the_codes(bicep):
    """Both Bicep files allow exactly the transports shared/config.py accepts."""
    for name in ("main.bicep", "app/api.bicep"):
        [allowed] = [d["argument"] for d in bicep[name].params["emailTransport"]["decorators"] if d["type"] == "allowed"]
        assert sorted(allowed) == ["outbox", "ses", "smtp"], name
    for transport in allowed:
        Settings.from_env({"EMAIL_TRANSPORT": transport, "SMTP_HOST": "smtp.example", "SES_REGION": "eu-north-1"})
    with pytest.raises(ValueError, match="EMAIL_TRANSPORT"):
        Settings.from_env({"EMAIL_TRANSPORT": "sendgrid"})
