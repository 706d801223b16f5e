import json

import pytest

from devhost.settings import (ConfigError, apply_overrides, get_path, load_host_config, load_local_settings,
                              local_http_port, parse_timespan, queue_options, resolve_placeholders, route_prefix)


def write_host_json(directory, config) -> None:
    (directory / "host.json").write_text(json.dumps(config))


def test_queue_options_default_like_azure():
    options = queue_options({"version": "2.0"})
    assert options.rules.batch_size == 16
    assert options.rules.max_dequeue_count == 5
    assert options.rules.visibility_timeout == 0
    assert options.new_batch_threshold == 8
    assert options.max_polling_interval == 60


def test_queue_options_from_host_json(tmp_path):
    write_host_json(tmp_path, {"extensions": {"queues": {
        "batchSize": 4, "newBatchThreshold": 1, "maxDequeueCount": 3,
        "visibilityTimeout": "00:00:10", "maxPollingInterval": "00:00:02"}}})
    options = queue_options(load_host_config(tmp_path, environ={}))
    assert (options.rules.batch_size, options.new_batch_threshold, options.rules.max_dequeue_count) == (4, 1, 3)
    assert (options.rules.visibility_timeout, options.max_polling_interval) == (10, 2)


def test_settings_override_host_json_case_insensitively(tmp_path):
    write_host_json(tmp_path, {"extensions": {"queues": {"maxDequeueCount": 5, "batchSize": 16}}})
    environ = {
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
        "AZUREFUNCTIONSJOBHOST__Extensions__Queues__BATCHSIZE": "8",
        "AzureFunctionsJobHost__extensions__http__routePrefix": "v1",
        "OTHER": "ignored",
    }
    config = load_host_config(tmp_path, environ=environ)
    options = queue_options(config)
    assert options.rules.max_dequeue_count == 2
    assert options.rules.batch_size == 8
    assert route_prefix(config) == "v1"
    # The existing key is replaced, not joined by a second spelling of it.
    assert config["extensions"]["queues"] == {"maxDequeueCount": "2", "batchSize": "8"}


def test_overrides_create_missing_sections_and_index_lists():
    config = apply_overrides({"functions": ["a"]}, {
        "AzureFunctionsJobHost__logging__logLevel__default": "Warning",
        "AzureFunctionsJobHost__functions__1": "b",
    })
    assert get_path(config, "Logging.LogLevel.Default") == "Warning"
    assert config["functions"] == ["a", "b"]


def test_bad_values_name_the_entry():
    with pytest.raises(ConfigError, match=r"extensions.queues.batchSize must be a whole number from 1 to 32"):
        queue_options({"extensions": {"queues": {"batchSize": 64}}})
    with pytest.raises(ConfigError, match="maxDequeueCount"):
        queue_options({"extensions": {"queues": {"maxDequeueCount": "two"}}})
    with pytest.raises(ConfigError, match=r"visibilityTimeout must be a TimeSpan"):
        queue_options({"extensions": {"queues": {"visibilityTimeout": 10}}})


@pytest.mark.parametrize("text, seconds", [
    ("00:00:10", 10), ("00:01:00", 60), ("01:00:00", 3600), ("1.02:00:00", 93600),
    ("00:00:00.5", 0.5), ("00:00:00.25", 0.25), ("00:05", 300),
])
def test_timespans(text, seconds):
    assert parse_timespan(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10", "00:60:00", "24:00:00", "abc", ""])
def test_bad_timespans(text):
    with pytest.raises(ConfigError):
        parse_timespan(text)


def test_route_prefix_default_and_empty():
    assert route_prefix({}) == "api"
    assert route_prefix({"extensions": {"http": {"routePrefix": ""}}}) == ""
    assert route_prefix({"extensions": {"http": {"routePrefix": "/v2/"}}}) == "v2"


def test_missing_host_json_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="host.json not found"):
        load_host_config(tmp_path, environ={})


def test_local_settings_never_replace_set_variables(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps({
        "IsEncrypted": False,
        "Values": {"A": "from-file", "B": "from-file", "FLAG": True, "N": 3},
        "Host": {"LocalHttpPort": 7072},
    }))
    environ = {"A": "already-set"}
    applied = load_local_settings(tmp_path, environ)
    assert environ == {"A": "already-set", "B": "from-file", "FLAG": "true", "N": "3"}
    assert applied == {"B": "from-file", "FLAG": "true", "N": "3"}
    assert local_http_port(tmp_path) == 7072


def test_no_local_settings_is_fine(tmp_path):
    assert load_local_settings(tmp_path, {}) == {}
    assert local_http_port(tmp_path) is None


def test_encrypted_local_settings_are_refused(tmp_path):
    (tmp_path / "local.settings.json").write_text(json.dumps({"IsEncrypted": True, "Values": {}}))
    with pytest.raises(ConfigError, match="encrypted"):
        load_local_settings(tmp_path, {})


def test_placeholders_resolve_from_settings():
    environ = {"LEAD_QUEUE": "b2b-leads", "ENV": "dev"}
    assert resolve_placeholders("%LEAD_QUEUE%", environ) == "b2b-leads"
    assert resolve_placeholders("leads-%ENV%", environ) == "leads-dev"
    assert resolve_placeholders("plain", environ) == "plain"
    with pytest.raises(ConfigError, match="refers to app setting MISSING, which is not set"):
        resolve_placeholders("%MISSING%", environ, what="queueName")
