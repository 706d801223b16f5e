"""Who may call what in Azure: the back office's own host key for automation (instead of the master key),
and App Service Authentication with Microsoft Entra ID in front of the console (issue 9, "Who may enter")."""
from __future__ import annotations

import json

from tests.infra.bicep_tree import INFRA, app_settings_as_written, body, load_all

PARAMETERS = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]


def _decorators(parameter: dict) -> dict:
    return {d["type"]: d.get("argument") for d in parameter["decorators"]}


def test_the_back_office_has_a_host_key_of_its_own(bicep):
    """A Functions host key named `backoffice` (its value: `az functionapp keys list … --query
    functionKeys.backoffice`), so automation never holds the master key."""
    keys = [(file, name, resource["config"]) for file in bicep.values()
            for name, resource in file.resources_of_type("Microsoft.Web/sites/host/functionKeys").items()]
    assert len(keys) == 1, f"one host key expected, found {len(keys)}"
    file, name, config = keys[0]
    assert "condition" not in config, "the back office's key exists in every mode"
    assert config["name"] == "backoffice" and file.resolve(config["properties"]["name"]) == "backoffice"
    host = file.resources[config["parent"]]
    assert host["type"] == "Microsoft.Web/sites/host" and host["existing"] and host["config"]["name"] == "default"
    site = file.resources[host["config"]["parent"]]
    assert site["type"] == "Microsoft.Web/sites" and not site["existing"]
    value = config["properties"]["value"]
    assert value in file.params and "secure" in _decorators(file.params[value]), "not a @secure() parameter"


def test_the_back_office_key_is_generated_once_by_azd_and_kept():
    """No default in the Bicep (newGuid() would rotate the key at every provision, and break every caller):
    azd generates the value the first time, keeps it in the environment's config and passes the same one on
    every `azd provision`; BACKOFFICE_KEY in the azd environment replaces it (rotation)."""
    main = load_all()[INFRA / "main.bicep"]
    [passed] = [params for params in (body(m["config"])["params"] for m in main.modules.values())
                if "backofficeKey" in params]
    parameter = main.params[passed["backofficeKey"]]
    decorators = _decorators(parameter)
    assert "secure" in decorators and parameter.get("default") is None
    azd = decorators["metadata"]["azd"]
    assert azd["type"] == "generate" and azd["config"]["length"] >= 32 and azd["config"].get("noSpecial") is True, azd
    assert PARAMETERS[passed["backofficeKey"]]["value"] == "${BACKOFFICE_KEY}"


def _leaves(value) -> list[str]:
    """Every string in a parse tree's values (identifiers and literals alike), not its keys."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value] if isinstance(value, str) else []


def test_no_output_carries_a_secure_value(bicep):
    """azd writes every output of main.bicep into .azure/<env>/.env, and deployments keep module outputs."""
    for name, file in bicep.items():
        secure = {p for p, parameter in file.params.items() if "secure" in _decorators(parameter)}
        assert name != "main.bicep" or secure, "main.bicep's secure parameters are not recognised"
        for output, definition in (file.tree.get("outputs") or {}).items():
            leaves = _leaves(definition.get("value"))
            exposed = {p for p in secure for leaf in leaves if leaf == p or "${" + p + "}" in leaf}
            assert not exposed, f"{name}: output {output} exposes {sorted(exposed)}"


CLIENT_ID = "11111111-2222-3333-4444-555555555555"  # an app registration's client id, as azd would pass it


def _sign_in(given: dict):
    """The console sign-in module as deployed for main.bicep given ``given``: (module file, its
    authsettingsV2 config) or None when it is not deployed."""
    files = load_all(given)
    [module_file] = [file for path, file in files.items() if path.name == "console-signin.bicep"]
    if module_file.deployed() is not True:
        assert module_file.deployed() is False, "whether sign-in is deployed cannot be told"
        return None
    [config] = [body(r["config"]) for r in module_file.resources_of_type("Microsoft.Web/sites/config").values()]
    return module_file, config


def test_without_an_app_registration_no_sign_in_is_deployed():
    """CONSOLE_CLIENT_ID empty: no App Service Authentication, and the console refuses everyone (the app's
    side of issue 9)."""
    assert PARAMETERS["consoleClientId"]["value"] == "${CONSOLE_CLIENT_ID}"
    assert _sign_in({}) is None
    assert _sign_in({"consoleClientId": ""}) is None


def test_the_console_signs_in_with_entra_id_and_leaves_the_rest_anonymous():
    file, config = _sign_in({"consoleClientId": CLIENT_ID})
    assert config["name"] == "authsettingsV2"
    site = file.resources[config["parent"]]
    assert site["type"] == "Microsoft.Web/sites" and site["existing"]
    properties = file.resolve(config["properties"])
    assert properties["platform"]["enabled"] is True
    # The storefront, the status page and the partner API are anonymous or bearer-token: App Service lets
    # every request through and the app sends a console visitor without a principal to /.auth/login/aad.
    assert properties["globalValidation"] == {"requireAuthentication": False,
                                              "unauthenticatedClientAction": "AllowAnonymous"}
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True
    assert entra["registration"]["clientId"] == CLIENT_ID
    assert properties["login"]["tokenStore"]["enabled"] is True
    assert properties["httpSettings"]["requireHttps"] is True
    # The issuer: this tenant's v2.0 endpoint, in whichever cloud (environment()), not a literal host.
    assert config["properties"]["identityProviders"]["azureActiveDirectory"]["registration"]["openIdIssuer"] == (
        "${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0")


def test_sign_in_needs_no_client_secret():
    """The code is redeemed with the app's managed identity as a federated credential of the registration
    (App Service's "use a managed identity instead of a secret"): clientSecretSettingName names the app
    setting OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID, which holds the identity's client id."""
    file, config = _sign_in({"consoleClientId": CLIENT_ID})
    registration = config["properties"]["identityProviders"]["azureActiveDirectory"]["registration"]
    setting = file.resolve(registration["clientSecretSettingName"])
    assert setting == "OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID"
    _, values = app_settings_as_written({"consoleClientId": CLIENT_ID})
    identity_client_id = values["AzureWebJobsStorage__clientId"]
    assert json.dumps(values[setting]) == json.dumps(identity_client_id), "not the identity's client id"


def test_the_console_roles_have_their_defaults_and_come_from_azd():
    assert PARAMETERS["consoleOperatorRole"]["value"] == "${CONSOLE_OPERATOR_ROLE=B2B.Operator}"
    assert PARAMETERS["consoleViewerRole"]["value"] == "${CONSOLE_VIEWER_ROLE=B2B.Viewer}"
    api, values = app_settings_as_written()
    roles = api.resolve(values["CONSOLE_OPERATOR_ROLE"]), api.resolve(values["CONSOLE_VIEWER_ROLE"])
    assert roles == ("B2B.Operator", "B2B.Viewer")
