"""Who may call what in Azure: the back office's own host key for automation (instead of the master key),
and App Service Authentication with Microsoft Entra ID in front of the console (issue 9, "Who may enter")."""
from __future__ import annotations

import json

from tests.infra.bicep_tree import INFRA, UNRESOLVED, body, load_all

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
    assert value in file.params and "secure" in _decorators(file.params[value]), "the key's value is a @secure() parameter"


def test_the_back_office_key_is_generated_once_by_azd_and_kept():
    """No default in the Bicep (newGuid() would rotate the key at every provision, and break every caller):
    azd generates the value the first time, keeps it in the environment's config and passes the same one on
    every `azd provision`; BACKOFFICE_KEY in the azd environment replaces it (rotation)."""
    main = load_all()[INFRA / "main.bicep"]
    [(_, passed)] = [(n, body(m["config"])["params"]) for n, m in main.modules.items() if "backofficeKey" in body(m["config"])["params"]]
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
