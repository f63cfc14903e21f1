"""`backtest --decisions`: the live decision table per bar, consistent with the trades and the refusals."""

from __future__ import annotations

import csv

import pytest
from bt_data import START_MS, insert_walk
from sweep_data import BARS, H, fill_store, sweep_settings

from perpbot.backtest.decisions import backtest_with_decisions, write_decisions_csv
from perpbot.backtest.engine import run_backtest
from perpbot.data.db import Store
from perpbot.signals.decisions import FIELDS


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("decisions") / "bt.db"
    fill_store(path)
    return path


def by_key(rows):
    return {(r.symbol, r.bar_time): r for r in rows}


def test_the_table_agrees_with_every_trade_and_names_each_refusal(db):
    settings = sweep_settings(db, risk={"stop_loss_pct": 0.004, "cooldown_minutes": 600, "max_positions": 1})
    store = Store(db, read_only=True)
    try:
        result, rows = backtest_with_decisions(settings, store, ["BTC", "ETH"], None, None)
        plain = run_backtest(settings, store, ["BTC", "ETH"], None, None)
    finally:
        store.close()
    assert result.trades == plain.trades  # recording changes nothing
    bars = {(r.symbol) for r in rows}
    assert bars == {"BTC", "ETH"} and len(rows) == 2 * len({r.bar_time for r in rows})
    table = by_key(rows)
    for t in result.trades:
        entry = table[(t.symbol, t.entry_time - H)]  # decided at the close before the fill (no delay)
        assert (entry.decision, entry.risk) == (t.side.value.upper(), None)
        assert entry.reason == t.entry_reason
        if t.exit_reason in ("signal", "timeout"):
            exit_row = table[(t.symbol, t.exit_time - H)]
            assert exit_row.decision == "CLOSE" and (exit_row.reason == "timeout") == (t.exit_reason == "timeout")
        inside = [table[(t.symbol, ms)] for ms in range(t.entry_time, t.exit_time - H, H)]
        assert all(r.decision == "NONE" and r.reason == "hold" for r in inside)
    refused = [r for r in rows if r.risk is not None]
    blocked = result.metrics["entries_blocked"]
    assert {r.risk for r in refused} == {"cooldown", "max_positions"}
    assert sum(r.risk == "cooldown" for r in refused) >= blocked["cooldown"] > 0
    assert sum(r.risk == "max_positions" for r in refused) >= blocked["max_positions"] > 0
    assert all(r.decision in ("LONG", "SHORT") for r in refused)
    # Every entry signal while flat either traded or names why not.
    traded = {(t.symbol, t.entry_time - H) for t in result.trades}
    flat_signals = [r for r in rows if r.decision in ("LONG", "SHORT")]
    assert all((r.symbol, r.bar_time) in traded or r.risk for r in flat_signals[:-2])


def test_a_delayed_entry_shows_pending_order_and_the_csv_round_trips(tmp_path):
    db = tmp_path / "d.db"
    store = Store(db)
    store.migrate()
    insert_walk(store, "BTC", BARS, "1h", H, seed=4)
    settings = sweep_settings(db, data={"symbols": ["BTC"]}, execution={"entry_delay_bars": 2})
    try:
        result, rows = backtest_with_decisions(settings, store, ["BTC"], START_MS + 30 * 24 * H, None)
    finally:
        store.close()
    table = by_key(rows)
    assert result.trades
    t = result.trades[0]
    waiting = [table[("BTC", t.entry_time - k * H)] for k in (1, 2)]  # decided 3 bars before the fill
    assert table[("BTC", t.entry_time - 3 * H)].decision in ("LONG", "SHORT")
    assert all(r.risk in (None, "pending_order") for r in waiting)
    assert any(r.risk == "pending_order" for r in rows)
    path = write_decisions_csv(tmp_path / "d.csv", rows)
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert tuple(read[0])[:len(FIELDS)] == FIELDS and len(read) == len(rows)
    assert read[0]["bar_time_utc"] == "2024-01-31T00:00Z" and read[0]["rsi"] != "" and read[0]["hurst"] == ""


def test_an_entry_below_the_minimum_order_says_size_as_live_does(db):
    settings = sweep_settings(db, risk={"sizing": "fixed", "notional_usd": 5})
    store = Store(db, read_only=True)
    try:
        result, rows = backtest_with_decisions(settings, store, ["BTC"], None, None)
    finally:
        store.close()
    assert result.trades == [] and result.metrics["entries_blocked"]["below_min_order"] > 0
    entries = [r for r in rows if r.decision in ("LONG", "SHORT")][:-1]
    assert entries and all(r.risk == "size" for r in entries)
