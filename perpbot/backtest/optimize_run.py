"""Provides the two searches `perpbot optimize` runs and the result it saves.

`run_optimize` searches the whole range and re-runs the best feasible trial for its trades and
equity curve (the result file is that backtest's, plus an `optimize` object: every trial, the
best parameters, the overfitting figures). `run_optimize_walk_forward` runs one study per train
window (in the same study file) and trades the window's best on its test window: the result is
a walk-forward result, so everything that reads one (the dashboard's screen 4) reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perpbot.backtest.engine import simulate
from perpbot.backtest.grid import apply_combo
from perpbot.backtest.market import History, MarketData
from perpbot.backtest.optimize import (
    SearchSpec,
    Trial,
    TrialSearch,
    best_trial,
    open_storage,
    require_optuna,
    sharpe_of,
)
from perpbot.backtest.overfitting import DEFAULT_PARTITIONS, pooled_overfitting
from perpbot.backtest.search_space import objective_value
from perpbot.backtest.results import BacktestResult
from perpbot.backtest.sensitivity import SweepRunner, load_for, read_json, write_json
from perpbot.backtest.trials import check_partitions, daily_returns, search_overfitting
from perpbot.backtest.walk_forward import WalkForwardResult, finish, make_windows, run_test_window, stitch
from perpbot.config import Settings
from perpbot.errors import ConfigError, PerpbotError

__all__ = ["OptimizeResult", "run_optimize", "run_optimize_walk_forward"]

Progress = Any


@dataclass
class OptimizeResult:
    best: BacktestResult  # the best feasible trial re-run over the range
    objective: str
    params: list[str]
    best_params: dict[str, Any]
    best_value: float | None
    trials: list[dict[str, Any]]  # Trial.row() of every finished trial, in trial order
    sampler: str
    seed: int | None
    study: str
    constraints: str
    overfitting: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"objective": self.objective, "params": self.params, "best_params": self.best_params,
                "best_value": self.best_value, "sampler": self.sampler, "seed": self.seed, "study": self.study,
                "constraints": self.constraints, "overfitting": self.overfitting, "trials": self.trials}

    def to_dict(self) -> dict[str, Any]:
        """The best trial's backtest in the backtest file format, plus an `optimize` object."""
        return {**self.best.to_dict(), "kind": "optimize", "optimize": self.summary()}

    def to_json(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "OptimizeResult":
        raw = read_json(path, "perpbot optimize --json")
        opt = raw.get("optimize")
        if not isinstance(opt, dict):
            raise PerpbotError(f"{path} is not an optimisation result", "pass a file written by `perpbot optimize`")
        return cls(best=BacktestResult.load(path), objective=opt["objective"], params=list(opt["params"]),
                   best_params=dict(opt["best_params"]), best_value=opt.get("best_value"),
                   trials=list(opt.get("trials") or []), sampler=str(opt.get("sampler", "")), seed=opt.get("seed"),
                   study=str(opt.get("study", "")), constraints=str(opt.get("constraints", "")),
                   overfitting=opt.get("overfitting"))


def run_optimize(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None,
                 end_ms: int | None, timeframe: str | None, spec: SearchSpec, workers: int = 1,
                 dask_address: str | None = None, study_path: str | Path | None = None,
                 progress: Progress | None = None, partitions: int = DEFAULT_PARTITIONS) -> OptimizeResult:
    """Search `spec.space` over the range for the best `spec.objective` under the constraints.

    Raises:
        PerpbotError: Optuna missing, a study file of another search, no feasible trial, no data.
    """
    require_optuna()
    check_partitions(partitions)
    data, snapshots = _load(settings, store, symbols, start_ms, end_ms, timeframe, spec)
    path = _study_path(settings, spec, data, study_path)
    with SweepRunner(data, snapshots, workers, dask_address) as runner:
        search = TrialSearch(spec, settings, runner, open_storage(path), "perpbot", spec.fingerprint(data, settings))
        trials = search.run(data.start_ms, data.end_ms, progress)
    best = best_trial(trials)
    chosen = apply_combo(settings, best.params)
    result = simulate(data, chosen, snapshots=snapshots)
    stats = _search_stats(trials, best, partitions)
    return OptimizeResult(result, spec.objective, [p.key for p in spec.space], best.params, best.value,
                          [t.row() for t in trials], spec.sampler, spec.seed, str(path),
                          spec.constraints.describe(), stats.to_dict())


def run_optimize_walk_forward(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None,
                              end_ms: int | None, timeframe: str | None, spec: SearchSpec, train_days: float,
                              test_days: float, anchored: bool = False, workers: int = 1,
                              dask_address: str | None = None, study_path: str | Path | None = None,
                              progress: Progress | None = None,
                              partitions: int = DEFAULT_PARTITIONS) -> WalkForwardResult:
    """On each train window optimise (`spec.trials` trials), then trade the window's best on its test window."""
    require_optuna()
    check_partitions(partitions)
    data, snapshots = _load(settings, store, symbols, start_ms, end_ms, timeframe, spec)
    windows = make_windows(data.start_ms, data.end_ms, train_days, test_days, anchored, data.interval_ms)
    kind = f"walk-forward {train_days:g}/{test_days:g}{' anchored' if anchored else ''}"
    path = _study_path(settings, spec, data, study_path, kind)
    results, tests, sharpes, pbos, splits, count, used = [], [], [], [], 0, 0, None
    total = len(windows) * spec.trials
    with SweepRunner(data, snapshots, workers, dask_address) as runner:
        storage = open_storage(path)
        for n, window in enumerate(windows):
            tr0, tr1 = window[:2]
            fingerprint = {**spec.fingerprint(data, settings), "window": [tr0, tr1], "walk_forward": kind}
            search = TrialSearch(spec, settings, runner, storage, f"window-{n}", fingerprint, seed_offset=n)
            trials = search.run(tr0, tr1, progress, n * spec.trials, total)
            best = best_trial(trials)
            result, test = run_test_window(data, snapshots, window, apply_combo(settings, best.params), best.params,
                                           best.value)
            results.append(result)
            tests.append(test)
            result.test_metrics.setdefault(spec.objective, objective_value(spec.objective, result.test_metrics))
            stats = _search_stats(trials, best, partitions)
            sharpes += sharpe_of(trials)
            count += len(trials)
            if stats.pbo is not None:
                pbos.append(stats.pbo)
                splits += stats.splits
                used = stats.partitions
    stitched = stitch(data, tests, settings.backtest.initial_equity)
    selected = daily_returns(stitched.times, stitched.values, settings.backtest.initial_equity)
    pooled = pooled_overfitting(selected, sharpes, count, pbos, used, splits)
    out = finish(data, results, stitched, spec.objective, [p.key for p in spec.space], anchored, windows,
                 pooled.to_dict())
    out.search = {"kind": "optimize", "sampler": spec.sampler, "seed": spec.seed, "trials_per_window": spec.trials,
                  "objective": spec.objective, "constraints": spec.constraints.describe(), "study": str(path)}
    return out


def _search_stats(trials: list[Trial], best: Trial, partitions: int) -> Any:
    rows = [{"trades_id": t.trades_id} if t.error is None else {"error": t.error} for t in trials]
    daily = [np.asarray(t.daily) if t.daily is not None and t.error is None else None for t in trials]
    return search_overfitting(rows, daily, np.asarray(best.daily), partitions)


def _load(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None, end_ms: int | None,
          timeframe: str | None, spec: SearchSpec) -> tuple[MarketData, list]:
    """The data with warm-up for the longest lookback any value of the space can ask for."""
    extremes: list[Settings | ConfigError] = [settings]
    for p in spec.space:
        for value in (p.choices if p.choices is not None else (p.low, p.high)):
            try:
                extremes.append(apply_combo(settings, {p.key: value}))
            except ConfigError as exc:
                extremes.append(exc)
    return load_for(settings, store, symbols, start_ms, end_ms, timeframe, extremes)


def _study_path(settings: Settings, spec: SearchSpec, data: MarketData, given: str | Path | None,
                walk_forward: str = "") -> Path:
    if given:
        return Path(given).expanduser()
    return spec.default_study(settings.db_path.parent / "optimize", data, settings, walk_forward)
