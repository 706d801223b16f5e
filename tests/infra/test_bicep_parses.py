"""Every Bicep file parses with pycep (what checkov reads them with), and the azd wiring fits together."""
from __future__ import annotations

import json
import re

import pytest

from tests.infra.bicep_tree import INFRA, bicep_files, has_default, parse

ROOT = INFRA.parent
FILES = bicep_files()


def test_infra_has_bicep_files():
    names = {path.relative_to(INFRA).as_posix() for path in FILES}
    assert {"main.bicep", "app/api.bicep"} <= names, names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_pycep_parses(pycep_available, path):
    tree = parse(path)  # raises (lark UnexpectedToken …) with the line and column on a syntax it can't read
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def test_modules_are_local_files(bicep):
    """Registry modules (br:, ts:) are invisible to checkov: every resource is declared natively."""
    for name, file in bicep.items():
        for module_name, module in file.modules.items():
            assert module["type"] == "local", f"{name}: module {module_name} is {module['detail']}"
            target = file.path.parent / module["detail"]["path"]
            assert target.is_file(), f"{name}: module {module_name} points at a missing {target}"


def test_main_is_subscription_scoped_and_creates_the_resource_group(bicep):
    main = bicep["main.bicep"]
    assert main.tree["globals"]["scope"]["value"] == "subscription"
    assert main.resources_of_type("Microsoft.Resources/resourceGroups")


def test_parameters_file_matches_main(bicep):
    """azd fills main.parameters.json from its environment; each entry must be a main.bicep parameter, and
    each main.bicep parameter without a default must be filled."""
    params = bicep["main.bicep"].params
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(given) <= set(params), f"not parameters of main.bicep: {sorted(set(given) - set(params))}"
    required = {name for name, p in params.items() if not has_default(p)}
    assert {"environmentName", "location"} <= required, "pycep's way of saying 'no default' changed"
    assert required <= set(given), f"main.bicep parameters azd cannot fill: {sorted(required - set(given))}"


def test_azure_yaml_deploys_this_folder_as_a_python_function():
    text = (ROOT / "azure.yaml").read_text()
    try:
        import yaml
    except ImportError:  # PyYAML comes with checkov; fall back to the lines that matter
        assert re.search(r"(?m)^  api:\n(    .*\n)*?    host: function$", text), text
        return
    config = yaml.safe_load(text)
    api = config["services"]["api"]
    assert (api["project"], api["language"], api["host"]) == (".", "python", "function")
    assert config.get("infra", {}).get("path", "infra") == "infra"
