"""infra/ held to Flex Consumption's rules, each with the page that states it.

Microsoft lists what a Flex Consumption site must not carry in the Functions app-settings reference,
"Flex Consumption plan deprecations":
https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
(site properties rejected with ARM error 51021, "The following site configuration property (...) for Flex
Consumption sites is invalid", and app settings replaced by functionAppConfig or set by the platform), and
the plan's other limits under "Considerations":
https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations
"""
from __future__ import annotations

import json

import pytest

from tests.infra.bicep_tree import INFRA, BicepFile, body

FLEX_DEPRECATIONS = ("https://learn.microsoft.com/azure/azure-functions/functions-app-settings"
                     "#flex-consumption-plan-deprecations")
FLEX_CONSIDERATIONS = "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan#considerations"

# Site properties (under properties or properties.siteConfig) that Flex Consumption rejects: the
# deprecations table, plus one more ARM has been seen rejecting with the same 51021 error
# (https://github.com/Azure/terraform-azurerm-avm-res-web-site/pull/345).
REJECTED_SITE_PROPERTIES = {
    "ftpsState": "FTPS not supported",
    "use32BitWorkerProcess": "32-bit not supported",
    "isReserved": "not valid",
    "isXenon": "not valid",
    "windowsFxVersion": "not valid",
    "alwaysOn": "not valid",
    "preWarmedInstanceCount": "renamed: functionAppConfig.scaleAndConcurrency.alwaysReady",
    "functionAppScaleLimit": "renamed: functionAppConfig.scaleAndConcurrency.maximumInstanceCount",
    "containerSize": "renamed: functionAppConfig.scaleAndConcurrency.instanceMemoryMB",
    "javaVersion": "replaced by functionAppConfig.runtime.version",
    "powerShellVersion": "replaced by functionAppConfig.runtime.version",
    "netFrameworkVersion": "replaced by functionAppConfig.runtime.version",
    "linuxFxVersion": "replaced by functionAppConfig.runtime",
    "functionsRuntimeScaleMonitoringEnabled": "rejected with ARM 51021 (AVM pull request #345)",
}

# App settings that Flex Consumption replaced (functionAppConfig: runtime, deployment, scale), sets itself,
# or does not support (the deprecations table; WEBSITE_TIME_ZONE, TZ and WEBSITE_LOAD_CERTIFICATES from the
# considerations).
NOT_ON_FLEX = {
    "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY", "FUNCTIONS_WORKER_PROCESS_COUNT", "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED",
    "WEBSITE_NODE_DEFAULT_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTOVERVNET", "WEBSITE_SKIP_CONTENTSHARE_VALIDATION", "WEBSITE_VNET_ROUTE_ALL",
    "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT",
    "WEBSITE_TIME_ZONE", "TZ", "WEBSITE_LOAD_CERTIFICATES",
}

# The regions the official Flex Consumption azd quickstart allows for `location`
# (https://github.com/Azure-Samples/functions-quickstart-python-http-azd/blob/7ed4638/infra/main.bicep),
# without eastus2euap: an early-access (canary) region ordinary subscriptions cannot deploy to. Flex
# reaches more regions over time: `az functionapp list-flexconsumption-locations` lists today's.
SAMPLE_FLEX_REGIONS = {
    "australiaeast", "australiasoutheast", "brazilsouth", "canadacentral", "centralindia", "centralus",
    "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral", "italynorth", "japaneast",
    "koreacentral", "northcentralus", "northeurope", "norwayeast", "southafricanorth", "southcentralus",
    "southeastasia", "southindia", "spaincentral", "swedencentral", "uaenorth", "uksouth", "ukwest",
    "westcentralus", "westeurope", "westus", "westus2", "westus3",
}


def _sites(bicep) -> list[tuple[str, BicepFile, dict]]:
    return [(name, file, body(resource["config"])) for name, file in bicep.items()
            for resource in file.resources_of_type("Microsoft.Web/sites").values()]


def _rejected(properties: dict) -> list[str]:
    rejected = {name.lower(): name for name in REJECTED_SITE_PROPERTIES}
    return [f"{key} ({REJECTED_SITE_PROPERTIES[rejected[key.lower()]]})"
            for key in properties if key.lower() in rejected]


def test_no_site_property_that_flex_consumption_rejects(bicep):
    sites = _sites(bicep)
    assert sites, "no Microsoft.Web/sites in infra/"
    for name, _, config in sites:
        properties = config.get("properties", {})
        found = _rejected(properties) + _rejected(properties.get("siteConfig", {}))
        assert not found, f"{name}: Flex Consumption rejects {found}; see {FLEX_DEPRECATIONS}"
    for name, file in bicep.items():
        for resource in file.resources_of_type("Microsoft.Web/sites/config").values():
            config = body(resource["config"])
            if config.get("name") == "web":
                found = _rejected(config.get("properties", {}))
                assert not found, f"{name}: Flex Consumption rejects {found}; see {FLEX_DEPRECATIONS}"


def test_no_app_setting_that_flex_consumption_replaced(bicep):
    for name, _, config in _sites(bicep):
        settings = {entry["name"] for entry in config["properties"]["siteConfig"].get("appSettings", [])}
        assert not NOT_ON_FLEX & settings, f"{name}: {sorted(NOT_ON_FLEX & settings)}; see {FLEX_DEPRECATIONS}"


def test_the_runtime_lives_in_function_app_config(bicep):
    for name, file, config in _sites(bicep):
        function_app_config = config["properties"]["functionAppConfig"]
        assert set(function_app_config) >= {"deployment", "runtime", "scaleAndConcurrency"}, name
        runtime = function_app_config["runtime"]
        assert (file.resolve(runtime["name"]), file.resolve(runtime["version"])) == ("python", "3.11"), name


def _decorator(parameter: dict, kind: str):
    found = [d for d in parameter["decorators"] if d["type"] == kind]
    return found[0]["argument"] if found else None


def test_location_is_restricted_to_flex_consumption_regions(bicep):
    """Elsewhere, the plan's creation fails after the resource group and half the resources exist."""
    location = bicep["main.bicep"].params["location"]
    allowed = _decorator(location, "allowed")
    assert allowed, "main.bicep's location accepts any region; Flex Consumption runs in a subset"
    unknown = set(allowed) - SAMPLE_FLEX_REGIONS
    assert not unknown, f"not known to offer Flex Consumption: {sorted(unknown)}"
    assert len(allowed) == len(set(allowed))
    assert "list-flexconsumption-locations" in _decorator(location, "description"), "say how to list the regions"


def test_scale_limits_are_within_what_flex_consumption_accepts(bicep):
    """Considerations: the lowest maximum scale is 40, the highest 1000; instances have 512, 2048 or 4096 MB."""
    params = bicep["app/api.bicep"].params
    maximum = params["maximumInstanceCount"]
    assert (_decorator(maximum, "min_value"), _decorator(maximum, "max_value")) == (40, 1000), FLEX_CONSIDERATIONS
    assert 40 <= params["maximumInstanceCount"]["default"] <= 1000
    assert set(_decorator(params["instanceMemoryMB"], "allowed")) <= {512, 2048, 4096}, FLEX_CONSIDERATIONS


def test_one_app_per_plan(bicep):
    """Considerations: only one app is allowed per Flex Consumption plan."""
    plans = [r for file in bicep.values() for r in file.resources_of_type("Microsoft.Web/serverfarms").values()]
    assert len(plans) == len(_sites(bicep)) == 1, FLEX_CONSIDERATIONS


def test_the_extension_bundle_is_one_flex_consumption_runs():
    """Considerations: non-C# apps need extension bundle [4.0.0, 5.0.0) or later."""
    bundle = json.loads((INFRA.parent / "host.json").read_text(encoding="utf-8"))["extensionBundle"]
    assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"
    assert bundle["version"].startswith("[4."), bundle["version"]


@pytest.mark.parametrize("policy", ["ftp", "scm"])
def test_publishing_credential_policies_name_their_location(bicep, policy):
    """The resource type's definition has no `location`, but ARM refuses the policy without one ("The
    parameter location has an invalid value", https://github.com/Azure/bicep-types-az/issues/1317)."""
    found = [(file, body(r["config"])) for file in bicep.values()
             for r in file.resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies").values()
             if body(r["config"])["name"] == policy]
    assert len(found) == 1, f"one {policy} policy expected"
    file, config = found[0]
    assert config.get("location") == "location" and "location" in file.params, config
    assert config["properties"]["allow"] is False
