"""Provides the Walk-forward screen's other searches from the form: a sensitivity sweep and an optimisation.

Reading the form only; the app's `Runner` (runs.py) runs them. An optimisation keeps its study file
under the database's folder (named after the search), so a cancelled one resumes when run again with
the same form.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpbot.errors import ConfigError
from perpbot.tui.backtest_data import BacktestRequest

__all__ = ["OptimizeRequest", "parse_optimize"]


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


