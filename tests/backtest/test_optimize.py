"""`perpbot optimize`'s searches: the known optimum, seeded reproducibility, resuming, constraints, walk-forward."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from sweep_data import fill_store, sweep_settings

from perpbot.backtest.grid import parse_param
from perpbot.backtest.market import BacktestError
from perpbot.backtest.search_space import Constraints, parse_space
from perpbot.backtest.sensitivity import run_sensitivity
from perpbot.data.db import Store
from perpbot.errors import ConfigError, PerpbotError

optuna = pytest.importorskip("optuna", reason="the optional optimize extra is not installed")

from perpbot.backtest.optimize import SearchSpec  # noqa: E402
from perpbot.backtest.optimize_run import OptimizeResult, run_optimize, run_optimize_walk_forward  # noqa: E402

ENTRY, EXIT = "strategy.entry_z=1.5:3.0:0.25", "strategy.exit_z=0.0:1.0:0.25"


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("optimize") / "bt.db"
    fill_store(path)
    return path


@pytest.fixture
def store(db):
    s = Store(db, read_only=True)
    yield s
    s.close()


def spec(*specs: str, **kw) -> SearchSpec:
    return SearchSpec(tuple(parse_space(s) for s in specs), **kw)


def test_space_parsing():
    p = parse_space("strategy.entry_z=1.5:3")
    assert (p.low, p.high, p.step, p.integer) == (1.5, 3.0, None, False)
    w = parse_space("strategy.window=10:60:5")
    assert (w.low, w.high, w.step, w.integer) == (10, 60, 5, True)
    assert parse_space("risk.sizing=fixed,fraction").choices == ("fixed", "fraction")
    for bad, message in [("strategy.entry_zz=1:2", "unknown parameter"), ("strategy.entry_z=3:1", "LOW must be below"),
                         ("strategy.window=1:50", "strategy.window must be >= 2"), ("strategy.window=10:20:0.5",
                                                                                     "whole numbers"),
                         ("strategy.entry_z=1:2:3:4", "LOW:HIGH or LOW:HIGH:STEP")]:
        with pytest.raises(ConfigError, match=message):
            parse_space(bad)


def test_tpe_finds_the_known_optimum_of_the_grid(db, store, tmp_path):
    settings = sweep_settings(db)
    truth = run_sensitivity(settings, store, ["BTC"], None, None, [parse_param(ENTRY), parse_param(EXIT)])
    best = truth.best()
    result = run_optimize(settings, store, ["BTC"], None, None, None, spec(ENTRY, EXIT, trials=30, seed=7),
                          study_path=tmp_path / "s.journal")
    assert result.best_value == pytest.approx(best["sharpe"], rel=1e-9)
    assert result.best.metrics["trades"] == best["trades"]
    assert len(result.trials) == 30 and result.overfitting["trials"] == sum("error" not in t for t in result.trials)
    assert 0 < result.overfitting["distinct_trials"] <= result.overfitting["trials"]
    back = OptimizeResult.load(result.to_json(tmp_path / "o.json"))
    assert back.best_params == result.best_params and back.trials == result.trials
    assert back.overfitting == result.overfitting
    from perpbot.tui.backtest_data import load_result

    assert isinstance(load_result(str(tmp_path / "o.json")), OptimizeResult)  # screen 4 loads it


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_seeded_runs_are_reproducible(db, store, tmp_path, sampler):
    settings = sweep_settings(db)
    runs = [run_optimize(settings, store, ["BTC"], None, None, None,
                         spec("strategy.entry_z=1.5:3.0", "strategy.window=10:40", trials=12, seed=3, sampler=sampler),
                         study_path=tmp_path / f"{sampler}{n}.journal") for n in range(2)]
    assert runs[0].trials == runs[1].trials
    other = run_optimize(settings, store, ["BTC"], None, None, None,
                         spec("strategy.entry_z=1.5:3.0", "strategy.window=10:40", trials=12, seed=4, sampler=sampler),
                         study_path=tmp_path / f"{sampler}-other.journal")
    assert other.trials != runs[0].trials


def test_an_interrupted_study_resumes_and_a_foreign_one_is_refused(db, store, tmp_path):
    settings, path = sweep_settings(db), tmp_path / "resume.journal"
    search = spec("strategy.entry_z=1.5:3.0", trials=8, seed=1)
    seen = []

    class Interrupted(Exception):
        """Stands for Ctrl-C or a killed process: the study keeps what was told."""

    def interrupt(done, total):
        seen.append(done)
        if done == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_optimize(settings, store, ["BTC"], None, None, None, search, study_path=path, progress=interrupt)
    again = []
    resumed = run_optimize(settings, store, ["BTC"], None, None, None, search, study_path=path,
                           progress=lambda d, t: again.append(d))
    assert again[0] == 3 and again[-1] == 8 and len(resumed.trials) == 8
    whole = run_optimize(settings, store, ["BTC"], None, None, None, search, study_path=tmp_path / "whole.journal")
    assert resumed.trials[:3] == whole.trials[:3]
    with pytest.raises(PerpbotError, match="holds another search"):
        run_optimize(settings, store, ["BTC"], None, None, None, spec("strategy.entry_z=2:3", trials=8, seed=1),
                     study_path=path)


def test_a_study_made_with_other_base_settings_is_refused_and_the_default_file_is_its_own(db, store, tmp_path):
    search, path = spec("strategy.entry_z=1.5:3.0", trials=2, seed=1), tmp_path / "base.journal"
    settings = sweep_settings(db)
    run_optimize(settings, store, ["BTC"], None, None, None, search, study_path=path)
    size = path.stat().st_size
    other = sweep_settings(db, strategy={"exit_z": 0.8})
    with pytest.raises(PerpbotError, match=r"base settings strategy.exit_z 0.5 in the study, 0.8 now") as caught:
        run_optimize(other, store, ["BTC"], None, None, None, search, study_path=path)
    assert "nothing was run" in caught.value.message and path.stat().st_size == size
    # a searched key's base value and a daemon-only key do not matter
    searched = sweep_settings(db, strategy={"entry_z": 2.9}, execution={"tick_seconds": 9})
    assert len(run_optimize(searched, store, ["BTC"], None, None, None, search, study_path=path).trials) == 2
    data = SimpleNamespace(symbols=["BTC"], timeframe="1h", start_ms=0, end_ms=1)
    assert search.default_study(tmp_path, data, settings) != search.default_study(tmp_path, data, other)
    assert search.default_study(tmp_path, data, settings) == search.default_study(tmp_path, data, searched)


def test_constraints_and_no_feasible_trial(db, store, tmp_path):
    settings = sweep_settings(db)
    result = run_optimize(settings, store, ["BTC"], None, None, None,
                          spec(ENTRY, trials=8, seed=2, constraints=Constraints(min_trades=20)),
                          study_path=tmp_path / "c.journal")
    assert result.best.metrics["trades"] >= 20
    assert all(t["trades"] >= 20 for t in result.trials if t["feasible"])
    with pytest.raises(BacktestError, match="no trial met the constraints"):
        run_optimize(settings, store, ["BTC"], None, None, None,
                     spec(ENTRY, trials=3, seed=2, constraints=Constraints(min_trades=10_000)),
                     study_path=tmp_path / "none.journal")


def test_walk_forward_optimisation_is_a_walk_forward_result(db, store, tmp_path):
    from perpbot.backtest.walk_forward import WalkForwardResult

    settings = sweep_settings(db)
    result = run_optimize_walk_forward(settings, store, ["BTC"], None, None, None,
                                       spec(ENTRY, trials=5, seed=1, objective="calmar"), train_days=40,
                                       test_days=20, study_path=tmp_path / "wf.journal")
    assert len(result.windows) >= 3 and result.metric == "calmar"
    assert result.search["kind"] == "optimize" and result.search["trials_per_window"] == 5
    assert result.overfitting["trials"] == 5 * len(result.windows)
    back = WalkForwardResult.load(result.to_json(tmp_path / "wf.json"))
    assert back.search == result.search and back.windows == result.windows


def test_missing_optuna_says_how_to_install(db, store, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(PerpbotError) as info:
        run_optimize(sweep_settings(db), store, ["BTC"], None, None, None, spec(ENTRY))
    assert "needs the optional Optuna dependency" in info.value.message and "perp-bot[optimize]" in info.value.hint


def test_the_command_prints_trials_and_figures_and_writes_json_and_html(db, tmp_path, capsys, monkeypatch):
    from sweep_data import write_config

    from perpbot.backtest.optimize_run import OptimizeResult
    from perpbot.cli import main

    monkeypatch.setenv("COLUMNS", "140")
    config = write_config(tmp_path, db)
    argv = ["--config", str(config), "optimize", "--param", "strategy.entry_z=1.5:3.0", "--param",
            "strategy.window=10:40", "--trials", "6", "--seed", "1", "--symbols", "BTC", "--min-trades", "3",
            "--study", str(tmp_path / "s.journal"), "--json", str(tmp_path / "o.json")]
    if pytest.importorskip("plotly", reason="html extra") is not None:
        argv += ["--html", str(tmp_path / "o.html")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Optimisation BTC 1h: 6 tpe trials" in out and "top " in out and "best: entry_z=" in out
    assert "deflated Sharpe" in out and "run the same command again to resume" in out
    assert OptimizeResult.load(tmp_path / "o.json").trials
    assert "Best trials by sharpe" in (tmp_path / "o.html").read_text()
    assert main([*argv[:-2]]) == 0  # the same study again: nothing left to run
    assert main(["--config", str(config), "optimize", "--param", "strategy.entry_z=1.5:3.0", "--objective",
                 "sharp"]) == 2
    assert "did you mean 'sharpe'?" in capsys.readouterr().err


def test_a_dask_cluster_runs_the_same_trials(db, store, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    settings = sweep_settings(db)
    search = spec("strategy.entry_z=1.5:3.0", "strategy.window=10:40", trials=6, seed=5)
    local = run_optimize(settings, store, ["BTC"], None, None, None, search, study_path=tmp_path / "l.journal")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as c:
        remote = run_optimize(settings, store, ["BTC"], None, None, None, search, dask_address=c.scheduler_address,
                              study_path=tmp_path / "d.journal")
    assert remote.trials == local.trials and remote.overfitting == local.overfitting


def test_optimize_piped_into_head_ends_quietly_as_backtest_does(db, tmp_path):
    from sweep_data import write_config

    config = write_config(tmp_path, db)
    argv = [sys.executable, "-m", "perpbot.cli", "--config", str(config), "optimize", "--param", ENTRY,
            "--symbols", "BTC", "--trials", "3", "--seed", "1", "--study", str(tmp_path / "s.journal")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)  # `| head -c 10`
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 141 and err == ""
