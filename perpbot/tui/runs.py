"""Provides the runs the dashboard starts itself, as a port: backtests, walk-forwards, sweeps,
optimisations and the comparison with the backtest.

The screens only read forms and show results; the composition root passes the app a `Runner`
(perpbot/cli/runner.py) that opens the store read-only and runs the research code, on the
screens' worker threads. A run is cancelled by raising from its progress callback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from perpbot.config import Settings

if TYPE_CHECKING:  # numpy and the research modules load after the first paint, not with the app
    from perpbot.backtest.optimize_run import OptimizeResult
    from perpbot.backtest.results import BacktestResult
    from perpbot.backtest.sensitivity import SweepResult
    from perpbot.backtest.walk_forward import WalkForwardResult
    from perpbot.tui.backtest_data import BacktestRequest, Progress, WalkForwardRequest
    from perpbot.tui.data import DashboardData
    from perpbot.tui.reports_data import ComparisonResult
    from perpbot.tui.search_data import OptimizeRequest


class Runner(Protocol):
    """Runs on the database at `db_path` (read-only) with the session's settings."""

    def backtest(self, settings: Settings, db_path: Path, request: BacktestRequest,
                 progress: Progress) -> BacktestResult: ...

    def walk_forward(self, settings: Settings, db_path: Path, request: WalkForwardRequest,
                     progress: Progress) -> WalkForwardResult: ...

    def sensitivity(self, settings: Settings, db_path: Path, request: WalkForwardRequest,
                    progress: Progress) -> SweepResult: ...

    def optimize(self, settings: Settings, db_path: Path, request: OptimizeRequest,
                 progress: Progress) -> OptimizeResult: ...

    def compare(self, data: DashboardData, settings: Settings, mode: str) -> ComparisonResult:
        """Backtest the period the bot traded with the same settings and match the trades one to one."""
        ...
