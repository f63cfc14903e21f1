"""Provides the Walk-forward screen's other searches: a sensitivity sweep and an optimisation from the form.

Pure functions over the settings and the read-only store, called from worker threads like
backtest_data.py's; a cancel raises RunCancelled from the progress callback. An optimisation
keeps its study file under the database's folder (named after the search), so a cancelled one
resumes when run again with the same form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from perpbot.config import Settings
from perpbot.errors import ConfigError
from perpbot.tui.backtest_data import BacktestRequest, Progress, WalkForwardRequest, open_store, request_settings

__all__ = ["OptimizeRequest", "parse_optimize", "run_optimize_request", "run_sensitivity_request"]


@dataclass(frozen=True, slots=True)
class OptimizeRequest:
    """What the form asks an optimisation for: ranges as `perpbot optimize --param` takes them."""

    backtest: BacktestRequest
    specs: tuple[str, ...]
    objective: str
    trials: int


def parse_optimize(backtest: BacktestRequest, ranges: str, objective: str, trials: str) -> OptimizeRequest:
    """The form's ranges (space-separated `key=LOW:HIGH`), objective and trial count, checked.

    Raises:
        ConfigError: a malformed range, an unknown objective, a trial count that is not a positive number.
    """
    from perpbot.backtest.search_space import check_objective, parse_space

    specs = tuple(ranges.split())
    if not specs:
        raise ConfigError("Grid: give at least one range to optimise", "e.g. strategy.entry_z=1.5:3.0")
    for spec in specs:
        parse_space(spec)
    try:
        count = int(trials)
    except ValueError:
        raise ConfigError(f"Trials: {trials!r} is not a whole number", "e.g. 50") from None
    if count < 1:
        raise ConfigError("Trials: run at least one", "e.g. 50")
    return OptimizeRequest(backtest, specs, check_objective(objective.strip() or "sharpe"), count)


def run_sensitivity_request(settings: Settings, db_path: Path, request: WalkForwardRequest,
                            progress: Progress) -> Any:
    """Run the form's grid as a sensitivity sweep (call from a worker). Returns a SweepResult."""
    from perpbot.backtest.sensitivity import run_sensitivity

    bt = request.backtest
    store = open_store(db_path)
    try:
        return run_sensitivity(request_settings(settings, bt), store, list(bt.symbols), bt.start_ms, bt.end_ms,
                               [(k, list(v)) for k, v in request.grid], request.metric, bt.timeframe,
                               progress=progress)
    finally:
        store.close()


def run_optimize_request(settings: Settings, db_path: Path, request: OptimizeRequest, progress: Progress) -> Any:
    """Run the form's optimisation (call from a worker). Returns an OptimizeResult."""
    from perpbot.backtest.optimize import SearchSpec
    from perpbot.backtest.optimize_run import run_optimize
    from perpbot.backtest.search_space import parse_space

    bt = request.backtest
    spec = SearchSpec(tuple(parse_space(s) for s in request.specs), request.objective, trials=request.trials)
    store = open_store(db_path)
    try:
        return run_optimize(request_settings(settings, bt), store, list(bt.symbols), bt.start_ms, bt.end_ms,
                            bt.timeframe, spec, progress=progress)
    finally:
        store.close()
