"""Provides the search space of `perpbot optimize`: parse `section.key=SPEC` ranges, objectives, constraints.

A spec is `LOW:HIGH` (a continuous range; whole numbers for integer keys), `LOW:HIGH:STEP`
(a stepped range) or `A,B,C` (a choice). Each end is checked by the config key's own rule, so
a range can only propose values the config accepts; rules across keys (exit_z below entry_z)
are checked per trial, and a trial that breaks one counts as failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from perpbot.backtest.grid import parse_param
from perpbot.config import check_key
from perpbot.errors import ConfigError

__all__ = ["OBJECTIVES", "Constraints", "SearchParam", "objective_value", "parse_space"]

OBJECTIVES = ("sharpe", "sortino", "calmar", "profit_factor", "expectancy", "net_pnl")
"""What `optimize` maximises: metrics of the run (calmar = CAGR / max drawdown)."""


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One dimension: a numeric range (step None: continuous) or a list of choices."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial: Any) -> Any:
        """The trial's value (Optuna's suggest_* by kind)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step)

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.key}={','.join(str(c) for c in self.choices)}"
        step = f":{self.step:g}" if self.step is not None else ""
        return f"{self.key}={self.low:g}:{self.high:g}{step}"


@dataclass(frozen=True, slots=True)
class Constraints:
    """Limits a trial must meet to count as a candidate (infeasible trials are kept, never picked)."""

    min_trades: int = 0
    max_drawdown: float | None = None  # a fraction, e.g. 0.2

    def violation(self, metrics: dict[str, Any]) -> float:
        """0.0 when met, else how far off (positive): Optuna's constraint convention."""
        off = max(0.0, float(self.min_trades - int(metrics.get("trades") or 0)))
        dd = metrics.get("max_drawdown")
        if self.max_drawdown is not None and dd is not None:
            off += max(0.0, float(dd) - self.max_drawdown)
        return off

    def describe(self) -> str:
        parts = [f"at least {self.min_trades} trades"] if self.min_trades else []
        if self.max_drawdown is not None:
            parts.append(f"max drawdown <= {self.max_drawdown:.0%}")
        return ", ".join(parts) or "none"


def parse_space(spec: str) -> SearchParam:
    """`strategy.entry_z=1.5:3.0`, `strategy.window=10:60:5` or `risk.sizing=fixed,fraction`.

    Raises:
        ConfigError: a malformed spec, an unknown key, an end outside the key's rule, LOW >= HIGH.
    """
    key, sep, text = spec.partition("=")
    key, text = key.strip(), text.strip()
    parts = [p.strip() for p in text.split(":")]
    if not sep or ":" not in text:
        choices = parse_param(spec)[1]  # the grid's parser checks the key and each value
        return SearchParam(key, choices=tuple(choices))
    if len(parts) not in (2, 3):
        raise ConfigError(f"--param {spec!r}: a range is LOW:HIGH or LOW:HIGH:STEP",
                          f"e.g. --param {key}=1.5:3.0 (continuous) or {key}=10:60:5")
    parse_param(f"{key}={parts[0]}")  # the key must be sweepable (with a did-you-mean)
    low, high = (check_key(key, _number(p, spec), "--param") for p in parts[:2])
    if isinstance(low, bool) or not isinstance(low, (int, float)):
        raise ConfigError(f"--param {key} is not numeric", f"list its choices: --param {key}=A,B")
    if not low < high:
        raise ConfigError(f"--param {spec!r}: LOW must be below HIGH", f"e.g. --param {key}=1.5:3.0")
    integer = isinstance(low, int) and isinstance(high, int)
    step = _number(parts[2], spec) if len(parts) == 3 else None
    if step is not None and not step > 0:
        raise ConfigError(f"--param {spec!r}: STEP must be > 0")
    if integer and step is not None and step != int(step):
        raise ConfigError(f"--param {spec!r}: {key} takes whole numbers, so STEP must be one")
    return SearchParam(key, low, high, step, integer)


def objective_value(name: str, metrics: dict[str, Any]) -> float | None:
    """The objective of one run's metrics (None when undefined, e.g. a Sharpe without trades)."""
    if name == "calmar":
        cagr, dd = metrics.get("cagr"), metrics.get("max_drawdown")
        value = cagr / dd if cagr is not None and dd else None
    else:
        value = metrics.get(name)
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        import difflib

        close = difflib.get_close_matches(name, OBJECTIVES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(OBJECTIVES)}"
        raise ConfigError(f"unknown objective {name!r}", hint)
    return name


def _number(text: str, spec: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"--param {spec!r}: {text!r} is not a number",
                          "ranges are numbers: LOW:HIGH[:STEP]") from None
    if not math.isfinite(value):
        raise ConfigError(f"--param {spec!r}: {text!r} is not a finite number", "ranges are finite: LOW:HIGH[:STEP]")
    return int(value) if value == int(value) and "." not in text and "e" not in text.lower() else value
