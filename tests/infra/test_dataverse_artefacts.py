"""The Dataverse setup artefacts of infra/dataverse/ against the code that depends on them.

- every JSON file parses; the view's FetchXML and layoutxml are well-formed XML with the filter and
  columns the "All Commerce B2B leads" view needs;
- the column, the view and the code agree on the prospect-number column's name;
- the webhook's steps are exactly the SDK messages ``shared/services/sales_webhook.py`` handles, each
  PostOperation + asynchronous, and each one is accepted by the real ``SalesWebhook`` when Dataverse
  posts a context shaped by that registration (the Update step through its post-image);
- the service endpoint is a WebhookKey webhook on ``/api/sales/events``;
- the security role grants only what the gateway's requests need.
"""
from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import shared.adapters.dataverse_sales as dataverse_sales
from shared.config import Settings
from shared.services.sales_webhook import SalesWebhook, UnsupportedWebhook

DATAVERSE = Path(__file__).resolve().parents[2] / "infra" / "dataverse"
COLUMN_FILE = DATAVERSE / "column-cr_b2bprospectnumber.json"
VIEW_FILE = DATAVERSE / "view-all-commerce-b2b-leads.json"
WEBHOOK_FILE = DATAVERSE / "webhook-registration.json"
ROLE_FILE = DATAVERSE / "security-role.json"

# The (SDK message, primary entity) pairs shared/services/sales_webhook.py maps to outcomes (its module
# docstring table and SalesWebhook._decide). The module exposes no list of them, so it is kept here;
# test_every_step_is_accepted_by_the_webhook and test_other_messages_are_refused_by_the_webhook check it
# against the module's behaviour. Change both together.
WEBHOOK_MESSAGES = {
    ("QualifyLead", "lead"),
    ("Update", "lead"),
    ("SetState", "lead"),
    ("SetStateDynamicEntity", "lead"),
    ("Win", "opportunity"),
    ("Lose", "opportunity"),
}

POST_OPERATION = 40  # sdkmessageprocessingstep.stage
ASYNCHRONOUS = 1  # sdkmessageprocessingstep.mode
POST_IMAGE = 1  # sdkmessageprocessingstepimage.imagetype
CONTRACT_WEBHOOK = 8  # serviceendpoint.contract
AUTH_WEBHOOK_KEY = 4  # serviceendpoint.authtype
LEAD_OPEN = "0"


def load(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def view() -> dict[str, Any]:
    return load(VIEW_FILE)


@pytest.fixture(scope="module")
def fetch(view) -> ET.Element:
    return ET.fromstring(view["fetchxml"])


@pytest.fixture(scope="module")
def layout(view) -> ET.Element:
    return ET.fromstring(view["layoutxml"])


@pytest.fixture(scope="module")
def webhook() -> dict[str, Any]:
    return load(WEBHOOK_FILE)


# --- files ------------------------------------------------------------------------------------------
def test_the_artefacts_exist():
    assert {p.name for p in DATAVERSE.iterdir()} >= {
        COLUMN_FILE.name, VIEW_FILE.name, WEBHOOK_FILE.name, ROLE_FILE.name, "README.md"}


@pytest.mark.parametrize("path", sorted(DATAVERSE.glob("*.json")), ids=lambda p: p.name)
def test_every_json_file_parses(path):
    assert isinstance(load(path), dict)


# --- the column -------------------------------------------------------------------------------------
def test_the_column_is_the_gateways_prospect_number_column():
    column = load(COLUMN_FILE)
    logical_name = column["SchemaName"].lower()  # Dataverse derives the logical name this way
    assert logical_name == dataverse_sales.DEFAULT_PROSPECT_COLUMN
    assert logical_name == Settings.from_env({}).dataverse_prospect_number_column
    assert COLUMN_FILE.name == f"column-{logical_name}.json"


def test_the_column_is_an_optional_searchable_string_of_100():
    column = load(COLUMN_FILE)
    assert column["@odata.type"] == "Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert column["AttributeType"] == "String"
    assert column["MaxLength"] == 100
    assert column["RequiredLevel"]["Value"] == "None"
    assert column["IsValidForAdvancedFind"]["Value"] is True
    labels = column["DisplayName"]["LocalizedLabels"]
    assert labels and all(label["Label"].strip() and label["LanguageCode"] for label in labels)


def test_prospect_numbers_fit_the_column():
    # PRO-000001 … : the numbers the channel sync assigns must fit the column's MaxLength.
    assert len("PRO-" + "9" * 12) <= load(COLUMN_FILE)["MaxLength"]


# --- the view ---------------------------------------------------------------------------------------
def test_the_view_is_a_public_lead_view(view):
    assert view["name"] == "All Commerce B2B leads"
    assert view["returnedtypecode"] == "lead"
    assert view["querytype"] == 0
    assert view["isdefault"] is False
    assert view["isquickfindquery"] is False


def test_the_fetch_reads_leads(fetch):
    assert fetch.tag == "fetch"
    entities = fetch.findall("entity")
    assert [e.get("name") for e in entities] == ["lead"]


def _conditions(fetch: ET.Element) -> list[ET.Element]:
    entity = fetch.find("entity")
    filters = entity.findall("filter")
    assert filters and all(f.get("type", "and") == "and" for f in filters), "the view's filters must all apply"
    return [c for f in filters for c in f.findall("condition")]


def test_the_fetch_keeps_open_leads_with_a_prospect_number(fetch):
    column = dataverse_sales.DEFAULT_PROSPECT_COLUMN
    conditions = {(c.get("attribute"), c.get("operator"), c.get("value")) for c in _conditions(fetch)}
    assert (column, "not-null", None) in conditions
    assert ("statecode", "eq", LEAD_OPEN) in conditions


def test_the_fetch_orders_newest_first(fetch):
    orders = fetch.find("entity").findall("order")
    assert [(o.get("attribute"), o.get("descending")) for o in orders] == [("createdon", "true")]


def test_the_fetch_selects_the_view_columns(fetch):
    selected = {a.get("name") for a in fetch.find("entity").findall("attribute")}
    assert selected >= {"fullname", "companyname", "emailaddress1", "statecode", "createdon",
                        dataverse_sales.DEFAULT_PROSPECT_COLUMN, "leadid"}


def test_every_layout_cell_is_selected_by_the_fetch(fetch, layout):
    selected = {a.get("name") for a in fetch.find("entity").findall("attribute")}
    assert layout.tag == "grid"
    rows = layout.findall("row")
    assert len(rows) == 1
    assert rows[0].get("id") == "leadid" and "leadid" in selected
    cells = [cell.get("name") for cell in rows[0].findall("cell")]
    assert cells, "the layout shows no column"
    assert len(cells) == len(set(cells))
    assert set(cells) <= selected, f"cells the fetch does not select: {set(cells) - selected}"
    assert dataverse_sales.DEFAULT_PROSPECT_COLUMN in cells
    assert layout.get("jump") in cells


def test_the_layout_names_the_lead_table(layout):
    assert layout.get("object") == "4"  # lead's entity type code


# --- the webhook ------------------------------------------------------------------------------------
def test_the_endpoint_is_a_webhook_key_webhook_on_sales_events(webhook):
    endpoint = webhook["serviceEndpoint"]
    assert endpoint["contract"] == CONTRACT_WEBHOOK
    assert endpoint["authtype"] == AUTH_WEBHOOK_KEY
    assert endpoint["url"].startswith("https://")
    assert endpoint["url"].endswith("/api/sales/events")
    assert "?" not in endpoint["url"], "WebhookKey adds ?code= itself"
    assert endpoint["authvalue"] == "${FUNCTION_KEY}"


def test_the_placeholders_are_documented(webhook):
    text = WEBHOOK_FILE.read_text(encoding="utf-8")
    used = {name for name in ("APP_HOST", "FUNCTION_KEY") if "${" + name + "}" in text}
    assert used == set(webhook["placeholders"])
    readme = (DATAVERSE / "README.md").read_text(encoding="utf-8")
    assert all("${" + name + "}" in readme for name in used)


def test_the_steps_are_exactly_the_messages_the_webhook_maps(webhook):
    registered = [(s["message"], s["primaryEntity"]) for s in webhook["steps"]]
    assert len(registered) == len(set(registered)), "a message registered twice is delivered twice"
    assert set(registered) == WEBHOOK_MESSAGES


def test_every_step_is_post_operation_and_asynchronous(webhook):
    for entry in webhook["steps"]:
        step = entry["step"]
        assert step["stage"] == POST_OPERATION, entry["message"]
        assert step["mode"] == ASYNCHRONOUS, entry["message"]
        assert step["supporteddeployment"] == 0, entry["message"]  # server only
        assert step["name"].strip()


def test_only_the_lead_update_step_filters_and_carries_the_status_post_image(webhook):
    for entry in webhook["steps"]:
        step, images = entry["step"], entry["images"]
        if (entry["message"], entry["primaryEntity"]) == ("Update", "lead"):
            assert step["filteringattributes"] == "statecode"
            assert len(images) == 1
            image = images[0]
            assert image["imagetype"] == POST_IMAGE
            assert image["messagepropertyname"] == "Target"
            assert set(image["attributes"].split(",")) == {"statecode", "statuscode"}
            assert image["entityalias"]
        else:
            assert "filteringattributes" not in step, entry["message"]
            assert images == [], entry["message"]


# The webhook module itself, fed contexts shaped like Dataverse would post for each registration.
class _Queue:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, queue: str, body: str, *, delay_seconds: float = 0) -> str:
        self.sent.append((queue, body))
        return str(len(self.sent))


class _Clock:
    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=timezone.utc)


LEAD = str(uuid.UUID(int=1))
OPPORTUNITY = str(uuid.UUID(int=2))


def _option(value: int) -> dict:
    return {"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": value}


def _reference(entity: str, record: str) -> dict:
    return {"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
            "Id": record, "LogicalName": entity, "Name": None}


def _context(message: str, entity: str, entry: dict) -> dict:
    """A RemoteExecutionContext for ``message`` on ``entity`` with what that decision carries; images as the
    step's registration asks for them (alias and attributes)."""
    inputs: list[dict] = []
    images: list[dict] = []
    primary = LEAD if entity == "lead" else OPPORTUNITY
    if message == "Update":
        inputs.append({"key": "Target", "value": {"LogicalName": "lead", "Id": LEAD, "Attributes": [
            {"key": "leadid", "value": LEAD}]}})  # the state is read from the post-image
        for image in entry["images"]:
            values = {"statecode": _option(2), "statuscode": _option(4)}
            images.append({"key": image["entityalias"], "value": {"LogicalName": "lead", "Id": LEAD, "Attributes": [
                {"key": name, "value": values[name]} for name in image["attributes"].split(",")]}})
    elif message in ("SetState", "SetStateDynamicEntity"):
        inputs += [{"key": "EntityMoniker", "value": _reference("lead", LEAD)},
                   {"key": "State", "value": _option(2)}, {"key": "Status", "value": _option(4)}]
    elif message in ("Win", "Lose"):
        inputs.append({"key": "OpportunityClose", "value": {"LogicalName": "opportunityclose", "Attributes": [
            {"key": "opportunityid", "value": _reference("opportunity", OPPORTUNITY)}]}})
        inputs.append({"key": "Status", "value": _option(3 if message == "Win" else 4)})
    return {"MessageName": message, "PrimaryEntityName": entity, "PrimaryEntityId": primary,
            "InputParameters": inputs, "PostEntityImages": images, "RequestId": str(uuid.uuid4())}


def _webhook(queue: _Queue) -> SalesWebhook:
    return SalesWebhook(queue, "outcomes", _Clock(), opportunity_lead=lambda opportunity: LEAD)


EXPECTED_KIND = {
    "QualifyLead": "lead_qualified", "Update": "lead_disqualified", "SetState": "lead_disqualified",
    "SetStateDynamicEntity": "lead_disqualified", "Win": "opportunity_won", "Lose": "opportunity_lost",
}


def test_every_step_is_accepted_by_the_webhook(webhook):
    for entry in webhook["steps"]:
        message, entity = entry["message"], entry["primaryEntity"]
        queue = _Queue()
        result = _webhook(queue).handle(_context(message, entity, entry))
        assert (result.status, result.kind) == ("enqueued", EXPECTED_KIND[message]), (message, entity, result)
        assert len(queue.sent) == 1


@pytest.mark.parametrize("message, entity", [
    ("Create", "lead"), ("Delete", "lead"), ("Assign", "lead"), ("QualifyLead", "opportunity"),
    ("Update", "opportunity"), ("SetState", "opportunity"), ("Win", "quote"), ("Lose", "lead"),
    ("Create", "opportunity"),
])
def test_other_messages_are_refused_by_the_webhook(message, entity):
    # Registering any of these would only produce 400s (and failed System Jobs) in Dataverse.
    assert (message, entity) not in WEBHOOK_MESSAGES
    with pytest.raises(UnsupportedWebhook):
        _webhook(_Queue()).handle(_context(message, entity, {"images": []}))


# --- the security role ------------------------------------------------------------------------------
def test_the_role_grants_only_what_the_integration_uses():
    role = load(ROLE_FILE)
    granted = {(p["privilege"], p["depth"]) for p in role["privileges"]}
    assert granted == {
        ("prvCreateLead", "Basic"), ("prvReadLead", "Global"), ("prvWriteLead", "Basic"), ("prvAppendToLead", "Basic"),
        ("prvCreateNote", "Basic"), ("prvReadNote", "Basic"), ("prvAppendNote", "Basic"),
        ("prvReadOpportunity", "Global"), ("prvReadAccount", "Global"), ("prvReadContact", "Global"),
    }
    names = [p["privilege"] for p in role["privileges"]]
    assert len(names) == len(set(names))
    assert not any(n.startswith(("prvDelete", "prvAssign", "prvShare")) for n in names)
    assert all(p["depth"] in {"Basic", "Local", "Deep", "Global"} for p in role["privileges"] + role["optional"])
    assert all(p["why"].strip() for p in role["privileges"])
