"""Provides parameter grids for sweeps: parse `section.key=SPEC`, expand, apply to Settings.

A spec is an inclusive range `START:STOP:STEP` (decimal arithmetic, so 1.5:3.0:0.25 gives
exactly 1.5, 1.75, ..., 3.0) or a list `A,B,C`. Values are typed and checked by the config
key's own rule when parsed; rules across keys (exit_z below entry_z) are checked per
combination by `apply_combo`, because only a whole combination can break them.
"""

from __future__ import annotations

import difflib
import itertools
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from perpbot.config import Settings, build_settings, check_key, settings_to_dict
from perpbot.errors import ConfigError

__all__ = ["MAX_COMBINATIONS", "SWEEP_SECTIONS", "apply_combo", "expand_grid", "parse_param", "sweepable_keys"]

SWEEP_SECTIONS = ("strategy", "risk", "execution", "backtest", "prediction")
# Keys a sweep cannot vary, and why (the data is loaded once for every combination).
_FIXED = {
    "strategy.timeframe": "the bars are loaded once per sweep: pass --timeframe and run one sweep per timeframe",
    "prediction.markets": "it is a list of markets, not a value",
}
MAX_COMBINATIONS = 100_000
_SOURCE = "--param"


def sweepable_keys() -> list[str]:
    """Every `section.key` a grid may vary."""
    defaults = settings_to_dict(Settings())
    return [f"{s}.{k}" for s in SWEEP_SECTIONS for k in defaults[s] if f"{s}.{k}" not in _FIXED]


def parse_param(spec: str) -> tuple[str, list[Any]]:
    """`strategy.entry_z=1.5:3.0:0.25` or `strategy.window=10,20,30` -> (key, typed values).

    Raises:
        ConfigError: a malformed spec, an unknown or unsweepable key (with a did-you-mean), a
            value of the wrong type or outside the key's rule, or an empty grid.
    """
    key, sep, text = spec.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key:
        raise ConfigError(f"--param {spec!r} must look like section.key=START:STOP:STEP or section.key=A,B,C",
                          "e.g. --param strategy.entry_z=1.5:3.0:0.25 or --param strategy.window=10,20,30")
    _check_sweepable(key)
    raw = _range(key, text) if ":" in text else _items(text)
    if not raw:
        raise ConfigError(f"--param {key}: the grid is empty ({text!r} gives no values)",
                          "give at least one value, e.g. 1.5:3.0:0.25 (START <= STOP, STEP > 0) or 10,20")
    values: list[Any] = []
    for item in raw:
        value = check_key(key, item, _SOURCE)
        if value not in values:
            values.append(value)
    return key, values


def expand_grid(params: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """The cartesian product, first parameter varying slowest: [{key: value, ...}, ...].

    Raises:
        ConfigError: a key given twice, or more than MAX_COMBINATIONS combinations.
    """
    keys = [k for k, _ in params]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ConfigError(f"--param {', '.join(twice)} given more than once", "give each parameter once")
    total = 1
    for _, values in params:
        total *= len(values)
    if total > MAX_COMBINATIONS:
        raise ConfigError(f"the grid has {total:,} combinations (more than {MAX_COMBINATIONS:,})",
                          "use coarser steps or fewer parameters")
    if not params:
        return [{}]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(values for _, values in params))]


def apply_combo(settings: Settings, combo: dict[str, Any]) -> Settings:
    """settings with the combination applied and validated as a whole (secrets are not carried).

    Raises:
        ConfigError: the combination breaks a rule across keys (e.g. exit_z >= entry_z).
    """
    raw = settings_to_dict(settings)
    for key, value in combo.items():
        section, _, name = key.partition(".")
        raw[section][name] = value
    where = ", ".join(f"{k}={v}" for k, v in combo.items()) or "base settings"
    return build_settings(raw, source=f"combination {where}")


def _check_sweepable(key: str) -> None:
    if key in _FIXED:
        raise ConfigError(f"--param {key} cannot be swept: {_FIXED[key]}")
    allowed = sweepable_keys()
    if key in allowed:
        return
    section = key.partition(".")[0]
    if section in settings_to_dict(Settings()) and section not in SWEEP_SECTIONS:
        raise ConfigError(f"--param {key}: the {section} section does not change a backtest",
                          f"sweep keys of {', '.join(SWEEP_SECTIONS)}")
    leaf = key.rpartition(".")[2]
    same_leaf = [k for k in allowed if k.rpartition(".")[2] == leaf]  # right name, wrong section
    close = same_leaf or difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    same_section = [k for k in allowed if k.startswith(section + ".")]
    hint = f"did you mean {close[0]!r}?" if close else f"sweepable keys: {', '.join(same_section or allowed)}"
    raise ConfigError(f"unknown parameter {key!r}", hint)


def _range(key: str, text: str) -> list[Any]:
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        raise ConfigError(f"--param {key}={text}: a range is START:STOP:STEP (three numbers)",
                          f"e.g. --param {key}=1.5:3.0:0.25")
    try:
        start, stop, step = (Decimal(p) for p in parts)
    except InvalidOperation:
        raise ConfigError(f"--param {key}={text}: START, STOP and STEP must be numbers",
                          f"for text values list them: --param {key}=a,b") from None
    if not (start.is_finite() and stop.is_finite()):
        raise ConfigError(f"--param {key}={text}: START and STOP must be finite numbers (not nan or inf)",
                          f"e.g. --param {key}=1.5:3.0:0.25")
    if not step.is_finite() or step <= 0:
        raise ConfigError(f"--param {key}={text}: STEP must be > 0", "ranges run upwards from START to STOP")
    if start > stop:
        return []
    count = int((stop - start) / step) + 1
    if count > MAX_COMBINATIONS:
        raise ConfigError(f"--param {key}={text} has {count:,} values", "use a coarser STEP")
    return [_number(start + i * step) for i in range(count)]


def _number(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


def _items(text: str) -> list[Any]:
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(yaml.safe_load(part))
        except yaml.YAMLError:
            out.append(part)
    return out
