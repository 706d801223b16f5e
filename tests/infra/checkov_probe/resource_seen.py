"""A checkov check that passes on every Bicep resource: loaded only by tests/infra (--external-checks-dir),
it makes each file checkov parsed show up in its results, so a file it skipped cannot go unnoticed."""
from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult


class ResourceSeen(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="checkov parsed this resource (test probe)",
            id="CKV_B2B_SEEN",
            categories=(CheckCategories.CONVENTION,),
            supported_resources=("*",),
        )

    def scan_resource_conf(self, conf):  # noqa: ANN001 - checkov's signature
        return CheckResult.PASSED


check = ResourceSeen()
