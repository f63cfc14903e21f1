"""Provides the Backtest and Walk-forward screens' work: reading the forms and loading result files.

Pure functions over the form's text and the settings; the runs themselves go through the app's
`Runner` (runs.py). A run is cancelled by raising from its progress callback, which the backtest
turns into an abort.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from perpbot.config import Settings, check_key
from perpbot.errors import ConfigError, PerpbotError

Progress = Callable[[int, int], None]

FORM_PARAMS = (
    ("strategy.entry_z", "Entry z"),
    ("strategy.exit_z", "Exit z"),
    ("strategy.window", "Window"),
    ("risk.stop_loss_pct", "Stop %"),
)
"""The strategy parameters the forms offer: (config key, label). Others come from the config."""
CURVE_POINTS = 400
"""Points a plotted curve keeps: more than a wide terminal has braille columns for."""


class RunCancelled(PerpbotError):
    """The user cancelled a running backtest or walk-forward."""


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    """What the backtest form asks for; `params` are config keys -> typed values."""

    symbols: tuple[str, ...]
    start_ms: int | None
    end_ms: int | None
    timeframe: str | None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WalkForwardRequest:
    """What the walk-forward form asks for (the grid as `parse_param` returns it)."""

    backtest: BacktestRequest
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    train_days: float
    test_days: float
    metric: str
    anchored: bool


def parse_time(text: str, name: str) -> int | None:
    """'2024-03-01' or '2024-03-01T12:00' (UTC unless it says otherwise) as epoch ms; blank is None.

    Raises:
        ConfigError: not a date.
    """
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name}: cannot read the date {text!r}", "use a date like 2024-03-01 or 2024-03-01T12:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def parse_backtest(symbols: str, start: str, end: str, timeframe: str, params: Mapping[str, str]) -> BacktestRequest:
    """The form's text fields as a request; each value is checked by its config key's own rule.

    Raises:
        ConfigError: a bad date, timeframe or parameter, or an empty or reversed range.
    """
    chosen = tuple(s.strip().upper() for s in symbols.replace(" ", ",").split(",") if s.strip())
    if not chosen:
        raise ConfigError("Symbols: name at least one coin", "e.g. BTC,ETH")
    start_ms, end_ms = parse_time(start, "From"), parse_time(end, "To")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError("To must come after From", "leave a date blank to use all stored data on that side")
    tf = check_key("strategy.timeframe", timeframe.strip(), "Timeframe") if timeframe.strip() else None
    typed = {key: check_key(key, yaml.safe_load(text), key) for key, text in params.items() if text.strip()}
    return BacktestRequest(chosen, start_ms, end_ms, tf, typed)


def parse_grid(text: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """'strategy.entry_z=1.5:2.5:0.5 strategy.window=20,30' (space-separated specs) as a grid.

    Raises:
        ConfigError: a malformed spec or an unknown key (as `perpbot walk-forward --param`).
    """
    from perpbot.backtest.grid import parse_param

    specs = text.split()
    if not specs:
        raise ConfigError("Grid: give at least one parameter", "e.g. strategy.entry_z=1.5:2.5:0.5")
    return tuple((key, tuple(values)) for key, values in (parse_param(spec) for spec in specs))


def request_settings(settings: Settings, request: BacktestRequest) -> Settings:
    """The settings with the form's parameters applied and validated together (exit z below entry z, ...)."""
    from perpbot.backtest.grid import apply_combo

    return apply_combo(settings, dict(request.params)) if request.params else settings


def load_result(path: str) -> Any:
    """A walk-forward, sensitivity or optimisation JSON file, whichever it is.

    Raises:
        PerpbotError: unreadable, or neither kind of result.
    """
    from perpbot.backtest.sensitivity import SweepResult
    from perpbot.backtest.walk_forward import WalkForwardResult

    p = Path(path.strip()).expanduser()
    try:
        kind = json.loads(p.read_text()).get("kind")
    except OSError as exc:
        raise PerpbotError(f"cannot read {p}: {exc.strerror}", "give the path of a --json result file") from exc
    except (ValueError, AttributeError) as exc:
        raise PerpbotError(f"{p} is not JSON", "give a file written by `perpbot walk-forward` or `sensitivity`") from exc
    if kind == "walk_forward":
        return WalkForwardResult.load(p)
    if kind == "sensitivity":
        return SweepResult.load(p)
    if kind == "optimize":
        from perpbot.backtest.optimize_run import OptimizeResult

        return OptimizeResult.load(p)
    raise PerpbotError(f"{p} is not a walk-forward, sensitivity or optimisation result",
                       "give a file written by `perpbot walk-forward`, `sensitivity` or `optimize` with --json")


def thin(times: np.ndarray, values: np.ndarray, points: int = CURVE_POINTS) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """At most `points` evenly spaced samples, always keeping the last."""
    n = len(times)
    if n == 0:
        return (), ()
    idx = np.unique(np.linspace(0, n - 1, min(n, points)).round().astype(np.int64))
    return tuple(int(t) for t in times[idx]), tuple(float(v) for v in values[idx])


def drawdown(values: np.ndarray) -> np.ndarray:
    """Drawdown from the running peak as a negative fraction (0 at a new high)."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return v
    peak = np.maximum.accumulate(v)
    return np.where(peak > 0, v / peak - 1.0, 0.0)
