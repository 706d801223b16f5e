"""Which modes can work where the app runs: in Azure, the ones that keep their data on one instance cannot.

Flex Consumption scales each function on instances of its own, each with its own /tmp, started and stopped at
will: a SQLite state, the embedded Sales or a folder of .eml files written there is invisible to every other
instance (the prospect on one, its lead on another, its email on a third) and gone when the instance stops.
So in Azure such a mode is refused before any work is taken (functions/_runtime.py): every function fails
loudly, one log line names the setting and what to use instead, and GET /api/health answers 503 with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from shared.config import Settings
from shared.domain.errors import NotConfigured

# Variables the platform sets on Azure Functions instances, never set by Core Tools nor the local host, read as
# the Functions host reads them (its EnvironmentExtensions: IsFlexConsumptionSku, IsAppService): WEBSITE_SKU
# (FlexConsumption, Dynamic, ElasticPremium …), LEGION_SERVICE_HOST (Flex's platform, set before WEBSITE_SKU
# while an instance is still a placeholder) and WEBSITE_INSTANCE_ID (App Service and Premium instances; Flex
# does not set it). Not CONTAINER_NAME, which Flex sets too: any container runtime or sandbox may set it.
AZURE_PLATFORM_VARIABLES = ("WEBSITE_SKU", "LEGION_SERVICE_HOST", "WEBSITE_INSTANCE_ID")


def running_in_azure(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in AZURE_PLATFORM_VARIABLES)


@dataclass(frozen=True)
class Refusal:
    """A setting whose value cannot work in this environment, and what to set instead."""

    setting: str
    value: str
    instead: str

    def __str__(self) -> str:
        return (f"{self.setting}={self.value} cannot work in Azure: each instance has its own temporary disk, "
                f"so what one writes there no other instance sees and it is lost when the instance stops; "
                f"use {self.instead}")


# Setting → (the value refused in Azure, what works there instead).
_LOCAL_ONLY = (
    ("STATE_BACKEND", "state_backend", "sqlite",
     "STATE_BACKEND=azure (Table Storage and Storage Queues of AzureWebJobsStorage)"),
    ("SALES_MODE", "sales_mode", "embedded",
     "SALES_MODE=none (the back office decides) or SALES_MODE=dataverse with DATAVERSE_URL"),
    ("EMAIL_TRANSPORT", "email_transport", "outbox",
     "EMAIL_TRANSPORT=storage (blobs in EMAIL_OUTBOX_CONTAINER), smtp with SMTP_HOST or ses with SES_REGION"),
)


def refusals(settings: Settings, environ: Mapping[str, str]) -> list[Refusal]:
    """The settings that cannot work where the app runs: none outside Azure (every mode works on one machine)."""
    if not running_in_azure(environ):
        return []
    return [Refusal(name, refused, instead) for name, attribute, refused, instead in _LOCAL_ONLY
            if getattr(settings, attribute) == refused]


class UnworkableDeployment(NotConfigured):
    """The app refuses to work: a mode it is configured with would lose work where it runs."""

    def __init__(self, found: list[Refusal]):
        self.refusals = tuple(found)
        super().__init__("; ".join(str(refusal) for refusal in found))
