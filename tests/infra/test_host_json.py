"""host.json as deployed: what it keeps of the telemetry Application Insights relies on."""
from __future__ import annotations

import json
from pathlib import Path

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"

# .NET log levels, lowest first (host.json logging.logLevel takes these names).
LEVELS = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]


def _level(log_levels: dict, category: str) -> str:
    """The level that applies to a category: its most specific prefix in logLevel, else `default`."""
    parts = category.split(".")
    for length in range(len(parts), 0, -1):
        prefix = ".".join(parts[:length])
        if prefix in log_levels:
            return log_levels[prefix]
    return log_levels.get("default", "Information")


def test_application_insights_keeps_the_request_records_of_successful_calls():
    """The host writes one `Host.Results` record per invocation; Application Insights turns it into the request
    (success or failure, duration). Above Information, only failed calls keep theirs: success rates, latency
    and the transaction view go blind. Volume is sampling's job (logging.applicationInsights.samplingSettings),
    see https://learn.microsoft.com/azure/azure-functions/configure-monitoring#configure-categories."""
    logging = json.loads(HOST_JSON.read_text(encoding="utf-8"))["logging"]
    level = _level(logging.get("logLevel", {}), "Host.Results")
    assert LEVELS.index(level) <= LEVELS.index("Information"), f"Host.Results is logged at {level}"


def test_sampling_never_drops_requests():
    """Sampling is on to bound volume, but requests stay whole (as in Microsoft's Flex quickstarts), so a
    request is never missing from a transaction that kept its dependencies."""
    sampling = json.loads(HOST_JSON.read_text(encoding="utf-8"))["logging"]["applicationInsights"]["samplingSettings"]
    assert sampling["isEnabled"] is True
    assert "Request" in [kind.strip() for kind in sampling["excludedTypes"].split(";")]
