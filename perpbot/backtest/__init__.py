"""Provides the backtest layer of perp-bot: `run_backtest` and what sweeps build on.

The names are imported lazily so `import perpbot.backtest.market` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BacktestResult", "run_backtest"]


def __getattr__(name: str) -> Any:
    if name == "run_backtest":
        from perpbot.backtest.engine import run_backtest

        return run_backtest
    if name == "BacktestResult":
        from perpbot.backtest.results import BacktestResult

        return BacktestResult
    raise AttributeError(name)
