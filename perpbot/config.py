"""Provides the configuration: its loader and validation, and (from config_model.py) the typed model.

Config comes from `config.yaml` (PyYAML) plus `.env` (python-dotenv), in the working
directory or next to an explicit `--config` path. Secrets come only from the environment.
Every other module receives a `Settings` object; nothing else reads `os.environ`. The model's
dataclasses live in config_model.py and the checks of single values in config_values.py; both
are imported from here (`from perpbot.config import Settings, INTERVALS, ...`).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from perpbot.config_values import (  # noqa: F401
    INTERVALS, check_rule, normalize_symbols, one_line, resolve_symbols, rule, scalar, shown, yaml_word)
from perpbot.config_model import (  # noqa: F401 - the model is imported from here
    ALERT_EVENTS,
    AlertsConfig,
    BacktestConfig,
    DataConfig,
    ExchangeConfig,
    ExecutionConfig,
    LoggingConfig,
    MAINNET_URL,
    PredictionConfig,
    PredictionMarket,
    REGIMES,
    RiskConfig,
    Secrets,
    Settings,
    StrategyConfig,
    TESTNET_URL,
)
from perpbot.errors import ConfigError

# --- loading -----------------------------------------------------------------------------

_SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in ("secrets", "source")}


def load_settings(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Load config.yaml (+ .env) and validate it.

    Args:
        path: explicit config file; None looks for config.yaml in `cwd`, which may be absent.
        overrides: `section.key=value` strings (values parsed as YAML), applied before validation.
        env: the process environment (defaults to os.environ); .env values fill gaps in it.
        cwd: the working directory (defaults to the current one).

    Raises:
        ConfigError: naming the file, the key path, the bad value and the rule.
    """
    cwd = cwd or Path.cwd()
    if path is not None:
        cfg_path = Path(path).expanduser()
        if not cfg_path.is_file():
            what = "is a directory, not a file" if cfg_path.is_dir() else "not found"
            raise ConfigError(f"config file {cfg_path} {what}", "check the --config path")
        base_dir = cfg_path.parent
    else:
        cfg_path = cwd / "config.yaml"
        base_dir = cwd
    raw = _read_yaml(cfg_path) if cfg_path.is_file() else {}
    source = cfg_path.name if cfg_path.is_file() else "config"
    if not isinstance(raw, dict):
        build_settings(raw, source=source)  # raises: the top level must be a mapping
    for item in overrides or []:
        _apply_override(raw, item)
    settings = build_settings(raw, source=source)
    if cfg_path.is_file() and settings.data.db_path and not Path(settings.data.db_path).expanduser().is_absolute():
        # A relative db_path is relative to the config file, not to wherever the user stands.
        settings.data.db_path = str((base_dir / settings.data.db_path).resolve())
    settings.secrets = _load_secrets(base_dir / ".env", os.environ if env is None else env)
    return settings


def build_settings(raw: dict[str, Any], source: str = "config") -> Settings:
    """Validate a plain dict (as read from YAML) into Settings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (got {type(raw).__name__})",
                          "start with a section name such as `strategy:`")
    sections = {}
    for key, value in raw.items():
        if key not in _SECTIONS:
            raise ConfigError(_unknown(source, key, list(_SECTIONS)))
        sections[key] = _build(_SECTIONS[key], value, key, source)
    settings = Settings(**sections, source=source)
    _check_cross_fields(settings, source)
    return settings


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                          "save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}:{line} YAML syntax error: {one_line(exc.problem)}",
                          "fix the YAML at that line") from None
    except yaml.YAMLError as exc:  # e.g. a control character (ReaderError), which carries no mark
        raise ConfigError(f"{path.name}: YAML error: {one_line(str(exc))}", "fix the file") from None
    except (RecursionError, ValueError, OverflowError) as exc:  # nesting too deep, a 5000-digit number
        raise ConfigError(f"{path.name}: YAML that cannot be read ({type(exc).__name__})",
                          "fix the file: keep nesting shallow and numbers of normal size") from None
    return data if data is not None else {}


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"--set {item!r} must look like section.key=value", "e.g. --set strategy.entry_z=2.5")
    node = raw
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    try:
        node[leaf] = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        node[leaf] = text


def check_key(path: str, value: Any, source: str = "config") -> Any:
    """`value` for the key `section.key`, typed and checked by that key's own rule (sweeps use it).

    Cross-field rules (exit_z below entry_z, ...) are not applied: they need the whole Settings.

    Raises:
        ConfigError: an unknown key (with a did-you-mean), a wrong type or a broken rule.
    """
    sections = {name: eval(tp, globals()) if isinstance(tp, str) else tp for name, tp in _SECTIONS.items()}
    section = path.partition(".")[0]
    fields = {f"{s}.{f.name}": f for s, cls in sections.items() for f in dataclasses.fields(cls)}
    if path not in fields:
        near = [k for k in fields if k.startswith(section + ".")] or list(fields)
        raise ConfigError(_unknown(source, path, near))
    return _field_value(fields[path], value, path, source)


def _field_value(f: dataclasses.Field, value: Any, path: str, source: str) -> Any:
    """`value` typed for the field `f` and checked by its rule."""
    rule_ = f.metadata.get("rule")
    built = _build(f.type, yaml_word(rule_, value), path, source)
    check_rule(rule_, built, path, source)
    return built


def _unknown(where: str, key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"{where}: unknown key {key!r}{hint}"


@functools.lru_cache(maxsize=None)
def _annotation(tp: str) -> Any:
    """A field's type from its annotation, which is a string under `from __future__ import annotations`
    (evaluated once per spelling: a 1,000-combination sweep built its settings in ~3 s, half of it here)."""
    return eval(tp, globals())


def _build(tp: Any, value: Any, path: str, source: str) -> Any:
    """Coerce `value` to the type `tp`, recursing into dataclasses and lists."""
    if isinstance(tp, str):
        tp = _annotation(tp)
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path, source)
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _build(args[0], value, path, source)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {path} must be a list (got {shown(value)})")
        return [_build(item_tp, v, f"{path}[{i}]", source) for i, v in enumerate(value)]
    return scalar(tp, value, path, source)


def _build_dataclass(cls: Any, value: Any, path: str, source: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {path} must be a mapping (got {shown(value)})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, item in value.items():
        if key not in fields:
            raise ConfigError(_unknown(source, f"{path}.{key}", [f"{path}.{k}" for k in fields]))
        kwargs[key] = _field_value(fields[key], item, f"{path}.{key}", source)
    return cls(**kwargs)


def _check_cross_fields(s: Settings, source: str) -> None:
    if s.strategy.rsi_oversold >= s.strategy.rsi_overbought:
        raise ConfigError(
            f"{source}: strategy.rsi_oversold must be below strategy.rsi_overbought "
            f"(got {s.strategy.rsi_oversold} and {s.strategy.rsi_overbought})"
        )
    if s.strategy.exit_z >= s.strategy.entry_z:
        raise ConfigError(
            f"{source}: strategy.exit_z must be below strategy.entry_z (got {s.strategy.exit_z} and {s.strategy.entry_z})"
        )
    if s.execution.entry_order == "maker" and s.execution.entry_delay_bars:
        raise ConfigError(f"{source}: execution.entry_delay_bars must be 0 with execution.entry_order: maker "
                          f"(got {s.execution.entry_delay_bars})",
                          "a maker entry already waits for the market to come to it; set one of them back")
    if s.prediction.elevated_threshold >= s.prediction.crisis_threshold:
        raise ConfigError(f"{source}: prediction.elevated_threshold must be below prediction.crisis_threshold")
    s.data.symbols = normalize_symbols(s.data.symbols, f"{source}: data.symbols")
    if not s.data.timeframes:
        raise ConfigError(f"{source}: data.timeframes must name at least one interval", "e.g. [1m, 15m]")
    if s.data.db_path is not None and "\0" in s.data.db_path:
        raise ConfigError(f"{source}: data.db_path contains a NUL character", "write a plain file path")
    margin = 1.0 / s.risk.leverage
    if s.risk.stop_loss_pct >= margin:
        # At this distance the margin is gone (liquidation comes earlier still): the stop would never act.
        raise ConfigError(f"{source}: risk.stop_loss_pct {s.risk.stop_loss_pct:g} must be below 1 / risk.leverage "
                          f"= {margin:.4g} (the whole margin at leverage {s.risk.leverage:g})",
                          "lower risk.stop_loss_pct or risk.leverage")
    for i, market in enumerate(s.prediction.markets):
        if not market.id:
            raise ConfigError(f"{source}: prediction.markets[{i}].id must be set (a slug, id or ticker)")


def _load_secrets(dotenv_path: Path, env: typing.Mapping[str, str]) -> Secrets:
    file_values: dict[str, str] = {}
    if dotenv_path.is_file():
        from dotenv import dotenv_values  # here: most commands run without a .env (~8 ms of start-up)

        try:
            file_values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
        except UnicodeDecodeError:
            raise ConfigError(f"{dotenv_path} is not UTF-8 text", "save .env as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {dotenv_path}: {exc.strerror or exc}") from None
    merged = {**file_values, **{k: v for k, v in env.items() if v}}
    return Secrets(**{attr: merged.get(name) or None for attr, name in Secrets.ENV_NAMES.items()})


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """The non-secret settings as a plain dict (for result files and `--set` round trips)."""
    return {name: dataclasses.asdict(getattr(settings, name)) for name in _SECTIONS}
