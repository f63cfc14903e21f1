"""Provides `perpbot optimize`: random search or Bayesian optimisation (Optuna's TPE) of parameter ranges.

Trials are asked from an Optuna study in batches of one per worker and run by the sweeps'
`SweepRunner` (here, on a process pool or on a Dask cluster: the same `run_task`), then told
back in ask order, so a run is reproducible from its seed for a given number of workers (with
one worker, batch after batch is exactly Optuna's sequential loop). The study lives in a
journal file (Optuna's JournalFileBackend): every told trial is on disk, so an interrupted
run resumes where it stopped when started again with the same arguments. Each trial keeps
its metrics, its trades' fingerprint and its daily returns, from which the overfitting
figures are computed over every trial the study ran. Optuna is the optional `optimize` extra.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from perpbot.backtest.grid import apply_combo
from perpbot.backtest.market import BacktestError, MarketData
from perpbot.backtest.search_space import Constraints, SearchParam, objective_value
from perpbot.backtest.sensitivity import SweepRunner, jsonable
from perpbot.backtest.trials import DAILY
from perpbot.config import Settings
from perpbot.errors import ConfigError, PerpbotError

__all__ = ["SAMPLERS", "SearchSpec", "Trial", "TrialSearch", "require_optuna"]

Progress = Callable[[int, int], None]
SAMPLERS = ("tpe", "random")
INSTALL_HINT = "pip install 'perp-bot[optimize]' (Optuna)"
KEPT_METRICS = ("sharpe", "sortino", "total_return", "cagr", "max_drawdown", "profit_factor", "expectancy", "net_pnl",
                "trades", "win_rate")


def require_optuna() -> Any:
    """optuna (quiet: its per-trial log lines would fight the progress bar), or a clear error."""
    try:
        import optuna
    except ImportError:
        raise PerpbotError("perpbot optimize needs the optional Optuna dependency", INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass(frozen=True)
class SearchSpec:
    """What one search looks for; its fingerprint ties a study file to it."""

    space: tuple[SearchParam, ...]
    objective: str = "sharpe"
    constraints: Constraints = field(default_factory=Constraints)
    trials: int = 100
    sampler: str = "tpe"
    seed: int | None = None

    def fingerprint(self, data: MarketData) -> dict[str, Any]:
        return {"space": [p.describe() for p in self.space], "objective": self.objective,
                "constraints": self.constraints.describe(), "sampler": self.sampler, "seed": self.seed,
                "symbols": data.symbols, "timeframe": data.timeframe, "start_ms": data.start_ms, "end_ms": data.end_ms}

    def default_study(self, folder: Path, data: MarketData, walk_forward: str = "") -> Path:
        """A file named after the search, so running the same command again resumes it."""
        key = json.dumps([self.fingerprint(data), walk_forward], sort_keys=True).encode()
        return folder / f"optimize-{self.objective}-{hashlib.blake2b(key, digest_size=5).hexdigest()}.journal"


@dataclass
class Trial:
    """One finished trial as the results keep it."""

    number: int
    params: dict[str, Any]
    value: float | None
    feasible: bool
    metrics: dict[str, Any]
    trades_id: str | None
    daily: list[float] | None
    error: str | None = None

    def row(self) -> dict[str, Any]:
        """The JSON row: number, params, objective value, feasibility, the kept metrics (or error)."""
        out = {"number": self.number, **self.params, "value": self.value, "feasible": self.feasible}
        return {**out, "error": self.error} if self.error else {**out, **self.metrics}


class TrialSearch:
    """One Optuna study over one data range, run batch by batch on a SweepRunner."""

    def __init__(self, spec: SearchSpec, settings: Settings, runner: SweepRunner, storage: Any, name: str,
                 fingerprint: dict[str, Any], seed_offset: int = 0) -> None:
        self.optuna = require_optuna()
        self.spec, self.settings, self.runner = spec, settings, runner
        seed = None if spec.seed is None else spec.seed + seed_offset
        if spec.sampler == "random":
            sampler = self.optuna.samplers.RandomSampler(seed=seed)
        else:
            # Optuna 5 reads constraints set on the trial; Optuna 4 needs the function.
            self._per_trial = hasattr(self.optuna.trial.Trial, "set_constraint")
            extra = {} if self._per_trial else {"constraints_func": _constraint}
            sampler = self.optuna.samplers.TPESampler(seed=seed, **extra)
        self.study = self.optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                              sampler=sampler, load_if_exists=True)
        _claim(self.study, fingerprint)
        self._fail_stale()

    def finished(self) -> list[Trial]:
        states = self.optuna.trial.TrialState
        return [_from_frozen(t) for t in self.study.get_trials(deepcopy=False, states=(states.COMPLETE, states.FAIL))]

    def run(self, start_ms: int, end_ms: int, progress: Progress | None = None, offset: int = 0,
            total: int | None = None) -> list[Trial]:
        """Ask, run and tell until the study holds `spec.trials` finished trials; all of them."""
        done = len(self.finished())
        total = total if total is not None else self.spec.trials
        if progress:
            progress(offset + done, total)
        while done < self.spec.trials:
            batch = [self.study.ask() for _ in range(min(self.runner.workers, self.spec.trials - done))]
            combos = [{p.key: p.suggest(t) for p in self.spec.space} for t in batch]
            plan: list[Settings | ConfigError] = []
            for combo in combos:
                try:
                    plan.append(apply_combo(self.settings, combo))
                except ConfigError as exc:
                    plan.append(exc)
            if any(isinstance(p, Settings) for p in plan):
                metrics = self.runner.run(start_ms, end_ms, plan)
            else:
                metrics = [None] * len(plan)
            for trial, m, p in zip(batch, metrics, plan):
                self._tell(trial, m, p)
            done += len(batch)
            if progress:
                progress(offset + done, total)
        return self.finished()

    def _tell(self, trial: Any, metrics: dict[str, Any] | None, plan: Settings | ConfigError) -> None:
        if metrics is None:
            trial.set_user_attr("error", str(plan))
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            return
        value = objective_value(self.spec.objective, metrics)
        violation = self.spec.constraints.violation(metrics)
        trial.set_user_attr("metrics", {k: jsonable(metrics.get(k)) for k in KEPT_METRICS})
        trial.set_user_attr("trades_id", metrics.get("trades_id"))
        trial.set_user_attr("daily", [float(x) for x in metrics.get(DAILY, [])])
        off = violation if value is not None else 1.0 + violation
        trial.set_user_attr("constraint", [off])
        if self.spec.sampler == "tpe" and self._per_trial:
            trial.set_constraint("perpbot", off)
        self.study.tell(trial, value if value is not None else -math.inf)

    def _fail_stale(self) -> None:
        """Trials left running by an interrupted process never finish: mark them failed, ask anew."""
        states = self.optuna.trial.TrialState
        for t in self.study.get_trials(deepcopy=False, states=(states.RUNNING, states.WAITING)):
            self.study._storage.set_trial_state_values(t._trial_id, states.FAIL)


def best_trial(trials: list[Trial]) -> Trial:
    """The feasible trial with the highest objective (the earliest on a tie).

    Raises:
        BacktestError: no trial met the constraints or had a defined objective.
    """
    ok = [t for t in trials if t.feasible and t.value is not None]
    if not ok:
        raise BacktestError("no trial met the constraints with a defined objective",
                            "widen the ranges, relax --min-trades/--max-drawdown, or run more --trials")
    return max(ok, key=lambda t: (t.value, -t.number))


def open_storage(path: Path) -> Any:
    optuna = require_optuna()
    from optuna.storages.journal import JournalFileBackend

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise PerpbotError(f"cannot open the study file {path}: {exc.strerror}",
                           "pick a writable path for --study") from exc


def sharpe_of(trials: list[Trial]) -> list[float]:
    """Per-day Sharpe ratio of each distinct trial (identical trades once)."""
    from perpbot.backtest.overfitting import sharpe_ratio

    seen, out = set(), []
    for t in trials:
        if t.daily is not None and t.error is None and t.trades_id not in seen:
            seen.add(t.trades_id)
            out.append(sharpe_ratio(np.asarray(t.daily)))
    return out


def _constraint(trial: Any) -> list[float]:
    return list(trial.user_attrs.get("constraint", [0.0]))


def _claim(study: Any, fingerprint: dict[str, Any]) -> None:
    """A new study takes the search's fingerprint; an existing one must carry the same."""
    mine = json.loads(json.dumps(fingerprint))
    theirs = study.user_attrs.get("perpbot")
    if theirs is None:
        study.set_user_attr("perpbot", mine)
    elif theirs != mine:
        differs = sorted(k for k in mine if theirs.get(k) != mine[k])
        raise PerpbotError(f"the study file holds another search (it differs in {', '.join(differs)})",
                           "repeat that search's arguments to resume it, or pass a new --study FILE")


def _from_frozen(t: Any) -> Trial:
    attrs = t.user_attrs
    violation = (attrs.get("constraint") or [0.0])[0]
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    return Trial(t.number, dict(t.params), value, violation <= 0 and t.state.name == "COMPLETE",
                 attrs.get("metrics") or {}, attrs.get("trades_id"), attrs.get("daily"), attrs.get("error"))
