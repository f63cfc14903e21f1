"""Provides the dashboard's runs: the `Runner` (tui/runs.py) the composition root hands the app.

Each run opens the database read-only (the engine, or the daemon, is its only writer), runs the
research code the commands run (`backtest`, `walk-forward`, `sensitivity`, `optimize`, `compare`)
and closes it again; they are called on the screens' worker threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from perpbot.clock import interval_ms
from perpbot.config import Settings
from perpbot.errors import PerpbotError

if TYPE_CHECKING:  # the store, numpy and the research code load when a run starts, after the first paint
    from perpbot.data.db import Store
    from perpbot.tui.backtest_data import BacktestRequest, Progress, WalkForwardRequest
    from perpbot.tui.data import DashboardData
    from perpbot.tui.search_data import OptimizeRequest
    from perpbot.backtest.optimize_run import OptimizeResult
    from perpbot.backtest.results import BacktestResult
    from perpbot.backtest.sensitivity import SweepResult
    from perpbot.backtest.walk_forward import WalkForwardResult
    from perpbot.tui.reports_data import ComparisonResult

TOLERANCE_BARS = 2.0
"""As `perpbot compare`'s default: entries up to two strategy bars apart still match."""


@contextmanager
def read_only_store(db_path: Path) -> Iterator[Store]:
    """The database opened read-only for one run.

    Raises:
        PerpbotError: there is no database yet.
    """
    from perpbot.data.db import Store

    if not db_path.exists():
        raise PerpbotError(f"no database at {db_path}", "run `perpbot backfill` first")
    store = Store(db_path, read_only=True)
    try:
        yield store
    finally:
        store.close()


class Runs:
    """The research runs over a database, as the dashboard's screens ask for them."""

    def backtest(self, settings: Settings, db_path: Path, request: BacktestRequest,
                 progress: Progress) -> BacktestResult:
        """Raises: PerpbotError: no data, a bad parameter, or RunCancelled from `progress`."""
        from perpbot.backtest import run_backtest

        with read_only_store(db_path) as store:
            return run_backtest(_settings(settings, request), store, list(request.symbols), request.start_ms,
                                request.end_ms, request.timeframe, progress)

    def walk_forward(self, settings: Settings, db_path: Path, request: WalkForwardRequest,
                     progress: Progress) -> WalkForwardResult:
        from perpbot.backtest.walk_forward import run_walk_forward

        bt = request.backtest
        with read_only_store(db_path) as store:
            return run_walk_forward(_settings(settings, bt), store, list(bt.symbols), bt.start_ms, bt.end_ms,
                                    [(k, list(v)) for k, v in request.grid], request.train_days, request.test_days,
                                    anchored=request.anchored, metric=request.metric, timeframe=bt.timeframe,
                                    progress=progress)

    def sensitivity(self, settings: Settings, db_path: Path, request: WalkForwardRequest,
                    progress: Progress) -> SweepResult:
        from perpbot.backtest.sensitivity import run_sensitivity

        bt = request.backtest
        with read_only_store(db_path) as store:
            return run_sensitivity(_settings(settings, bt), store, list(bt.symbols), bt.start_ms, bt.end_ms,
                                   [(k, list(v)) for k, v in request.grid], request.metric, bt.timeframe,
                                   progress=progress)

    def optimize(self, settings: Settings, db_path: Path, request: OptimizeRequest,
                 progress: Progress) -> OptimizeResult:
        from perpbot.backtest.optimize import SearchSpec
        from perpbot.backtest.optimize_run import run_optimize
        from perpbot.backtest.search_space import parse_space

        bt = request.backtest
        spec = SearchSpec(tuple(parse_space(s) for s in request.specs), request.objective, trials=request.trials)
        with read_only_store(db_path) as store:
            return run_optimize(_settings(settings, bt), store, list(bt.symbols), bt.start_ms, bt.end_ms,
                                bt.timeframe, spec, progress=progress)

    def compare(self, data: DashboardData, settings: Settings, mode: str) -> ComparisonResult:
        """Raises: PerpbotError: no trades to compare, or the backtest failed."""
        from perpbot.backtest import run_backtest
        from perpbot.reporting.compare import compare_trades, comparison_period
        from perpbot.tui.reports_data import ComparisonResult

        tolerance_ms = int(TOLERANCE_BARS * interval_ms(settings.strategy.timeframe))
        every = data.all_trades(mode)
        if not every:
            raise PerpbotError(f"no {mode} trades to compare yet", "let the bot trade first")
        start, end = comparison_period(every, None, None, tolerance_ms)
        actual = sorted(every, key=lambda t: (t.entry_time, t.id or 0))
        # One tolerance past the period, so the twins of the bot's last trades can exit as they would have.
        result = run_backtest(settings, data.store, list(settings.data.symbols), start, end + tolerance_ms)
        backtest = sorted((t for t in result.trades if t.entry_time < end), key=lambda t: t.entry_time)
        return ComparisonResult(compare_trades(actual, backtest, tolerance_ms), start, end, len(result.trades))


def _settings(settings: Settings, request: BacktestRequest) -> Settings:
    from perpbot.tui.backtest_data import request_settings

    return request_settings(settings, request)
