"""Config that cannot mislead: finite numbers, coin lists, the stop against the margin, warm-up
warnings with their numbers, encodings, and random YAML thrown at the loader (one line, exit 2)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import string
import tempfile
import typing
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpbot.cli import main
from perpbot.config import Settings, build_settings, load_settings
from perpbot.config_checks import config_warnings
from perpbot.errors import ConfigError
from perpbot.execution.live.signing import check_address


def _float_keys() -> list[str]:
    keys = []
    for section in dataclasses.fields(Settings):
        if section.name in ("secrets", "source"):
            continue
        cls = typing.get_type_hints(Settings)[section.name]
        hints = typing.get_type_hints(cls)
        keys += [f"{section.name}.{f.name}" for f in dataclasses.fields(cls) if hints[f.name] is float]
    return keys


FLOAT_KEYS = _float_keys()


def _raw(key: str, value: object) -> dict:
    section, name = key.split(".")
    return {section: {name: value}}


def test_every_float_key_is_found():
    assert len(FLOAT_KEYS) > 30 and "strategy.entry_z" in FLOAT_KEYS and "execution.paper_equity" in FLOAT_KEYS


@pytest.mark.parametrize("key", FLOAT_KEYS)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_no_number_may_be_nan_or_infinite(key, value):
    with pytest.raises(ConfigError, match=rf"config.yaml: {key} must be a finite number \(got (nan|inf|-inf|1000)"):
        build_settings(_raw(key, value), source="config.yaml")


def test_yaml_spellings_of_nan_and_infinity_are_refused_with_one_line(tmp_path, capsys):
    for text in (".nan", ".inf", "-.inf", ".NaN"):
        path = tmp_path / "config.yaml"
        path.write_text(f"strategy:\n  entry_z: {text}\n")
        assert main(["--config", str(path), "config-check"]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and "strategy.entry_z must be a finite number" in err[0]


@pytest.mark.parametrize("symbols, message", [
    (["", "BTC"], r"data.symbols\[0\] is empty"),
    (["BTC", "btc"], "data.symbols lists BTC twice"),
    (["BTC", " eth ", "ETH"], "data.symbols lists ETH twice"),
    (["BTC ETH"], r"data.symbols\[0\] 'BTC ETH' is not one coin name"),
    ([], "data.symbols must name at least one coin"),
])
def test_symbols_are_non_empty_unique_and_one_coin_each(symbols, message):
    with pytest.raises(ConfigError, match=message):
        build_settings({"data": {"symbols": symbols}}, source="config.yaml")


def test_symbols_are_upper_cased_and_stripped():
    assert build_settings({"data": {"symbols": [" btc", "Eth "]}}).data.symbols == ["BTC", "ETH"]


def test_the_stop_must_sit_inside_the_margin_at_the_leverage():
    with pytest.raises(ConfigError, match=r"risk.stop_loss_pct 1 must be below 1 / risk.leverage = 0.3333"):
        build_settings({"risk": {"stop_loss_pct": 1}})
    with pytest.raises(ConfigError, match=r"risk.stop_loss_pct 0.05 must be below 1 / risk.leverage = 0.05"):
        build_settings({"risk": {"stop_loss_pct": 0.05, "leverage": 20}})
    assert build_settings({"risk": {"stop_loss_pct": 0.049, "leverage": 20}}).risk.leverage == 20


def test_a_warm_up_longer_than_the_history_warns_with_the_numbers():
    assert config_warnings(build_settings({})) == []
    (deep,) = config_warnings(build_settings({"strategy": {"window": 100_000}}))
    assert deep.startswith("the strategy needs 100000 closed 15m bars (1,041.7 days) of warm-up before its first "
                           "decision, but data.history_days 30 gives 2880 bars and the exchange serves at most 5000")
    assert "import older candles" in deep
    (short,) = config_warnings(build_settings({"strategy": {"window": 4000}}))
    assert "data.history_days 30 gives 2880 bars:" in short and short.endswith("(raise data.history_days)")
    assert config_warnings(build_settings({"strategy": {"window": 4000}, "data": {"history_days": 60}})) == []
    (limit,) = config_warnings(build_settings({"strategy": {"window": 6000}, "data": {"history_days": 90}}))
    assert "the exchange serves at most 5000 15m bars" in limit


def test_config_check_prints_strict_json_and_the_warnings(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("strategy:\n  window: 100000\n")
    assert main(["--config", str(path), "config-check"]) == 0
    captured = capsys.readouterr()

    def no_constants(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")

    out = json.loads(captured.out, parse_constant=no_constants)
    assert out["strategy"]["window"] == 100_000 and len(out["warnings"]) == 1
    assert out["paths"]["backups"].endswith("backups")
    assert captured.err.startswith("perpbot: warning: the strategy needs 100000")


def test_a_config_that_is_not_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"strategy:\n  entry_z: 2\n# \xff\xfe caf\xe9\n")
    assert main(["--config", str(path), "config-check"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["perpbot: error: config.yaml is not UTF-8 text (byte 0xff at offset 25) "
                   "(hint: save the file as UTF-8)"]
    path.write_bytes(b"\xef\xbb\xbfstrategy:\n  entry_z: 2.5\n")  # a UTF-8 BOM is fine
    assert load_settings(path, env={}).strategy.entry_z == 2.5
    (tmp_path / ".env").write_bytes(b"HL_ACCOUNT_ADDRESS=\xff\n")
    with pytest.raises(ConfigError, match=r"\.env is not UTF-8 text"):
        load_settings(path, env={})


def test_the_top_level_must_be_a_mapping_even_with_overrides(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_settings(path, overrides=["risk.leverage=2"], env={})


# --- secrets -------------------------------------------------------------------------------------


def _substrings(secret: str, size: int = 4) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def test_a_private_key_pasted_as_the_address_never_shows_in_the_error():
    key = "0x72732a5ec8" + "4f1e" * 13 + "9a"
    with pytest.raises(ConfigError) as info:
        check_address(key)
    text = str(info.value)
    assert "looks like a private key (66 characters)" in text
    assert not any(part in text for part in _substrings(key.removeprefix("0x")))


def test_a_malformed_address_shows_only_its_length():
    with pytest.raises(ConfigError, match=r"must be 0x followed by 40 hex digits \(got 12 characters\)") as info:
        check_address("0xnotanaddrs")
    assert "notan" not in str(info.value)


# --- random YAML ---------------------------------------------------------------------------------

_KEYS = st.sampled_from(["strategy", "risk", "data", "exchange", "execution", "logging", "alerts", "prediction",
                         "entry_z", "window", "symbols", "leverage", "stop_loss_pct", "db_path", "markets", "stdout",
                         "timeframe", "backups", "x", ""])
_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
            | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                       max_leaves=20)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=5).map(lambda d: yaml.safe_dump(d, allow_unicode=True))
_TEXT = st.text(alphabet=string.printable + "\x00\x01\x7f\u00e9\u2028{}[]:-&*!|>'\"%@`#,?", max_size=200)
_BYTES = st.binary(max_size=200)


def _run_config_check(content: bytes) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--config", str(path), "config-check"])
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_DOCUMENTS.map(str.encode), _TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")), _BYTES))
def test_random_yaml_is_loaded_or_refused_in_one_line(content):
    code, out, err = _run_config_check(content)  # an exception here is the failure: never a traceback
    if code == 0:
        json.loads(out)
        assert all(line.startswith("perpbot: warning:") for line in err.splitlines())
    else:
        assert code == 2
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("perpbot: error: ") and "Traceback" not in err


@pytest.mark.parametrize("override", [
    "exchange.base_url={key}", "exchange.base_url='{key}'", "data.symbols=[{key}]", "data.symbols=[{bare}]",
    "prediction.polymarket_url={key}",
])
def test_a_private_key_pasted_into_the_config_is_never_echoed(override, capsys):
    key = "0x" + "3f9a" * 16
    assert main(["config-check", "--set", override.format(key=key, bare=key[2:])]) == 2
    err = capsys.readouterr().err
    assert "looks like a private key" in err
    assert not any(part in err.lower() for part in _substrings(key[2:]))
    assert str(int(key, 16))[:8] not in err


@pytest.mark.parametrize("chat, allowed, expected", [
    ("-1001234567890", "[]", "TELEGRAM_CHAT_ID is a group, but alerts.telegram_allowed_users is empty"),
    ("abc", "[5550001]", "TELEGRAM_CHAT_ID is not a numeric chat id"),
])
def test_config_check_refuses_the_telegram_chats_trade_refuses(tmp_path, monkeypatch, capsys, chat, allowed, expected):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "7012345678:AAH-fakeTokenValue_0123456789abcdefXYZ")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", chat)
    argv = ["config-check", "--set", "alerts.telegram_commands=true", "--set", f"alerts.telegram_allowed_users={allowed}"]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and expected in err[0] and "AAH-fake" not in err[0]
    assert main([*argv, "--set", "alerts.telegram_commands=false"]) == 0  # commands off: nothing to refuse


@pytest.mark.parametrize("sets, expected", [
    (["risk.sizing=fixed", "risk.notional_usd=5"], "risk.notional_usd 5 is below the minimum order of 10 USD"),
    (["risk.position_fraction=0.001", "risk.leverage=1"], None),  # 10.00 USD: not below, no warning
    (["risk.position_fraction=0.0005", "risk.leverage=1"], "= 5.00 USD is below the minimum order of 10 USD"),
    (["risk.sizing=fixed", "risk.notional_usd=50", "risk.min_order_usd=60"], "minimum order of 60 USD"),
])
def test_config_check_warns_when_sizing_can_never_trade(tmp_path, monkeypatch, capsys, sets, expected):
    monkeypatch.chdir(tmp_path)
    assert main(["config-check", *(a for s in sets for a in ("--set", s))]) == 0
    captured = capsys.readouterr()
    warnings = json.loads(captured.out)["warnings"]
    if expected is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert warning.startswith("every entry will be skipped") and expected in warning
    assert "perpbot: warning: every entry will be skipped" in captured.err
