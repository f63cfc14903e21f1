"""Walk-forward: window tiling, picking the train best, stitched out-of-sample results, JSON."""

from __future__ import annotations

import numpy as np
import pytest
from bt_data import START_MS
from sweep_data import DAY, H, fill_store, sweep_settings

from perpbot.backtest.grid import parse_param
from perpbot.backtest.market import BacktestError
from perpbot.backtest.results import BacktestResult
from perpbot.backtest.sensitivity import run_sensitivity
from perpbot.backtest.walk_forward import WalkForwardResult, make_windows, run_walk_forward
from perpbot.data.db import Store
from perpbot.errors import ConfigError

SPECS = ("strategy.entry_z=1.5:2.5:0.5", "strategy.window=10,20")


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("wf") / "bt.db"
    fill_store(path)
    return path


@pytest.fixture
def store(db):
    s = Store(db, read_only=True)
    yield s
    s.close()


def grid() -> list:
    return [parse_param(s) for s in SPECS]


# --- windows ---------------------------------------------------------------------------------


def test_rolling_windows_tile_the_range():
    windows = make_windows(0, 100 * DAY, 30, 10, anchored=False, interval_ms=H)
    assert len(windows) == 7
    assert windows[0] == (0, 30 * DAY, 30 * DAY, 40 * DAY)
    for (a0, a1, a2, a3), (b0, b1, b2, b3) in zip(windows, windows[1:]):
        assert a3 == b2  # test windows back to back
        assert b1 - b0 == 30 * DAY and b1 == b2  # train: the 30 days right before its test window
    assert windows[-1][3] == 100 * DAY


def test_anchored_windows_grow_from_the_start():
    windows = make_windows(0, 95 * DAY, 30, 10, anchored=True, interval_ms=H)
    assert len(windows) == 6 and windows[-1][3] == 90 * DAY  # the 5-day tail is left untested
    assert all(w[0] == 0 for w in windows)
    assert [w[1] for w in windows] == [(30 + 10 * i) * DAY for i in range(6)]


def test_window_lengths_are_whole_bars():
    windows = make_windows(0, 10 * DAY, 1.01, 0.5, anchored=False, interval_ms=H)
    assert windows[0][1] == 24 * H and windows[0][3] - windows[0][2] == 12 * H


def test_windows_that_do_not_fit_are_a_clear_error():
    with pytest.raises(BacktestError, match="60 d train \\+ 14 d test window does not fit in the 45.0 d"):
        make_windows(START_MS, START_MS + 45 * DAY, 60, 14, anchored=False, interval_ms=H)
    with pytest.raises(ConfigError, match="--test-days must be > 0"):
        make_windows(0, 100 * DAY, 30, 0, anchored=False, interval_ms=H)
    with pytest.raises(ConfigError, match="shorter than one bar"):
        make_windows(0, 100 * DAY, 30, 0.01, anchored=False, interval_ms=H)


# --- runs ------------------------------------------------------------------------------------


def test_each_window_picks_the_train_best_and_reports_it_on_test(db, store):
    settings = sweep_settings(db)
    result = run_walk_forward(settings, store, ["BTC", "ETH"], None, None, grid(), train_days=30, test_days=20)
    assert len(result.windows) >= 3
    for w in result.windows[:3]:
        train = run_sensitivity(settings, store, ["BTC", "ETH"], w.train_start, w.train_end, grid())
        best = train.best()
        assert w.params == {k: best[k] for k in train.params}
        assert w.train_metric == best["sharpe"]
        test = run_sensitivity(settings, store, ["BTC", "ETH"], w.test_start, w.test_end, grid())
        row = next(r for r in test.rows if all(r[k] == v for k, v in w.params.items()))
        assert w.test_metrics == {k: row[k] for k in w.test_metrics}
        assert w.test_trades == row["trades"]


def test_stitched_out_of_sample_chains_the_test_windows(db, store):
    settings = sweep_settings(db)
    result = run_walk_forward(settings, store, None, None, None, grid(), train_days=30, test_days=20)
    s = result.stitched
    assert s.start_ms == result.windows[0].test_start and s.end_ms == result.windows[-1].test_end
    assert len(s.trades) == sum(w.test_trades for w in result.windows) > 0
    assert all(result.windows[0].test_start <= t.entry_time < result.windows[-1].test_end for t in s.trades)
    assert np.all(np.diff(s.times) > 0)
    initial = settings.backtest.initial_equity
    assert s.values[-1] == pytest.approx(initial + sum(t.pnl for t in s.trades))
    assert s.metrics["trades"] == len(s.trades)
    means = [w.test_metrics["sharpe"] for w in result.windows if w.test_metrics["sharpe"] is not None]
    assert result.out_of_sample == pytest.approx(sum(means) / len(means))
    if result.in_sample and result.in_sample > 0:
        assert result.oos_is_ratio == pytest.approx(result.out_of_sample / result.in_sample)


def test_anchored_run_trains_from_the_start(db, store):
    result = run_walk_forward(sweep_settings(db), store, ["BTC"], None, None, grid(), train_days=30, test_days=20,
                              anchored=True, metric="total_return")
    assert len({w.train_start for w in result.windows}) == 1
    assert result.windows[-1].train_end - result.windows[-1].train_start > 30 * DAY


def test_pool_equals_local_and_progress_reaches_the_total(db, store):
    settings = sweep_settings(db)
    local = run_walk_forward(settings, store, ["BTC"], None, None, grid(), train_days=40, test_days=20)
    seen = []
    pooled = run_walk_forward(settings, store, ["BTC"], None, None, grid(), train_days=40, test_days=20, workers=2,
                              progress=lambda d, t: seen.append((d, t)))
    assert pooled.windows == local.windows
    total = len(local.windows) * 7 + 6  # six combinations and one test run per window, six over the tested range
    assert pooled.overfitting == local.overfitting and local.overfitting["trials"] == 6
    assert seen[-1] == (total, total) and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))


def test_range_too_short_for_one_window(db, store):
    with pytest.raises(BacktestError, match="does not fit"):
        run_walk_forward(sweep_settings(db), store, ["BTC"], START_MS + 30 * DAY, START_MS + 60 * DAY, grid(),
                         train_days=60, test_days=14)


def test_json_round_trip_and_readable_as_a_backtest_result(db, store, tmp_path):
    result = run_walk_forward(sweep_settings(db), store, ["BTC"], None, None, grid(), train_days=30, test_days=20)
    path = result.to_json(tmp_path / "wf.json")
    back = WalkForwardResult.load(path)
    assert back.windows == result.windows
    assert (back.in_sample, back.out_of_sample, back.oos_is_ratio) == (
        result.in_sample, result.out_of_sample, result.oos_is_ratio)
    assert back.untested_ms == result.untested_ms and back.params == result.params
    plain = BacktestResult.load(path)  # the stitched out-of-sample run in the backtest file format
    assert len(plain.trades) == len(result.stitched.trades)
    assert plain.metrics["total_return"] == pytest.approx(result.stitched.metrics["total_return"])
