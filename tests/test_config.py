"""Config loading and validation: key paths, suggestions, YAML errors, secrets."""

from __future__ import annotations

import pytest

from perpbot.config import MAINNET_URL, TESTNET_URL, build_settings, load_settings
from perpbot.errors import ConfigError


def test_defaults_are_usable_without_a_file(tmp_path):
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.execution.mode == "paper"
    assert settings.exchange.url == MAINNET_URL
    assert settings.exchange.ws_url == "wss://api.hyperliquid.xyz/ws"


def test_bad_value_names_path_value_and_rule():
    with pytest.raises(ConfigError, match=r"config.yaml: risk.max_positions must be >= 1 \(got -1\)"):
        build_settings({"risk": {"max_positions": -1}}, source="config.yaml")


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="did you mean 'risk.max_positions'"):
        build_settings({"risk": {"max_postions": 2}}, source="config.yaml")
    with pytest.raises(ConfigError, match="did you mean 'strategy'"):
        build_settings({"stratgy": {}}, source="config.yaml")


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("risk:\n  max_positions: 3\n  leverage: [1, 2\n")
    with pytest.raises(ConfigError, match="line"):
        load_settings(path, env={})


def test_base_url_overrides_network_and_derives_ws():
    s = build_settings({"exchange": {"network": "testnet", "base_url": "http://127.0.0.1:8765/"}})
    assert s.exchange.url == "http://127.0.0.1:8765"
    assert s.exchange.ws_url == "ws://127.0.0.1:8765/ws"
    assert build_settings({"exchange": {"network": "testnet"}}).exchange.url == TESTNET_URL


def test_secrets_come_from_env_and_dotenv_never_repr(tmp_path):
    (tmp_path / "config.yaml").write_text("data:\n  db_path: bot.db\n")
    (tmp_path / ".env").write_text("HL_PRIVATE_KEY=0x" + "ab" * 32 + "\nTELEGRAM_CHAT_ID=42\n")
    settings = load_settings(tmp_path / "config.yaml", env={"TELEGRAM_CHAT_ID": "7"})
    assert settings.secrets.hl_private_key == "0x" + "ab" * 32
    assert settings.secrets.telegram_chat_id == "7"  # the environment wins over .env
    assert "abab" not in repr(settings.secrets) and "abab" not in repr(settings)
    assert settings.db_path == tmp_path / "bot.db"
    assert settings.socket_path == tmp_path / "perp-bot.sock"
    assert settings.log_path == tmp_path / "perp-bot.log"


def test_overrides_are_validated(tmp_path):
    s = load_settings(cwd=tmp_path, env={}, overrides=["strategy.entry_z=2.5", "data.symbols=btc,eth"])
    assert s.strategy.entry_z == 2.5
    assert s.data.symbols == ["BTC", "ETH"]
    with pytest.raises(ConfigError, match="strategy.entry_z must be a number"):
        load_settings(cwd=tmp_path, env={}, overrides=["strategy.entry_z=abc"])


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="exit_z must be below"):
        build_settings({"strategy": {"entry_z": 1.0, "exit_z": 1.5}})


def test_example_config_is_valid():
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).parents[1] / "config.example.yaml").read_text())
    build_settings(raw, source="config.example.yaml")


def test_unquoted_off_is_the_word_off_where_the_key_offers_it(tmp_path):
    """YAML 1.1 reads `off` as False; the docs write `logging.stdout: off` unquoted."""
    path = tmp_path / "config.yaml"
    path.write_text("logging:\n  stdout: off\n")
    assert load_settings(path, env={}).logging.stdout == "off"
    assert load_settings(cwd=tmp_path, env={}, overrides=["logging.stdout=off"]).logging.stdout == "off"
    with pytest.raises(ConfigError, match=r"logging.stdout must be one of auto, json, text, off \(got 'on'\)"):
        build_settings({"logging": {"stdout": True}}, source="config.yaml")  # `on` is not one of its words
    with pytest.raises(ConfigError, match="logging.file must be true or false"):
        build_settings({"logging": {"file": "off"}}, source="config.yaml")  # a real boolean stays one


@pytest.mark.parametrize(("key", "value", "message"), [
    ("entry_order", "limit", r"execution.entry_order must be one of taker, maker \(got 'limit'\)"),
    ("exit_order", "post", r"execution.exit_order must be one of taker, maker"),
    ("maker_timeout_bars", 0, r"execution.maker_timeout_bars must be >= 1 \(got 0\)"),
    ("maker_fallback", "market", r"execution.maker_fallback must be one of cancel, taker"),
    ("maker_fill_ticks", -1, r"execution.maker_fill_ticks must be >= 0 \(got -1\)"),
])
def test_maker_keys_are_validated_in_one_line(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_settings({"execution": {key: value}}, source="config.yaml")
    assert "\n" not in str(err.value)


def test_maker_entries_take_no_entry_delay():
    with pytest.raises(ConfigError, match="entry_delay_bars must be 0 with execution.entry_order: maker"):
        build_settings({"execution": {"entry_order": "maker", "entry_delay_bars": 1}}, source="config.yaml")


def test_maker_keys_default_to_todays_taker_behaviour():
    ex = build_settings({}).execution
    assert (ex.entry_order, ex.exit_order, ex.maker_timeout_bars, ex.maker_fallback, ex.maker_fill_ticks) == (
        "taker", "taker", 3, "cancel", 1)
