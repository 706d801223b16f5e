"""Which modes are refused where: in Azure the ones that keep data on one instance's disk, elsewhere none."""
from __future__ import annotations

import pytest

from shared.config import Settings
from shared.deployment import UnworkableDeployment, refusals, running_in_azure

AZURE_DEFAULT = {"STATE_BACKEND": "azure", "SALES_MODE": "none", "EMAIL_TRANSPORT": "storage",
                 "AzureWebJobsStorage__queueServiceUri": "https://example.queue.core.windows.net",
                 "AzureWebJobsStorage__tableServiceUri": "https://example.table.core.windows.net",
                 "AzureWebJobsStorage__blobServiceUri": "https://example.blob.core.windows.net"}
FLEX = {"WEBSITE_SKU": "FlexConsumption"}


@pytest.mark.parametrize("platform", [{"WEBSITE_SKU": "FlexConsumption"}, {"LEGION_SERVICE_HOST": "10.0.0.1"},
                                      {"WEBSITE_INSTANCE_ID": "a1b2c3"}, {"WEBSITE_SKU": "ElasticPremium"}])
def test_the_platforms_variables_say_azure(platform):
    assert running_in_azure(platform)


@pytest.mark.parametrize("elsewhere", [{}, {"CONTAINER_NAME": "any-sandbox"}, {"WEBSITE_HOSTNAME": "127.0.0.1:7071"},
                                       {"WEBSITE_SKU": "  "}])
def test_a_container_or_the_local_host_is_not_azure(elsewhere):
    """CONTAINER_NAME is set by Flex, but also by container runtimes and sandboxes: it alone says nothing."""
    assert not running_in_azure(elsewhere)


def test_the_embedded_default_is_refused_in_azure_naming_each_setting_and_what_works_instead():
    found = refusals(Settings.from_env({}), FLEX)
    assert [(r.setting, r.value) for r in found] == [("STATE_BACKEND", "sqlite"), ("SALES_MODE", "embedded"),
                                                    ("EMAIL_TRANSPORT", "outbox")]
    text = str(UnworkableDeployment(found))
    assert "use STATE_BACKEND=azure" in text and "SALES_MODE=none" in text and "EMAIL_TRANSPORT=storage" in text


def test_every_mode_works_on_one_machine():
    assert refusals(Settings.from_env({}), {}) == []


@pytest.mark.parametrize("setting, value, extra", [
    ("STATE_BACKEND", "sqlite", {}), ("SALES_MODE", "embedded", {}), ("EMAIL_TRANSPORT", "outbox", {})])
def test_each_local_mode_alone_is_refused_in_azure(setting, value, extra):
    settings = Settings.from_env({**AZURE_DEFAULT, setting: value, **extra})
    assert [r.setting for r in refusals(settings, FLEX)] == [setting]


@pytest.mark.parametrize("changes", [{}, {"SALES_MODE": "dataverse", "DATAVERSE_URL": "https://contoso.crm4.dynamics.com"},
                                     {"EMAIL_TRANSPORT": "smtp", "SMTP_HOST": "smtp.contoso.example"},
                                     {"EMAIL_TRANSPORT": "ses", "SES_REGION": "eu-north-1"}])
def test_the_modes_that_work_in_azure_are_not_refused(changes):
    assert refusals(Settings.from_env({**AZURE_DEFAULT, **changes}), FLEX) == []


def test_the_storage_outbox_needs_a_storage_account_and_a_valid_container():
    with pytest.raises(ValueError, match="EMAIL_TRANSPORT=storage needs AzureWebJobsStorage"):
        Settings.from_env({"EMAIL_TRANSPORT": "storage"})
    with pytest.raises(ValueError, match="EMAIL_OUTBOX_CONTAINER='B2B_Outbox' is not a blob container name"):
        Settings.from_env({**AZURE_DEFAULT, "EMAIL_OUTBOX_CONTAINER": "B2B_Outbox"})
    assert Settings.from_env(AZURE_DEFAULT).email_outbox_container == "b2b-outbox"
