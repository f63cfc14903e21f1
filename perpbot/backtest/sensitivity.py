"""Provides parameter sweeps: every combination of a grid backtested on data loaded once.

Combinations that agree on the indicator parameters (`signals.engine.indicator_key`) share one
indicator pass. Work runs in this process (`workers=1`), on a local process pool whose
workers receive the market data once (the pool initializer), or on an existing Dask
cluster (`dask_address`, the optional `dask` extra) where the data is scattered once. All
three run the same `run_task`, so their results are identical.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perpbot.backtest import engine
from perpbot.backtest.engine import indicators_for, preload_compiled, simulate
from perpbot.backtest.grid import apply_combo, expand_grid
from perpbot.backtest.market import BacktestError, History, MarketData, load_market
from perpbot.backtest.overfitting import DEFAULT_PARTITIONS
from perpbot.backtest.trials import (
    check_partitions,
    identical_groups,
    search_overfitting,
    take_daily,
    trial_extras,
)
from perpbot.config import Settings
from perpbot.errors import ConfigError, PerpbotError
from perpbot.signals.engine import IndicatorParams, indicator_key, required_lookback

__all__ = ["METRICS", "SweepResult", "SweepRunner", "metric_key", "run_sensitivity"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
# Metrics a sweep can rank by, and whether higher is better.
METRICS = {
    "sharpe": True, "sortino": True, "total_return": True, "cagr": True, "net_pnl": True, "profit_factor": True,
    "win_rate": True, "expectancy": True, "final_equity": True, "max_drawdown": False,
}
# What a row keeps of a run's metrics (scalars only: the breakdowns stay with full backtests).
ROW_METRICS = ("sharpe", "sortino", "total_return", "cagr", "max_drawdown", "max_drawdown_duration_ms", "win_rate",
               "profit_factor", "expectancy", "net_pnl", "trades", "fees", "funding", "exposure", "final_equity")
TASKS_PER_WORKER = 1  # runs of one grid cost about the same: fewer tasks share more indicator passes
PRELOAD_FROM_RUNS = 4  # tasks of this many runs load the compiled code (loops.use_compiled)
FORMAT_VERSION = 1


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        import difflib

        close = difflib.get_close_matches(metric, list(METRICS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(METRICS)}"
        raise ConfigError(f"unknown metric {metric!r}", hint)
    return metric


def metric_key(metric: str) -> Callable[[Any], float]:
    """Sort key, larger is better; a missing value (None, NaN) ranks last."""
    sign = 1.0 if METRICS[metric] else -1.0

    def key(value: Any) -> float:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return -math.inf
        return sign * float(value)

    return key


@dataclass
class SweepResult:
    """One row per combination (grid order): its parameter values, then its metrics or `error`."""

    params: list[str]
    metric: str
    rows: list[dict[str, Any]]
    symbols: list[str] = field(default_factory=list)
    timeframe: str = ""
    start_ms: int = 0
    end_ms: int = 0
    identical: list[dict[str, Any]] = field(default_factory=list)  # trials.identical_groups
    overfitting: dict[str, Any] | None = None  # overfitting.Overfitting.to_dict()

    def values(self, param: str) -> list[Any]:
        out: list[Any] = []
        for row in self.rows:
            if row[param] not in out:
                out.append(row[param])
        return out

    def heatmap(self, metric: str | None = None) -> tuple[list[Any], list[Any], list[list[float]]]:
        """(xs, ys, matrix) with matrix[y][x] the metric (NaN when missing); one param: ys = [None]."""
        metric = metric or self.metric
        if not 1 <= len(self.params) <= 2:
            raise BacktestError(f"a heatmap needs one or two parameters (this sweep has {len(self.params)})")
        xs = self.values(self.params[0])
        ys = self.values(self.params[1]) if len(self.params) == 2 else [None]
        matrix = [[math.nan] * len(xs) for _ in ys]
        for row in self.rows:
            y = ys.index(row[self.params[1]]) if len(self.params) == 2 else 0
            value = row.get(metric)
            matrix[y][xs.index(row[self.params[0]])] = math.nan if value is None else float(value)
        return xs, ys, matrix

    def best(self) -> dict[str, Any]:
        """The row with the best metric (the first in grid order on a tie)."""
        valid = [r for r in self.rows if "error" not in r]
        if not valid:
            raise BacktestError("no combination of the grid could run", self.rows[0]["error"] if self.rows else "")
        key = metric_key(self.metric)
        return max(valid, key=lambda r: key(r.get(self.metric)))

    def ranked(self) -> list[dict[str, Any]]:
        key = metric_key(self.metric)
        return sorted((r for r in self.rows if "error" not in r), key=lambda r: key(r.get(self.metric)), reverse=True)

    def to_dict(self) -> dict[str, Any]:
        return {"version": FORMAT_VERSION, "kind": "sensitivity", "params": self.params, "metric": self.metric,
                "symbols": self.symbols, "timeframe": self.timeframe, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "rows": [{k: jsonable(v) for k, v in r.items()} for r in self.rows],
                "identical": self.identical, "overfitting": self.overfitting}

    def to_json(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "SweepResult":
        return cls(params=list(raw["params"]), metric=str(raw["metric"]), rows=list(raw["rows"]),
                   symbols=list(raw.get("symbols", [])), timeframe=str(raw.get("timeframe", "")),
                   start_ms=int(raw.get("start_ms", 0)), end_ms=int(raw.get("end_ms", 0)),
                   identical=list(raw.get("identical") or []), overfitting=raw.get("overfitting"))

    @classmethod
    def load(cls, path: str | Path) -> "SweepResult":
        return cls.from_dict(read_json(path, "perpbot sensitivity --json"))


def run_sensitivity(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None,
                    end_ms: int | None, grid: list[tuple[str, list[Any]]], metric: str = "sharpe",
                    timeframe: str | None = None, workers: int = 1, dask_address: str | None = None,
                    progress: Progress | None = None, partitions: int = DEFAULT_PARTITIONS) -> SweepResult:
    """Backtest every combination of `grid` over one data range; note identical trades and overfitting.

    Args:
        settings: the base; each combination overrides its keys.
        grid: from `parse_param`, one entry per parameter.
        metric: what `SweepResult.best` ranks by (see METRICS).
        workers: local processes (1 = this process).
        dask_address: a Dask scheduler (e.g. tcp://host:8786) to run on instead of local processes.
        progress: called as progress(done combinations, total).
        partitions: S of the PBO's combinatorially symmetric cross-validation.

    Raises:
        ConfigError: an unknown metric, or a grid whose every combination breaks a config rule.
        BacktestError: no data, an unknown symbol.
    """
    check_metric(metric)
    check_partitions(partitions)
    combos = expand_grid(grid)
    plan = combo_settings(settings, combos)
    data, snapshots = load_for(settings, store, symbols, start_ms, end_ms, timeframe, plan)
    with SweepRunner(data, snapshots, workers, dask_address) as runner:
        metrics = runner.run(data.start_ms, data.end_ms, plan, progress)
    daily = take_daily(metrics)
    rows = [{**combo, **(m if m is not None else {"error": str(p)})} for combo, m, p in zip(combos, metrics, plan)]
    result = SweepResult([k for k, _ in grid], metric, rows, data.symbols, data.timeframe, data.start_ms, data.end_ms)
    result.identical = identical_groups(rows, result.params)
    best = rows.index(result.best())
    result.overfitting = search_overfitting(rows, daily, daily[best], partitions).to_dict()
    return result


def combo_settings(settings: Settings, combos: list[dict[str, Any]]) -> list[Settings | ConfigError]:
    """Each combination's settings, or the rule it breaks; at least one must be valid."""
    plan: list[Settings | ConfigError] = []
    for combo in combos:
        try:
            plan.append(apply_combo(settings, combo))
        except ConfigError as exc:
            plan.append(exc)
    if not any(isinstance(p, Settings) for p in plan):
        first = plan[0]
        assert isinstance(first, ConfigError)
        raise ConfigError(f"no combination of the grid is a valid config: {first.message}",
                          "change the ranges so the keys agree (e.g. exit_z below entry_z)")
    return plan


def load_for(settings: Settings, store: History, symbols: list[str] | None, start_ms: int | None, end_ms: int | None,
             timeframe: str | None, plan: list[Settings | ConfigError]) -> tuple[MarketData, list]:
    """The market data with warm-up for the longest lookback of the plan, and the prediction snapshots."""
    valid = [p for p in plan if isinstance(p, Settings)]
    warm = max(required_lookback(p.strategy) for p in valid)
    data = load_market(settings, store, list(symbols or settings.data.symbols), start_ms, end_ms, timeframe, warm)
    snapshots = []
    if any(p.prediction.enabled for p in valid):
        snapshots = store.snapshots_between(data.start_ms - 86_400_000, data.end_ms)
    return data, snapshots


# --- the work --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """Runs of one range that share indicator parameters: [(combination index, settings), ...]."""

    start_ms: int
    end_ms: int
    runs: list[tuple[int, Settings]]


@dataclass(frozen=True)
class _Payload:
    data: MarketData
    snapshots: list


def run_task(data: MarketData, snapshots: list, task: Task,
             done: Callable[[], None] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Backtest a task's runs on data sliced to its range, with one indicator pass."""
    part = data if (task.start_ms, task.end_ms) == (data.start_ms, data.end_ms) else data.slice(
        task.start_ms, task.end_ms)
    if len(task.runs) >= PRELOAD_FROM_RUNS:
        preload_compiled()  # loading it (~0.5 s, once per process) pays over several runs, indicators included
    indicators = indicators_for(part, task.runs[0][1].strategy)
    out = []
    shared: dict = {}  # what the runs of this task compute alike (engine.simulate's `shared`)
    for index, settings in task.runs:
        result = simulate(part, settings, indicators, snapshots=snapshots, shared=shared)
        row = {k: jsonable(result.metrics.get(k)) for k in ROW_METRICS}
        out.append((index, {**row, **trial_extras(result, part, indicators, settings.strategy, shared)}))
        if done:
            done()
    return out


def make_tasks(start_ms: int, end_ms: int, plan: list[Settings | ConfigError], workers: int) -> list[Task]:
    """Group by indicator parameters; split groups so every worker gets a share."""
    groups: dict[IndicatorParams, list[tuple[int, Settings]]] = {}
    for i, s in enumerate(plan):
        if isinstance(s, Settings):
            groups.setdefault(indicator_key(s.strategy), []).append((i, s))
    total = sum(len(g) for g in groups.values())
    size = total if workers <= 1 else max(1, math.ceil(total / (workers * TASKS_PER_WORKER)))
    return [Task(start_ms, end_ms, g[i:i + size]) for g in groups.values() for i in range(0, len(g), size)]


# Set once per pool process by its initializer: each worker unpickles the data once, not per task.
_WORKER: dict[str, _Payload] = {}


def _init_worker(payload: _Payload) -> None:
    _WORKER["payload"] = payload
    engine.INDICATOR_THREADS = 1  # its sibling workers hold the other cores


def _run_pooled(task: Task) -> list[tuple[int, dict[str, Any]]]:
    payload = _WORKER["payload"]
    return run_task(payload.data, payload.snapshots, task)


def _run_remote(payload: _Payload, task: Task) -> list[tuple[int, dict[str, Any]]]:
    return run_task(payload.data, payload.snapshots, task)


class SweepRunner:
    """Runs plans on one MarketData: here, on a process pool, or on a Dask cluster (a context manager)."""

    def __init__(self, data: MarketData, snapshots: list, workers: int = 1, dask_address: str | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {workers})")
        self.payload = _Payload(data, snapshots)
        self.workers = workers
        self.dask_address = dask_address
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None
        self._scattered: Any = None

    def __enter__(self) -> "SweepRunner":
        if self.dask_address:
            self._client, self._scattered = _connect_dask(self.dask_address, self.payload)
            self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        elif self.workers > 1:
            # spawn, not fork: the caller may hold threads (rich's refresh thread) and locks.
            self._pool = ProcessPoolExecutor(self.workers, multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.payload,))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def run(self, start_ms: int, end_ms: int, plan: list[Settings | ConfigError],
            progress: Progress | None = None) -> list[dict[str, Any] | None]:
        """Metrics per plan entry (None where the entry is a ConfigError), in plan order."""
        tasks = make_tasks(start_ms, end_ms, plan, self.workers)
        total = sum(len(t.runs) for t in tasks)
        out: list[dict[str, Any] | None] = [None] * len(plan)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total)

        tick(0)
        for finished in self._results(tasks, tick):
            for index, metrics in finished:
                out[index] = metrics
        return out

    def _results(self, tasks: list[Task], tick: Callable[[int], None]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """Each task's rows as it finishes (any order); tick(n) after n more runs are done."""
        if self._client is not None:
            from distributed import as_completed as dask_completed

            futures = [self._client.submit(_run_remote, self._scattered, t, pure=False) for t in tasks]
            for fut in dask_completed(futures):
                rows = fut.result()
                tick(len(rows))
                yield rows
        elif self._pool is not None:
            pending: list[Future] = [self._pool.submit(_run_pooled, t) for t in tasks]
            for fut in as_completed(pending):
                rows = fut.result()
                tick(len(rows))
                yield rows
        else:
            for t in tasks:
                yield run_task(self.payload.data, self.payload.snapshots, t, lambda: tick(1))


def _connect_dask(address: str, payload: _Payload | None, timeout: str = "10s") -> tuple[Any, Any]:
    try:
        from distributed import Client
    except ImportError:
        raise PerpbotError("--dask needs the optional Dask dependency", "pip install 'perp-bot[dask]'") from None
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise PerpbotError(f"cannot reach the Dask scheduler at {address}: {exc}",
                           "start one with `dask scheduler` (its workers need perp-bot installed) "
                           "or check the address") from exc
    if payload is None:
        return client, None
    try:
        return client, client.scatter(payload, broadcast=True)
    except (OSError, TimeoutError, ValueError) as exc:  # distributed's "No valid workers found" is a TimeoutError
        client.close()
        raise PerpbotError(f"the Dask scheduler at {address} took no data: {exc}",
                           f"start workers with `dask worker {address}` (they need perp-bot installed)") from exc


# --- JSON ------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """numpy scalars to Python; non-finite floats to None (JSON has no NaN)."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically (a temp file renamed into place)."""
    target = Path(path).expanduser()
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")
        tmp.replace(target)
    except OSError as exc:
        raise PerpbotError(f"cannot write {target}: {exc.strerror}", "pick a writable path for --json") from exc
    return target


def read_json(path: str | Path, writer: str) -> dict[str, Any]:
    p = Path(path).expanduser()
    try:
        raw = json.loads(p.read_text())
    except OSError as exc:
        raise PerpbotError(f"cannot read {p}: {exc.strerror}") from exc
    except ValueError as exc:
        raise PerpbotError(f"{p} is not JSON ({exc})", f"pass a file written by `{writer}`") from exc
    if not isinstance(raw, dict):
        raise PerpbotError(f"{p} is not a perp-bot result", f"pass a file written by `{writer}`")
    return raw
