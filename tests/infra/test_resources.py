"""The security properties the design relies on, read from the parse tree: keyless storage, Entra-only
telemetry, an RBAC Key Vault that keeps deleted secrets, and the identity's roles."""
from __future__ import annotations

import json

import pytest

from tests.infra.bicep_tree import INFRA, BicepFile, body, load_all

ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
}


def _one(bicep, resource_type) -> tuple[BicepFile, dict]:
    found = [(file, resource["config"]) for file in bicep.values()
             for resource in file.resources_of_type(resource_type).values()]
    assert len(found) == 1, f"expected one {resource_type}, found {len(found)}"
    return found[0]


def _properties(bicep, resource_type) -> dict:
    file, config = _one(bicep, resource_type)
    return file.resolve(config["properties"])


def test_storage_account_is_keyless_and_private_to_entra_id(bicep):
    properties = _properties(bicep, "Microsoft.Storage/storageAccounts")
    assert properties["allowSharedKeyAccess"] is False
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["minimumTlsVersion"] == "TLS1_2"


def test_application_insights_accepts_only_entra_id(bicep):
    assert _properties(bicep, "Microsoft.Insights/components")["DisableLocalAuth"] is True
    assert _properties(bicep, "Microsoft.OperationalInsights/workspaces")["features"]["disableLocalAuth"] is True


def test_key_vault_uses_rbac_and_keeps_deleted_secrets(bicep):
    properties = _properties(bicep, "Microsoft.KeyVault/vaults")
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True


def test_function_app_runs_on_flex_consumption_as_the_user_assigned_identity(bicep):
    plan = _one(bicep, "Microsoft.Web/serverfarms")[1]
    assert (plan["sku"]["name"], plan["sku"]["tier"]) == ("FC1", "FlexConsumption")
    file, app = _one(bicep, "Microsoft.Web/sites")
    assert app["identity"]["type"] == "UserAssigned"
    storage = app["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert file.resolve(storage["type"]) == "blobContainer"
    assert file.resolve(storage["authentication"]["type"]) == "UserAssignedIdentity"
    assert app["properties"]["httpsOnly"] is True


def _assigned_role(file: BicepFile, config: dict) -> object:
    """The role id of `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.x)`."""
    function = config["properties"]["roleDefinitionId"].get("function", {})
    assert function.get("type") == "subscription_resource_id", config["properties"]["roleDefinitionId"]
    return file.resolve(function["parameters"]["resource_name_1"])


@pytest.mark.parametrize("role_id", ROLES, ids=ROLES.get)
def test_the_identity_holds_its_role(bicep, role_id):
    """Unconditionally, and once: the app does not start without its storage and telemetry roles."""
    holders = [(file.path.name, name) for file in bicep.values()
               for name, resource in file.resources_of_type("Microsoft.Authorization/roleAssignments").items()
               if "condition" not in resource["config"] and "loop_type" not in resource["config"]
               and resource["config"]["properties"]["principalId"] == "identityPrincipalId"
               and _assigned_role(file, resource["config"]) == role_id]
    assert len(holders) == 1, f"the managed identity should hold {ROLES[role_id]} exactly once: {holders}"


OPERATOR_ROLE_TYPE = "Microsoft.Authorization/roleAssignments"
OPERATOR_ID = "00000000-0000-0000-0000-00000000000a"  # an object id, as azd passes AZURE_PRINCIPAL_ID


def _operator_assignments(bicep) -> list[tuple[str, BicepFile, dict]]:
    """The role assignments of the person or pipeline running azd (main.bicep's principalId): name, file and
    pycep's config (condition included)."""
    found = [(name, file, resource["config"]) for file in bicep.values()
             for name, resource in file.resources_of_type(OPERATOR_ROLE_TYPE).items()
             if body(resource["config"])["properties"]["principalId"] == "principalId"]
    assert found, "no role assignment for the principal running azd"
    return found


def test_the_operators_principal_type_comes_from_azd():
    """azd (1.17.1 and later) fills ${AZURE_PRINCIPAL_TYPE} itself, User or ServicePrincipal by how it is
    signed in; an older azd leaves it unset. A fixed fallback is wrong for one of the two (a pipeline's
    service principal given 'User' fails with UnmatchedPrincipalType), so there is none: without a type the
    assignment omits principalType and ARM looks the principal up, right for both."""
    given = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert given["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE}", given["principalType"]
    for principal_type, expected in (("", None), ("User", "User"), ("ServicePrincipal", "ServicePrincipal")):
        files = {path.relative_to(INFRA).as_posix(): file for path, file in
                 load_all({"principalId": OPERATOR_ID, "principalType": principal_type}).items()}
        for name, file, config in _operator_assignments(files):
            assert file.condition(config) is True, name
            sent = file.resolve(body(config)["properties"]["principalType"])
            assert sent == expected, f"{name}: principalType {sent!r} for AZURE_PRINCIPAL_TYPE={principal_type!r}"


def test_the_operator_gets_no_assignment_without_a_principal():
    files = {path.relative_to(INFRA).as_posix(): file for path, file in load_all({"principalId": ""}).items()}
    for name, file, config in _operator_assignments(files):
        assert file.condition(config) is False, f"{name} is assigned to an empty principal id"


BLOB_OWNER, BLOB_CONTRIBUTOR = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
QUEUE_CONTRIBUTOR, TABLE_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88", "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
SECRETS_USER, SECRETS_OFFICER = "4633458b-17de-408a-b874-0445c86b69e6", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
STORAGE, INSIGHTS = "Microsoft.Storage/storageAccounts", "Microsoft.Insights/components"
VAULT = "Microsoft.KeyVault/vaults"

# What the app's identity reaches, on which resource, and the built-in roles that grant it (Blob Data Owner's
# data actions include Contributor's).
IDENTITY_NEEDS = {
    "blobs: host keys, locks, timers, the Flex deployment package, the email outbox": (STORAGE,
                                                                                       {BLOB_OWNER, BLOB_CONTRIBUTOR}),
    "queues: triggers, poison queues, the app's sends": (STORAGE, {QUEUE_CONTRIBUTOR}),
    "the state table": (STORAGE, {TABLE_CONTRIBUTOR}),
    "Entra ID authenticated telemetry": (INSIGHTS, {METRICS_PUBLISHER}),
    "Key Vault references in app settings": (VAULT, {SECRETS_USER, SECRETS_OFFICER}),
}
# What the operator's CLI reaches in Azure (b2b poison, emails, outbox, work) and the secrets they manage.
OPERATOR_NEEDS = {
    "queues (b2b poison …, b2b work)": (STORAGE, {QUEUE_CONTRIBUTOR}),
    "the state table": (STORAGE, {TABLE_CONTRIBUTOR}),
    "the email outbox (b2b outbox)": (STORAGE, {BLOB_OWNER, BLOB_CONTRIBUTOR}),
    "the app's secrets": (VAULT, {SECRETS_OFFICER}),
}


def _grants(bicep, principal: str) -> set[tuple[str, str]]:
    """(role id, type of the resource it is scoped to) of the role assignments to ``principal``."""
    grants = set()
    for file in bicep.values():
        for resource in file.resources_of_type("Microsoft.Authorization/roleAssignments").values():
            config = body(resource["config"])
            if config["properties"]["principalId"] != principal:
                continue
            scope = file.resources.get(config["scope"])
            assert scope, f"{file.path.name}: role assignment scoped to {config['scope']!r}, not a resource of the file"
            grants.add((_assigned_role(file, config), scope["type"]))
    return grants


@pytest.mark.parametrize("need", IDENTITY_NEEDS)
def test_the_identity_can_reach_what_the_app_uses(bicep, need):
    resource_type, roles = IDENTITY_NEEDS[need]
    grants = _grants(bicep, "identityPrincipalId")
    assert any((role, resource_type) in grants for role in roles), f"the app's identity cannot reach {need}"


@pytest.mark.parametrize("need", OPERATOR_NEEDS)
def test_the_operator_can_reach_what_the_cli_uses(bicep, need):
    resource_type, roles = OPERATOR_NEEDS[need]
    grants = _grants(bicep, "principalId")
    assert any((role, resource_type) in grants for role in roles), f"the operator cannot reach {need}"
