"""Provides walk-forward analysis: pick parameters on a train window, trade them on the next.

Windows: the test windows tile the range back to back from `start + train`; each train
window is the `train_days` before its test window (rolling) or everything from the start
(anchored). A tail shorter than one test window is left untested. Every window is a fresh
account (positions still open at a window's end close there, reason `end`); the stitched
out-of-sample curve chains the windows additively (each window's pnl added to the equity
the previous one ended with), so it equals initial equity plus the sum of the trades' pnl.

In-sample and out-of-sample figures are means over windows of the chosen metric (train
value of the picked combination, test value). Return-like metrics (total_return, net_pnl)
are compared per 30 days, since train and test windows differ in length. The ratio is
OOS / IS; for max_drawdown (lower is better) a ratio above 1 means a worse test.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perpbot.backtest.engine import simulate
from perpbot.backtest.grid import expand_grid
from perpbot.backtest.market import BacktestError, History, MarketData
from perpbot.backtest.metrics import compute_metrics
from perpbot.backtest.overfitting import DEFAULT_PARTITIONS
from perpbot.backtest.results import BacktestResult
from perpbot.backtest.sensitivity import (
    ROW_METRICS,
    SweepRunner,
    check_metric,
    combo_settings,
    jsonable,
    load_for,
    metric_key,
    read_json,
    write_json,
)
from perpbot.backtest.trials import check_partitions, daily_returns, search_overfitting, take_daily
from perpbot.clock import DAY_MS
from perpbot.config import Settings
from perpbot.errors import ConfigError, PerpbotError

__all__ = ["WalkForwardResult", "WindowResult", "make_windows", "run_walk_forward"]

Progress = Callable[[int, int], None]
RATE_METRICS = ("total_return", "net_pnl")  # compared per RATE_DAYS: windows differ in length
RATE_DAYS = 30.0


@dataclass
class WindowResult:
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    params: dict[str, Any]  # the grid values picked on the train window
    train_metric: float | None
    test_metrics: dict[str, Any]
    test_trades: int


@dataclass
class WalkForwardResult:
    windows: list[WindowResult]
    stitched: BacktestResult  # out-of-sample trades of every test window, one chained equity curve
    metric: str
    in_sample: float | None
    out_of_sample: float | None
    oos_is_ratio: float | None
    params: list[str] = field(default_factory=list)
    anchored: bool = False
    untested_ms: int = 0  # the tail after the last full test window
    overfitting: dict[str, Any] | None = None  # the search's figures (overfitting.Overfitting.to_dict())
    search: dict[str, Any] | None = None  # how each window searched: None for the grid, else optimize's settings

    def summary(self) -> dict[str, Any]:
        return {"metric": self.metric, "params": self.params, "anchored": self.anchored,
                "in_sample": self.in_sample, "out_of_sample": self.out_of_sample, "oos_is_ratio": self.oos_is_ratio,
                "untested_ms": self.untested_ms, "overfitting": self.overfitting, "search": self.search,
                "windows": [{k: jsonable(v) if not isinstance(v, dict) else {a: jsonable(b) for a, b in v.items()}
                             for k, v in asdict(w).items()} for w in self.windows]}

    def to_dict(self) -> dict[str, Any]:
        """The stitched result in the backtest file format, plus a `walk_forward` object."""
        return {**self.stitched.to_dict(), "kind": "walk_forward", "walk_forward": self.summary()}

    def to_json(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "WalkForwardResult":
        raw = read_json(path, "perpbot walk-forward --json")
        wf = raw.get("walk_forward")
        if not isinstance(wf, dict):
            raise PerpbotError(f"{path} is not a walk-forward result", "pass a file written by `perpbot walk-forward`")
        return cls(windows=[WindowResult(**w) for w in wf["windows"]], stitched=BacktestResult.load(path),
                   metric=wf["metric"], in_sample=wf["in_sample"], out_of_sample=wf["out_of_sample"],
                   oos_is_ratio=wf["oos_is_ratio"], params=list(wf.get("params", [])),
                   anchored=bool(wf.get("anchored", False)), untested_ms=int(wf.get("untested_ms", 0)),
                   overfitting=wf.get("overfitting"), search=wf.get("search"))


def make_windows(start_ms: int, end_ms: int, train_days: float, test_days: float, anchored: bool,
                 interval_ms: int) -> list[tuple[int, int, int, int]]:
    """(train_start, train_end, test_start, test_end) per window, lengths in whole bars.

    Raises:
        ConfigError: a window length that is not positive or shorter than one bar.
        BacktestError: not even one train + test window fits in the range.
    """
    train_ms = _bars_ms(train_days, "--train-days", interval_ms)
    test_ms = _bars_ms(test_days, "--test-days", interval_ms)
    windows = []
    test_start = start_ms + train_ms
    while test_start + test_ms <= end_ms:
        windows.append((start_ms if anchored else test_start - train_ms, test_start, test_start, test_start + test_ms))
        test_start += test_ms
    if not windows:
        span = (end_ms - start_ms) / DAY_MS
        raise BacktestError(
            f"a {train_days:g} d train + {test_days:g} d test window does not fit in the {span:.1f} d of data "
            f"from {_day(start_ms)} to {_day(end_ms)}",
            "shorten --train-days/--test-days or widen --from/--to (or backfill more history)")
    return windows


def run_walk_forward(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None,
                     end_ms: int | None, grid: list[tuple[str, list[Any]]], train_days: float, test_days: float,
                     anchored: bool = False, metric: str = "sharpe", timeframe: str | None = None, workers: int = 1,
                     dask_address: str | None = None, progress: Progress | None = None,
                     partitions: int = DEFAULT_PARTITIONS) -> WalkForwardResult:
    """On each train window pick the grid's best combination by `metric`, then run it on the test window.

    The overfitting figures take every combination run over the tested range as the trials and
    the stitched out-of-sample result as the selected one (docs/design.md).

    Raises:
        ConfigError: an unknown metric, bad window lengths, a grid with no valid combination.
        BacktestError: no data, an unknown symbol, windows that do not fit the range.
    """
    check_metric(metric)
    check_partitions(partitions)
    combos = expand_grid(grid)
    plan = combo_settings(settings, combos)
    data, snapshots = load_for(settings, store, symbols, start_ms, end_ms, timeframe, plan)
    windows = make_windows(data.start_ms, data.end_ms, train_days, test_days, anchored, data.interval_ms)
    runs = sum(isinstance(p, Settings) for p in plan)
    total = len(windows) * (runs + 1) + runs
    key = metric_key(metric)
    results: list[WindowResult] = []
    tests: list[BacktestResult] = []
    with SweepRunner(data, snapshots, workers, dask_address) as runner:
        for n, (tr0, tr1, te0, te1) in enumerate(windows):
            base = n * (runs + 1)
            report = (lambda d, _t, b=base: progress(b + d, total)) if progress else None
            train = runner.run(tr0, tr1, plan, report)
            ran = {i: m for i, m in enumerate(train) if m is not None}
            best = max(ran, key=lambda i: key(ran[i][metric]))
            chosen = plan[best]
            assert isinstance(chosen, Settings)
            window, test = run_test_window(data, snapshots, (tr0, tr1, te0, te1), chosen, combos[best],
                                           ran[best][metric])
            results.append(window)
            tests.append(test)
            if progress:
                progress(base + runs + 1, total)
        done = len(windows) * (runs + 1)
        report = (lambda d, _t: progress(done + d, total)) if progress else None
        trials = runner.run(windows[0][2], windows[-1][3], plan, report)
    stitched = stitch(data, tests, settings.backtest.initial_equity)
    rows = [m if m is not None else {"error": "invalid"} for m in trials]
    selected = daily_returns(stitched.times, stitched.values, settings.backtest.initial_equity)
    stats = search_overfitting(rows, take_daily(trials), selected, partitions)
    return finish(data, results, stitched, metric, [k for k, _ in grid], anchored, windows, stats.to_dict())


def run_test_window(data: MarketData, snapshots: list, window: tuple[int, int, int, int], chosen: Settings,
                picked: dict[str, Any], train_metric: Any) -> tuple[WindowResult, BacktestResult]:
    """Run the picked settings on the window's test range (a fresh account)."""
    tr0, tr1, te0, te1 = window
    test = simulate(data.slice(te0, te1), chosen, snapshots=snapshots)
    return WindowResult(tr0, tr1, te0, te1, picked, jsonable(train_metric),
                        {k: jsonable(test.metrics.get(k)) for k in ROW_METRICS}, len(test.trades)), test


def finish(data: MarketData, windows: list[WindowResult], stitched: BacktestResult, metric: str, params: list[str],
           anchored: bool, spans: list[tuple[int, int, int, int]],
           overfitting: dict[str, Any] | None) -> WalkForwardResult:
    """The result of windows already run: in/out-of-sample means and their ratio."""
    ins, oos, ratio = _in_out(windows, metric)
    return WalkForwardResult(windows, stitched, metric, ins, oos, ratio, params, anchored,
                             data.end_ms - spans[-1][3], overfitting)


def stitch(data: MarketData, tests: list[BacktestResult], initial: float) -> BacktestResult:
    """The test windows' out-of-sample trades on one chained equity curve."""
    times, values, trades = [], [], []
    equity = initial
    for r in tests:
        times.append(r.times)
        values.append(np.asarray(r.values, dtype=np.float64) + (equity - initial))
        trades.extend(r.trades)
        if len(r.values):
            equity = float(values[-1][-1])
    t = np.concatenate(times) if times else np.empty(0, dtype=np.int64)
    v = np.concatenate(values) if values else np.empty(0)
    metrics = compute_metrics(t, v, trades, data.interval_ms, initial)
    return BacktestResult(trades=trades, times=t, values=v, metrics=metrics, symbols=data.symbols,
                          timeframe=data.timeframe, start_ms=tests[0].start_ms, end_ms=tests[-1].end_ms)


def _in_out(windows: list[WindowResult], metric: str) -> tuple[float | None, float | None, float | None]:
    def norm(value: Any, start: int, end: int) -> float | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        days = (end - start) / DAY_MS
        return float(value) * RATE_DAYS / days if metric in RATE_METRICS else float(value)

    ins = _mean([norm(w.train_metric, w.train_start, w.train_end) for w in windows])
    oos = _mean([norm(w.test_metrics.get(metric), w.test_start, w.test_end) for w in windows])
    ratio = oos / ins if ins is not None and oos is not None and ins > 0 else None
    return ins, oos, ratio


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _bars_ms(days: float, flag: str, interval_ms: int) -> int:
    if not days > 0 or not math.isfinite(days):
        raise ConfigError(f"{flag} must be > 0 (got {days:g})", f"e.g. {flag} 14")
    ms = int(round(days * DAY_MS)) // interval_ms * interval_ms
    if ms < interval_ms:
        raise ConfigError(f"{flag} {days:g} is shorter than one bar", "use a longer window or a shorter --timeframe")
    return ms


def _day(ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")
