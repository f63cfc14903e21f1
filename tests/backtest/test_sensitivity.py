"""Grids (parse, expand, apply) and sensitivity sweeps: local, process pool and Dask agree."""

from __future__ import annotations

import math

import pytest
from bt_data import START_MS
from sweep_data import DAY, END_MS, fill_store, sweep_settings

import perpbot.backtest.sensitivity as sensitivity
from perpbot.backtest.engine import run_backtest
from perpbot.backtest.grid import apply_combo, expand_grid, parse_param
from perpbot.backtest.market import BacktestError
from perpbot.backtest.sensitivity import SweepResult, run_sensitivity
from perpbot.config import Settings
from perpbot.data.db import Store
from perpbot.errors import ConfigError

GRID = ["strategy.entry_z=1.5:2.5:0.5", "strategy.exit_z=0.0,0.5"]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "bt.db"
    fill_store(path)
    return path


@pytest.fixture
def store(db):
    s = Store(db, read_only=True)
    yield s
    s.close()


def grid(*specs: str) -> list:
    return [parse_param(s) for s in specs]


# --- grids -----------------------------------------------------------------------------------


def test_range_is_inclusive_and_exact_in_decimal():
    assert parse_param("strategy.entry_z=1.5:3.0:0.25") == (
        "strategy.entry_z", [1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0])
    key, values = parse_param("strategy.exit_z=0.0:0.9:0.1")
    assert values == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # not 0.30000000000000004
    assert parse_param("strategy.exit_z = 0.5:0.5:0.1") == ("strategy.exit_z", [0.5])


def test_values_are_typed_from_the_config_key():
    key, windows = parse_param("strategy.window=10:30:10")
    assert windows == [10, 20, 30] and all(type(v) is int for v in windows)
    assert parse_param("strategy.window=10,20,20") == ("strategy.window", [10, 20])  # duplicates dropped
    assert parse_param("strategy.bb_std=2") == ("strategy.bb_std", [2.0])
    assert parse_param("strategy.use_rsi=true,false") == ("strategy.use_rsi", [True, False])
    assert parse_param("risk.sizing=fixed,fraction") == ("risk.sizing", ["fixed", "fraction"])


@pytest.mark.parametrize("spec, message", [
    ("strategy.entry_zz=1:2:0.5", "unknown parameter 'strategy.entry_zz'"),
    ("strategy.window=30:10:5", "grid is empty"),
    ("strategy.window=", "grid is empty"),
    ("strategy.window=10:30:0", "STEP must be > 0"),
    ("strategy.window=1:2:1", "strategy.window must be >= 2"),
    ("strategy.window=10:12:0.5", "strategy.window must be a whole number"),
    ("strategy.sizing=fixed", "unknown parameter"),
    ("strategy.timeframe=1h,4h", "cannot be swept"),
    ("data.history_days=1,2", "does not change a backtest"),
    ("entry_z", "must look like section.key="),
    ("strategy.entry_z=a:b:c", "must be numbers"),
])
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_param(spec)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError) as info:
        parse_param("strategy.entry_zz=1:2:0.5")
    assert "did you mean 'strategy.entry_z'" in info.value.hint
    with pytest.raises(ConfigError) as info:
        parse_param("strategy.sizing=fixed")
    assert "risk.sizing" in info.value.hint


def test_expand_grid_first_parameter_slowest_and_apply_validates_the_whole_combination():
    combos = expand_grid(grid("strategy.entry_z=1.5,2.0", "strategy.exit_z=0.5,1.5"))
    assert combos == [{"strategy.entry_z": 1.5, "strategy.exit_z": 0.5}, {"strategy.entry_z": 1.5, "strategy.exit_z": 1.5},
                      {"strategy.entry_z": 2.0, "strategy.exit_z": 0.5}, {"strategy.entry_z": 2.0, "strategy.exit_z": 1.5}]
    assert apply_combo(Settings(), combos[3]).strategy.exit_z == 1.5
    with pytest.raises(ConfigError, match="exit_z must be below"):
        apply_combo(Settings(), combos[1])
    with pytest.raises(ConfigError, match="more than once"):
        expand_grid(grid("strategy.window=10", "strategy.window=20"))


# --- sweeps ----------------------------------------------------------------------------------


def test_sweep_rows_match_single_backtests(db, store):
    settings = sweep_settings(db)
    result = run_sensitivity(settings, store, ["BTC", "ETH"], START_MS + 20 * DAY, END_MS, grid(*GRID))
    assert result.params == ["strategy.entry_z", "strategy.exit_z"] and len(result.rows) == 6
    for row in (result.rows[0], result.rows[5]):
        combo = {k: row[k] for k in result.params}
        single = run_backtest(apply_combo(settings, combo), store, ["BTC", "ETH"], START_MS + 20 * DAY, END_MS)
        assert row["trades"] == single.metrics["trades"] > 0
        assert row["total_return"] == pytest.approx(single.metrics["total_return"], rel=1e-9)
        assert row["sharpe"] == pytest.approx(single.metrics["sharpe"], rel=1e-9)


def test_best_and_heatmap(db, store):
    result = run_sensitivity(sweep_settings(db), store, None, None, None, grid(*GRID), metric="total_return")
    xs, ys, matrix = result.heatmap()
    assert xs == [1.5, 2.0, 2.5] and ys == [0.0, 0.5]
    assert matrix[1][2] == result.rows[5]["total_return"]  # entry_z 2.5 (x index 2), exit_z 0.5 (y index 1)
    best = result.best()
    assert best["total_return"] == max(r["total_return"] for r in result.rows)
    assert result.heatmap("trades")[2][0][0] == result.rows[0]["trades"]
    (x1, y1, m1) = SweepResult(["strategy.window"], "sharpe", [{"strategy.window": 10, "sharpe": None}]).heatmap()
    assert y1 == [None] and math.isnan(m1[0][0])


def test_combinations_sharing_indicators_share_one_pass(db, store, monkeypatch):
    calls = []
    real = sensitivity.indicators_for

    def counting(data, params):
        calls.append(params.window)
        return real(data, params)

    monkeypatch.setattr(sensitivity, "indicators_for", counting)
    run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid(*GRID))
    assert calls == [20]  # entry_z x exit_z: one indicator pass for all six
    calls.clear()
    run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid("strategy.window=10,20", *GRID))
    assert sorted(calls) == [10, 20]


def test_invalid_combinations_are_skipped_not_fatal(db, store):
    result = run_sensitivity(sweep_settings(db), store, ["BTC"], None, None,
                             grid("strategy.entry_z=1.0,1.2", "strategy.exit_z=0.5,1.5"))
    errors = [r for r in result.rows if "error" in r]
    assert len(errors) == 2 and "exit_z must be below" in errors[0]["error"]
    assert "error" not in result.best()
    with pytest.raises(ConfigError, match="no combination of the grid is a valid config"):
        run_sensitivity(sweep_settings(db), store, ["BTC"], None, None,
                        grid("strategy.entry_z=1.0", "strategy.exit_z=1.5,2.0"))


def test_clear_errors_for_symbol_range_and_metric(db, store):
    settings = sweep_settings(db)
    with pytest.raises(BacktestError, match="unknown symbol 'DOGE'"):
        run_sensitivity(settings, store, ["DOGE"], None, None, grid(*GRID))
    with pytest.raises(BacktestError, match="stored 1h candles end .*, before --from 2030"):
        run_sensitivity(settings, store, ["BTC"], 1_900_000_000_000, None, grid(*GRID))
    with pytest.raises(ConfigError, match="unknown metric 'sharp'"):
        run_sensitivity(settings, store, ["BTC"], None, None, grid(*GRID), metric="sharp")


def test_process_pool_equals_local(db, store):
    settings = sweep_settings(db)
    specs = grid("strategy.window=10,20", *GRID)
    local = run_sensitivity(settings, store, None, None, None, specs)
    seen = []
    pooled = run_sensitivity(settings, store, None, None, None, specs, workers=2,
                             progress=lambda done, total: seen.append((done, total)))
    assert pooled.rows == local.rows
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)


def test_dask_cluster_equals_local(db, store):
    distributed = pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    settings = sweep_settings(db)
    local = run_sensitivity(settings, store, ["BTC"], None, None, grid(*GRID))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        remote = run_sensitivity(settings, store, ["BTC"], None, None, grid(*GRID), dask_address=cluster.scheduler_address)
    assert remote.rows == local.rows


def test_unreachable_dask_scheduler_is_a_clear_error(db, store):
    pytest.importorskip("distributed", reason="the optional dask extra is not installed")
    from perpbot.errors import PerpbotError

    with pytest.raises(PerpbotError, match="cannot reach the Dask scheduler"):
        sensitivity._connect_dask("tcp://127.0.0.1:9", None, timeout="1s")


def test_json_round_trip(db, store, tmp_path):
    result = run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid(*GRID))
    back = SweepResult.load(result.to_json(tmp_path / "sweep.json"))
    assert back == result
    assert back.heatmap() == result.heatmap()


# --- identical trades and overfitting ---------------------------------------------------------


def test_identical_trades_are_noticed_and_the_binding_filter_named(db, store):
    from perpbot.backtest.trials import describe_group

    result = run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid("strategy.entry_z=1.5:3.0:0.5"))
    (group,) = result.identical  # bb_std 2: the Bollinger band is z = -2, so it binds for entry_z <= 2
    assert group["values"] == {"strategy.entry_z": [1.5, 2.0]} and group["binding"] == "bollinger"
    assert result.rows[0]["trades_id"] == result.rows[1]["trades_id"] != result.rows[2]["trades_id"]
    assert describe_group(group) == f"entry_z=1.5, 2 give identical trades ({result.rows[0]['trades']}): " \
                                    "the bollinger filter binds first"
    stats = result.overfitting
    assert stats["trials"] == 4 and stats["distinct_trials"] == 3
    assert stats["returns"] > 100 and stats["period"] == "day"
    assert stats["pbo"] is not None and 0 <= stats["dsr"] <= 1 and stats["partitions"] == 16
    back = SweepResult.from_dict(result.to_dict())
    assert back.identical == result.identical and back.overfitting == stats


def test_a_value_that_changes_no_decision_names_no_filter_and_partitions_are_an_option(db, store):
    result = run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid("risk.max_positions=1,2"))
    (group,) = result.identical  # one symbol never holds two positions
    assert group["binding"] is None
    assert result.overfitting["distinct_trials"] == 1 and result.overfitting["pbo"] is None
    assert "PBO needs at least 2 distinct trials" in result.overfitting["note"]
    four = run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid("strategy.entry_z=2,3"), partitions=4)
    assert four.overfitting["partitions"] == 4 and four.overfitting["splits"] == 6
    with pytest.raises(ConfigError, match="--partitions must be an even number"):
        run_sensitivity(sweep_settings(db), store, ["BTC"], None, None, grid("risk.max_positions=1,2"), partitions=5)
