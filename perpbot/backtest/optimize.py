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
from perpbot.config import Settings, settings_to_dict
from perpbot.errors import ConfigError, PerpbotError

__all__ = ["SAMPLERS", "SearchSpec", "Trial", "TrialSearch", "require_optuna"]

Progress = Callable[[int, int], None]
SAMPLERS = ("tpe", "random")
INSTALL_HINT = "pip install 'perp-bot[optimize]' (Optuna)"
RESULT_SECTIONS = ("strategy", "risk", "execution", "backtest", "prediction")
"""The settings sections a backtest reads (data, exchange, alerts and logging never change a trade)."""
LIVE_ONLY = frozenset({"execution.mode", "execution.clock", "execution.tick_seconds", "execution.reconcile_minutes",
                       "execution.max_slippage_bps", "execution.paper_equity", "risk.losing_weeks_halt"})
"""Keys of those sections that only the daemon reads: changing them keeps a study resumable."""
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

    def fingerprint(self, data: MarketData, settings: Settings) -> dict[str, Any]:
        """The search, its data range and the base settings its trials start from (a trial is a
        backtest of the base settings with the searched keys changed: other base settings, other trials)."""
        return {"space": [p.describe() for p in self.space], "objective": self.objective,
                "constraints": self.constraints.describe(), "sampler": self.sampler, "seed": self.seed,
                "symbols": data.symbols, "timeframe": data.timeframe, "start_ms": data.start_ms, "end_ms": data.end_ms,
                "settings": self.base_settings(settings)}

    def base_settings(self, settings: Settings) -> dict[str, Any]:
        """Every setting a backtest may read, as {"section.key": value}, less the searched keys."""
        searched = {p.key for p in self.space}
        flat = {f"{section}.{key}": value for section, values in settings_to_dict(settings).items()
                if section in RESULT_SECTIONS for key, value in values.items()}
        return json.loads(json.dumps({k: v for k, v in flat.items() if k not in searched and k not in LIVE_ONLY}))

    def default_study(self, folder: Path, data: MarketData, settings: Settings, walk_forward: str = "") -> Path:
        """A file named after the search, so running the same command again resumes it (and the same
        search over other base settings starts a study of its own)."""
        key = json.dumps([self.fingerprint(data, settings), walk_forward], sort_keys=True).encode()
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
        existing = _recorded(self.optuna, storage, name)  # checked before create_study writes to the file
        _check_same(existing, fingerprint)
        self.study = self.optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                              sampler=sampler, load_if_exists=True)
        if existing is None:
            self.study.set_user_attr("perpbot", json.loads(json.dumps(fingerprint)))
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
        _check_journal(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise PerpbotError(f"cannot open the study file {path}: {exc.strerror}",
                           "pick a writable path for --study") from exc


def _check_journal(path: Path) -> None:
    """An existing study file must be an Optuna journal, every line whole, before Optuna reads it
    (it fails on the first bad line with a JSONDecodeError) or appends to it.

    Raises:
        PerpbotError: not a journal, or its last line was cut off by an interrupted write.
    """
    if not path.exists() or path.is_dir():
        return  # a missing file is a new study; a folder fails in the caller with its OSError
    lines = path.read_bytes().split(b"\n")
    last = len(lines) - 1 if lines[-1] else len(lines) - 2  # the file normally ends with a newline
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            op = json.loads(line)
        except ValueError:
            op = None
        if isinstance(op, dict) and "op_code" in op:
            continue
        if n == last and n > 0:
            raise PerpbotError(f"the study file {path} ends in a cut-off line (line {n + 1}: a write was "
                               "interrupted); it was left as it is",
                               "delete that last line to resume the study, or pass a new --study FILE")
        raise PerpbotError(f"{path} is not a study file of perpbot optimize (line {n + 1} is not an Optuna "
                           "journal entry); it was left as it is", "pass a new --study FILE, or none")


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


def _recorded(optuna: Any, storage: Any, name: str) -> dict[str, Any] | None:
    """The fingerprint the study `name` in `storage` was made for ({} for a study without one); None
    when there is no such study."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    recorded = storage.get_study_user_attrs(study_id).get("perpbot")
    return recorded if isinstance(recorded, dict) else {}


def _check_same(theirs: dict[str, Any] | None, fingerprint: dict[str, Any]) -> None:
    """An existing study must carry the search's fingerprint.

    Raises:
        PerpbotError: it was made for another search (named: what differs), before anything is written.
    """
    mine = json.loads(json.dumps(fingerprint))
    if theirs is not None and theirs != mine:
        differs = [k for k in sorted(mine) if k != "settings" and theirs.get(k) != mine[k]]
        if theirs.get("settings") != mine["settings"]:
            differs.append(_settings_differ(theirs.get("settings"), mine["settings"]))
        raise PerpbotError(f"the study file holds another search (it differs in {'; '.join(differs)}); "
                           "nothing was run",
                           "repeat that search's arguments and settings to resume it, or pass a new --study FILE "
                           "(without --study each search gets a file of its own)")


def _settings_differ(theirs: Any, mine: dict[str, Any]) -> str:
    """'base settings strategy.exit_z 0.5 in the study, 0.8 now' (at most three keys named)."""
    if not isinstance(theirs, dict):
        return "base settings (the study does not record them: it was made by an older perp-bot)"
    keys = sorted(k for k in set(theirs) | set(mine) if theirs.get(k) != mine.get(k))
    named = ", ".join(f"{k} {theirs.get(k)!r} in the study, {mine.get(k)!r} now" for k in keys[:3])
    return f"base settings {named}" + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def _from_frozen(t: Any) -> Trial:
    attrs = t.user_attrs
    violation = (attrs.get("constraint") or [0.0])[0]
    value = t.value if t.value is not None and math.isfinite(t.value) else None
    return Trial(t.number, dict(t.params), value, violation <= 0 and t.state.name == "COMPLETE",
                 attrs.get("metrics") or {}, attrs.get("trades_id"), attrs.get("daily"), attrs.get("error"))
