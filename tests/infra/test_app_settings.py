"""The function app's settings in the Bicep against the settings the code reads (shared/config.py), both
ways, read from pycep's parse tree; plus the queue and table names against the resources declared."""
from __future__ import annotations

import json
import re

import pytest

from shared.config import SETTING_NAMES, Settings
from tests.infra.bicep_tree import (INFRA, UNRESOLVED, BicepFile, app_settings_as_written, bicep_files, body, load_all,
                                    loop_names)

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
    # The merchant notice's console link: derived from PUBLIC_BASE_URL (the app's own host), which is where the
    # deployed console is; set it only for a console reached elsewhere.
    "CONSOLE_URL",
    # The intake's signing secret: empty, the app keeps a random one in the state table, shared by every
    # instance and kept across deployments (a secret made at each deployment would turn away, unseen, every
    # form open during one); an operator may add a Key Vault reference instead.
    "INTAKE_SIGNING_SECRET",
    # The CAPTCHA provider's siteverify URL: empty is the provider's own; tests point it at a stand-in.
    "CAPTCHA_VERIFY_URL",
}

READ_BY_CODE = set(SETTING_NAMES)

# Settings the Bicep sets that the code does not read: the Functions host and its telemetry read them.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING",  # host and worker telemetry
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",  # Entra ID auth for telemetry (local auth is off)
    "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID",  # App Service Authentication: the identity instead of a secret
    "AzureWebJobs.create_lead.Disabled",  # host: which consumer of the lead queue runs (by SALES_MODE)
    "AzureWebJobs.create_lead_batches.Disabled",
    # Timer schedules: the host resolves %CHANNEL_SYNC_SCHEDULE% and %LEAD_BATCH_SCHEDULE% in the triggers
    # (functions/channel_sync.py, functions/queues.py); the code never reads them.
    "CHANNEL_SYNC_SCHEDULE",
    "LEAD_BATCH_SCHEDULE",
    "RETENTION_SCHEDULE",  # functions/erasure.py's timers
    "OPERATOR_DIGEST_SCHEDULE",
}

KEY_MATERIAL = re.compile(r"AccountKey|listKeys|listAccountSas|listServiceSas|SharedAccessSignature", re.I)
QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")  # Azure Storage queue naming rules
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")

QUEUE_SETTINGS = ("LEAD_QUEUE", "OUTCOME_QUEUE", "EMAIL_QUEUE")
QUEUE_TYPE = "Microsoft.Storage/storageAccounts/queueServices/queues"
TABLE_TYPE = "Microsoft.Storage/storageAccounts/tableServices/tables"
CONTAINER_TYPE = "Microsoft.Storage/storageAccounts/blobServices/containers"
CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


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
    missing = READ_BY_CODE - NOT_SET_IN_AZURE - set(app_settings)
    assert not missing, f"shared/config.py reads these, infra/app/api.bicep does not set them: {sorted(missing)}"


def test_every_setting_the_bicep_sets_is_read(app_settings):
    unread = set(app_settings) - READ_BY_CODE - PLATFORM_SETTINGS
    assert not unread, f"set in the Bicep, read by neither the code nor the platform: {sorted(unread)}"


def test_allow_lists_stay_honest():
    assert NOT_SET_IN_AZURE <= set(SETTING_NAMES), "an exception for a setting the code no longer reads"
    assert not PLATFORM_SETTINGS & READ_BY_CODE, "a platform setting the code now reads: drop it from the list"


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


# Modes that cannot work on Flex Consumption, where each function scales out on instances of its own with
# nothing shared but storage (issue 13): SQLite state, the embedded Sales and the .eml outbox live on one
# instance's /tmp. The Bicep offers none of them; the code refuses them in Azure.
REFUSED_IN_AZURE = {"STATE_BACKEND": {"sqlite"}, "SALES_MODE": {"embedded"}, "EMAIL_TRANSPORT": {"outbox"}}

PLACEHOLDERS = {  # what exists only at deploy time
    "AzureWebJobsStorage__clientId": "00000000-0000-0000-0000-000000000000",
    "DATAVERSE_CLIENT_ID": "00000000-0000-0000-0000-000000000000",
    "AzureWebJobsStorage__blobServiceUri": "https://example.blob.core.windows.net/",
    "AzureWebJobsStorage__queueServiceUri": "https://example.queue.core.windows.net/",
    "AzureWebJobsStorage__tableServiceUri": "https://example.table.core.windows.net/",
}


def _code_accepts(transport: str) -> bool:
    """Whether shared/config.py takes this transport, given what each transport needs."""
    needs = {"SMTP_HOST": "smtp.example", "SES_REGION": "eu-north-1", "EMAIL_OUTBOX_CONTAINER": "b2b-outbox"}
    try:
        Settings.from_env({"EMAIL_TRANSPORT": transport, **needs, **PLACEHOLDERS})
    except ValueError as refused:
        assert "EMAIL_TRANSPORT" in str(refused), refused
        return False
    return True


def test_the_values_satisfy_the_codes_own_validation(app_settings):
    """The resolved literals, with placeholders for what only exists at deploy time, load as Settings; and
    what azd deploys when nothing is chosen is the mode that works in Azure with no outside account: state
    in Table storage, the back office deciding (no Sales), emails kept in Blob storage."""
    environ = {}
    for name, (_, value) in app_settings.items():
        if value is UNRESOLVED:
            value = PLACEHOLDERS.get(name, "")
        assert isinstance(value, str), f"{name}: app settings are strings, not {value!r}"
        environ[name] = value
    assert (environ["STATE_BACKEND"], environ["SALES_MODE"], environ["EMAIL_TRANSPORT"]) == ("azure", "none", "storage")
    assert environ["EMAIL_OUTBOX_CONTAINER"] == "b2b-outbox"
    settings = Settings.from_env(environ)
    assert (settings.state_backend, settings.sales_mode) == ("azure", "none")
    assert str(settings.data_dir).startswith("/tmp/"), "the deployed package is read-only; only /tmp is writable"
    unresolved = {name for name, (_, value) in app_settings.items() if value is UNRESOLVED} - set(PLACEHOLDERS)
    assert unresolved <= PLATFORM_SETTINGS | {"STORE_URL"}, unresolved


def test_the_default_mode_is_what_azd_deploys_when_nothing_is_chosen(bicep):
    """main.parameters.json's fallbacks and both Bicep files' defaults agree (azd leaves out a parameter whose
    variable is unset, and main.bicep's default applies)."""
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["salesMode"]["value"] == "${SALES_MODE=none}"
    assert given["emailTransport"]["value"] == "${EMAIL_TRANSPORT=storage}"
    for name in ("main.bicep", "app/api.bicep"):
        params = bicep[name].params
        assert (params["salesMode"]["default"], params["emailTransport"]["default"]) == ("none", "storage"), name


KEY_VAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=([^;)]+)\)$")


def _secrets_created(given: dict) -> set[str]:
    files = load_all(given)
    return {name for file in files.values() if file.deployed() is True
            for resource in file.resources_of_type("Microsoft.KeyVault/vaults/secrets").values()
            if file.condition(resource["config"]) is True
            for name in loop_names(file, resource)}


def _secrets_referenced(file: BicepFile, settings: dict[str, object]) -> dict[str, str]:
    """Setting name → the secret its Key Vault reference names."""
    referenced = {}
    for name, value in settings.items():
        assert value is not UNRESOLVED, f"{name}: which branch is taken cannot be told"
        if "@Microsoft.KeyVault" in json.dumps(value):
            match = KEY_VAULT_REFERENCE.match(value) if isinstance(value, str) else None
            assert match, f"{name}: not a reference to a secret of the app's vault: {value!r}"
            referenced[name] = file.resolve(match.group(1))
    return referenced


# What azd gives main.bicep from SMTP_PASSWORD (main.parameters.json): nothing, or a password.
SMTP_PASSWORD_CASES = {"no SMTP password": {}, "SMTP password": {"smtpPassword": "an SMTP password"}}
# And from the signup links' secret (azd's secretOrRandomPassword fills it; issue 11).
SECRET_CASES = {**SMTP_PASSWORD_CASES, "link secret": {"signupLinkSecret": "a random secret"},
                "both": {"smtpPassword": "an SMTP password", "signupLinkSecret": "a random secret"}}


@pytest.mark.parametrize("given", SECRET_CASES.values(), ids=SECRET_CASES.keys())
def test_every_key_vault_reference_names_a_secret_the_bicep_creates(given):
    """A reference to a secret nothing creates does not resolve, and the app receives the reference's own
    text as the value; a secret nothing references is dead. In both azd environments."""
    file, settings = app_settings_as_written(given)
    referenced = _secrets_referenced(file, settings)
    created = _secrets_created(given)
    assert set(referenced.values()) == created, f"referenced {referenced}, created {sorted(created)}"


def test_the_smtp_password_is_a_key_vault_reference_only_when_given():
    """The password is read by the app through its identity from Key Vault, never written into a setting;
    without one, SMTP_PASSWORD is empty (an SMTP server without login), not a dangling reference."""
    file, settings = app_settings_as_written(SMTP_PASSWORD_CASES["SMTP password"])
    assert _secrets_referenced(file, settings) == {"SMTP_PASSWORD": "smtp-password"}
    file, settings = app_settings_as_written(SMTP_PASSWORD_CASES["no SMTP password"])
    assert settings["SMTP_PASSWORD"] == "" and not _secrets_referenced(file, settings)
    # The value's path: azd env SMTP_PASSWORD → main.bicep smtpPassword → core/keyvault.bicep → the secret.
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["smtpPassword"]["value"] == "${SMTP_PASSWORD}"
    files = load_all()
    main, vault = files[INFRA / "main.bicep"], files[INFRA / "core" / "keyvault.bicep"]
    assert body(main.modules["keyVault"]["config"])["params"]["smtpPassword"] == "smtpPassword"
    for file in (main, vault):
        assert {"type": "secure"} in file.params["smtpPassword"]["decorators"], f"{file.path.name}: not @secure()"


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


def _allowed(file: BicepFile, parameter: str) -> list:
    [allowed] = [d["argument"] for d in file.params[parameter]["decorators"] if d["type"] == "allowed"]
    return allowed


def test_the_email_transport_choices_are_the_ones_that_work_in_azure(bicep):
    """Both Bicep files allow every transport the code accepts except the instance-local outbox."""
    for name in ("main.bicep", "app/api.bicep"):
        allowed = set(_allowed(bicep[name], "emailTransport"))
        assert not allowed & REFUSED_IN_AZURE["EMAIL_TRANSPORT"], name
        unknown = {t for t in allowed if not _code_accepts(t)}
        assert not unknown, f"{name}: transports shared/config.py does not accept: {sorted(unknown)}"
        assert allowed >= {"smtp", "ses", "storage"}, name
    assert not _code_accepts("sendgrid")


def test_the_sales_modes_are_the_ones_that_work_in_azure(bicep):
    for name in ("main.bicep", "app/api.bicep"):
        allowed = set(_allowed(bicep[name], "salesMode"))
        assert allowed == {"none", "dataverse"}, name
        for mode in allowed:
            Settings.from_env({"SALES_MODE": mode, "DATAVERSE_URL": "https://contoso.crm4.dynamics.com"})


STORAGE_NAMES = {  # setting → (resource type, Azure Storage's naming rule for it)
    "LEAD_QUEUE": (QUEUE_TYPE, QUEUE_NAME), "OUTCOME_QUEUE": (QUEUE_TYPE, QUEUE_NAME),
    "EMAIL_QUEUE": (QUEUE_TYPE, QUEUE_NAME), "STATE_TABLE": (TABLE_TYPE, TABLE_NAME),
    "EMAIL_OUTBOX_CONTAINER": (CONTAINER_TYPE, CONTAINER_NAME),
}


@pytest.mark.parametrize("setting", STORAGE_NAMES)
def test_every_queue_table_and_container_the_code_is_told_of_is_created(bicep, app_settings, setting):
    resource_type, rule = STORAGE_NAMES[setting]
    name = app_settings[setting][1]
    assert isinstance(name, str) and rule.match(name), f"{setting}={name!r} breaks Azure Storage's naming rules"
    created = {created for file in bicep.values() for resource in file.resources_of_type(resource_type).values()
               for created in loop_names(file, resource)}
    assert name in created, f"{setting}={name!r} names nothing infra/ creates ({sorted(map(str, created))})"


def test_the_signup_link_secret_is_a_key_vault_reference_and_confirmation_is_on_in_azure():
    file, settings = app_settings_as_written({"signupLinkSecret": "a random secret"})
    assert _secrets_referenced(file, settings) == {"SIGNUP_LINK_SECRET": "signup-link-secret"}
    assert file.resolve(settings["REQUIRE_EMAIL_CONFIRMATION"]) == "true"
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert given["signupLinkSecret"]["value"].startswith("$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} ")
