import asyncio
import base64
import json
import logging
from pathlib import Path

import pytest

from controlplane.config import (
    LIVE_FIELDS,
    WELL_KNOWN_ACCOUNT,
    WELL_KNOWN_KEY,
    ConfigError,
    ConfigWatcher,
    ServiceSettings,
    Settings,
    diff_settings,
    load_settings,
    redacted,
)

OTHER_KEY = base64.b64encode(b"k" * 64).decode()


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    settings = load_settings(env={})
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.log_level == "INFO"
    assert settings.log_format == "json"
    assert settings.log_file is None
    assert settings.log_file_max_bytes == 10 * 1024 * 1024
    assert settings.log_file_backups == 3
    assert settings.data_dir == Path("~/.localzure").expanduser()
    assert settings.persistence == "sqlite"
    assert settings.mode == "auto"
    assert settings.services == {}
    assert settings.accounts == {WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY}
    assert settings.shutdown_timeout == 30.0
    assert settings.account_keys()[WELL_KNOWN_ACCOUNT] == base64.b64decode(WELL_KNOWN_KEY)


def test_paths_expand_the_home_directory():
    settings = load_settings(cli={"data_dir": "~/lz-data", "log_file": "~/lz.log"}, env={})
    assert settings.data_dir == Path.home() / "lz-data"
    assert settings.log_file == Path.home() / "lz.log"


def test_service_returns_entry_or_defaults():
    settings = load_settings(cli={"services": {"queue": {"port": 1234, "enabled": False}}}, env={})
    assert settings.service("queue").port == 1234
    assert settings.service("queue").enabled is False
    assert settings.service("blob") == ServiceSettings()


def test_service_keeps_adapter_specific_keys():
    settings = load_settings(cli={"services": {"keyvault": {"strict_auth": True}}}, env={})
    assert settings.service("keyvault").model_extra == {"strict_auth": True}


def test_log_level_is_case_insensitive_and_stored_upper():
    settings = load_settings(cli={"log_level": "debug", "log_levels": {"controlplane.gateway": "warning"}}, env={})
    assert settings.log_level == "DEBUG"
    assert settings.log_levels == {"controlplane.gateway": "WARNING"}


def test_file_wins_over_defaults(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "port: 9000\nmode: host\n")
    settings = load_settings(config_file=config, env={})
    assert (settings.port, settings.mode) == (9000, "host")


def test_env_wins_over_file(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "port: 9000\nmode: host\n")
    settings = load_settings(config_file=config, env={"LOCALZURE_PORT": "9100"})
    assert settings.port == 9100
    assert settings.mode == "host"  # the file's other values stay


def test_cli_wins_over_env(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "port: 9000\n")
    settings = load_settings(
        cli={"port": 9200, "log_level": None},
        config_file=config,
        env={"LOCALZURE_PORT": "9100", "LOCALZURE_LOG_LEVEL": "ERROR"},
    )
    assert settings.port == 9200
    assert settings.log_level == "ERROR"  # None on the CLI means "not given"


def test_dotted_cli_keys():
    settings = load_settings(cli={"services.queue.port": 1111}, env={})
    assert settings.service("queue").port == 1111


def test_layers_merge_nested_service_settings(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "services:\n  queue:\n    image: my/queue:1\n    port: 1\n")
    settings = load_settings(config_file=config, env={"LOCALZURE_SERVICES__QUEUE__PORT": "1234"})
    assert settings.service("queue").port == 1234
    assert settings.service("queue").image == "my/queue:1"


def test_json_file(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"port": 9300, "services": {"blob": {"enabled": False}}}), encoding="utf-8")
    settings = load_settings(config_file=config, env={})
    assert settings.port == 9300
    assert settings.service("blob").enabled is False


def test_empty_service_entry_in_yaml_means_defaults(tmp_path):
    config = write_yaml(tmp_path / "c.yml", "services:\n  queue:\n")
    assert load_settings(config_file=config, env={}).services == {"queue": ServiceSettings()}


def test_nested_env():
    settings = load_settings(
        env={"LOCALZURE_SERVICES__QUEUE__PORT": "1234", "LOCALZURE_SERVICES__BLOB__ENABLED": "false"}
    )
    assert settings.service("queue").port == 1234
    assert settings.service("blob").enabled is False


def test_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("LOCALZURE_PORT", "9400")
    assert load_settings().port == 9400
    assert Settings().port == 9400


def test_azurite_accounts_add_to_the_well_known_account():
    settings = load_settings(env={"AZURITE_ACCOUNTS": f"alpha1:{OTHER_KEY};beta2:{WELL_KNOWN_KEY}"})
    assert settings.accounts == {
        WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY,
        "alpha1": OTHER_KEY,
        "beta2": WELL_KNOWN_KEY,
    }
    assert settings.account_keys()["alpha1"] == b"k" * 64


def test_azurite_accounts_can_override_the_well_known_key():
    settings = load_settings(env={"AZURITE_ACCOUNTS": f"{WELL_KNOWN_ACCOUNT}:{OTHER_KEY}"})
    assert settings.accounts == {WELL_KNOWN_ACCOUNT: OTHER_KEY}


def test_localzure_accounts_in_azurite_form():
    settings = load_settings(env={"LOCALZURE_ACCOUNTS": f"gamma3:{OTHER_KEY}"})
    assert settings.accounts == {WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY, "gamma3": OTHER_KEY}


def test_file_accounts_keep_the_well_known_account(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", f"accounts:\n  delta4: {OTHER_KEY}\n")
    assert load_settings(config_file=config, env={}).accounts == {
        WELL_KNOWN_ACCOUNT: WELL_KNOWN_KEY,
        "delta4": OTHER_KEY,
    }


def test_malformed_azurite_accounts():
    with pytest.raises(ConfigError, match="AZURITE_ACCOUNTS.*name1:key1"):
        load_settings(env={"AZURITE_ACCOUNTS": "no-colon-here"})


@pytest.mark.parametrize(
    ("kwargs", "field", "value", "reason"),
    [
        ({"cli": {"port": 70000}}, "port", "70000", "less than or equal to 65535"),
        ({"env": {"LOCALZURE_PORT": "70000"}}, "port", "70000", "less than or equal to 65535"),
        ({"cli": {"log_format": "xml"}}, "log_format", "'xml'", "'json' or 'text'"),
        ({"cli": {"log_level": "LOUD"}}, "log_level", "'LOUD'", "must be one of DEBUG"),
        (
            {"cli": {"services": {"queue": {"port": -1}}}},
            "services.queue.port",
            "-1",
            "greater than or equal to 0",
        ),
        (
            {"env": {"LOCALZURE_SERVICES__QUEUE__PORT": "abc"}},
            "services.queue.port",
            "'abc'",
            "valid integer",
        ),
        ({"cli": {"accounts": {"goodname": "not base64!"}}}, "accounts.goodname", "'not ", "must be base64"),
        ({"cli": {"accounts": {"Bad_Name": OTHER_KEY}}}, "accounts.Bad_Name", "'Bad_Name'", "3-24 lowercase"),
        ({"cli": {"accounts": {"ab": OTHER_KEY}}}, "accounts.ab", "'ab'", "3-24 lowercase"),
        ({"cli": {"shutdown_timeout": 0}}, "shutdown_timeout", "0", "greater than 0"),
        ({"cli": {"mode": "cloud"}}, "mode", "'cloud'", "'docker'"),
    ],
)
def test_invalid_values_name_field_value_and_reason(kwargs, field, value, reason):
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    line = next(line for line in str(info.value).splitlines() if line.strip().startswith(f"{field} ="))
    assert value in line
    assert reason in line


def test_invalid_key_is_not_echoed_in_full():
    bad_key = OTHER_KEY[:-4] + "!!!!"
    with pytest.raises(ConfigError) as info:
        load_settings(cli={"accounts": {"goodname": bad_key}}, env={})
    assert bad_key not in str(info.value)
    assert "accounts.goodname" in str(info.value)


def test_every_error_is_reported_one_per_line():
    with pytest.raises(ConfigError) as info:
        load_settings(cli={"port": 70000, "log_format": "xml"}, env={})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any(line.startswith("port = 70000: ") for line in lines)
    assert any(line.startswith("log_format = 'xml': ") for line in lines)


def test_unknown_key_in_file_is_named(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "port: 9000\nprot: 9001\n")
    with pytest.raises(ConfigError, match=r"prot = 9001: unknown setting"):
        load_settings(config_file=config, env={})


def test_broken_yaml_names_the_file_and_the_parser_message(tmp_path):
    config = write_yaml(tmp_path / "broken.yaml", "port: [1,\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config_file=config, env={})
    assert str(config) in str(info.value)
    assert "line 2" in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_broken_json_names_the_file(tmp_path):
    config = tmp_path / "c.json"
    config.write_text('{"port": 1,', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c\.json: Expecting"):
        load_settings(config_file=config, env={})


def test_non_mapping_file(tmp_path):
    config = write_yaml(tmp_path / "c.yaml", "- port\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(config_file=config, env={})


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(config_file=tmp_path / "absent.yaml", env={})
    toml = tmp_path / "c.toml"
    toml.write_text("port = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown format"):
        load_settings(config_file=toml, env={})


def test_redacted_masks_account_keys_and_secret_looking_values():
    settings = load_settings(
        cli={
            "accounts": {"alpha1": OTHER_KEY},
            "services": {"servicebus": {"sas_key_value": "plain-secret", "connection": f"AccountKey={OTHER_KEY}"}},
        },
        env={},
    )
    data = redacted(settings)
    text = json.dumps(data)  # must be JSON-able
    assert data["accounts"] == {WELL_KNOWN_ACCOUNT: "***", "alpha1": "***"}
    assert OTHER_KEY not in text
    assert WELL_KNOWN_KEY not in text
    assert "plain-secret" not in text
    assert data["services"]["servicebus"]["sas_key_value"] == "***"
    assert data["port"] == 8080
    assert data["data_dir"] == str(settings.data_dir)


def test_diff_settings_splits_live_and_restart():
    old = load_settings(env={})
    new = load_settings(cli={"log_level": "DEBUG", "port": 9000, "accounts": {"alpha1": OTHER_KEY}}, env={})
    live, restart = diff_settings(old, new)
    assert live == {"log_level", "accounts"}
    assert restart == {"port"}
    assert diff_settings(old, old) == (set(), set())
    assert frozenset({"log_level", "log_levels", "accounts", "faults", "rate_limits"}) == LIVE_FIELDS


async def wait_for(predicate, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_config_watcher_applies_live_changes_and_survives_bad_edits(tmp_path, caplog):
    config = write_yaml(tmp_path / "localzure.yaml", "log_level: INFO\nport: 8080\n")

    def reload():
        return load_settings(cli={"host": "0.0.0.0"}, config_file=config, env={})

    changes: list[tuple[Settings, set[str]]] = []
    watcher = ConfigWatcher(config, reload, lambda s, live: changes.append((s, live)), debounce_ms=50)
    caplog.set_level(logging.INFO, logger="controlplane.config")
    task = asyncio.create_task(watcher.run())
    try:
        await wait_for(lambda: watcher.current is not None)
        await asyncio.sleep(0.5)  # let the OS watch start before editing

        write_yaml(config, "log_level: DEBUG\nport: 9000\n")
        await wait_for(lambda: len(changes) == 1)
        applied, live = changes[0]
        assert live == {"log_level"}
        assert applied.log_level == "DEBUG"
        assert applied.host == "0.0.0.0"  # the CLI override is kept
        assert applied.port == 8080  # restart-only fields keep their running value
        await wait_for(lambda: any(r.levelno == logging.WARNING and "port" in r.getMessage() for r in caplog.records))

        write_yaml(config, "log_level: DEBUG\nport: 70000\n: : [\n")
        await wait_for(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
        error = next(r for r in caplog.records if r.levelno == logging.ERROR)
        assert str(config) in error.getMessage()
        assert watcher.current is not None and watcher.current.log_level == "DEBUG"
        assert not task.done()

        write_yaml(config, "log_level: WARNING\nport: 8080\n")
        await wait_for(lambda: len(changes) == 2)
        assert changes[1][1] == {"log_level"}
        assert watcher.current.log_level == "WARNING"
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 5)


def test_config_watcher_apply_reports_restart_only_change_without_on_change(tmp_path, caplog):
    config = write_yaml(tmp_path / "c.yaml", "port: 8080\n")

    def reload():
        return load_settings(config_file=config, env={})

    calls: list[set[str]] = []
    watcher = ConfigWatcher(config, reload, lambda s, live: calls.append(live), current=reload())
    write_yaml(config, "port: 9000\nmode: host\n")
    with caplog.at_level(logging.WARNING, logger="controlplane.config"):
        watcher.apply()
    assert calls == []
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert "mode, port" in warning.getMessage()


def test_config_watcher_survives_a_failing_on_change(tmp_path, caplog):
    config = write_yaml(tmp_path / "c.yaml", "log_level: INFO\n")

    def reload():
        return load_settings(config_file=config, env={})

    def explode(_settings, _live):
        raise RuntimeError("boom")

    watcher = ConfigWatcher(config, reload, explode, current=reload())
    write_yaml(config, "log_level: ERROR\n")
    with caplog.at_level(logging.ERROR, logger="controlplane.config"):
        watcher.apply()
    assert watcher.current is not None and watcher.current.log_level == "ERROR"
    assert any("boom" in (r.exc_text or str(r.exc_info)) for r in caplog.records)
