"""The decision table: rows for every reason and every risk refusal, the log line, the filter tally."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from perpbot.clock import HOUR_MS, FakeClock
from perpbot.config import PredictionConfig, RiskConfig, StrategyConfig
from perpbot.models import Side
from perpbot.risk.manager import MemoryState, RiskManager
from perpbot.signals.decisions import (
    FIELDS,
    REASONS,
    RISK_REASONS,
    TIMEOUT,
    DecisionTable,
    decision_row,
    entry_blocks,
)
from perpbot.signals.engine import BarValues, compute_indicators, decide, signal_arrays
from perpbot.signals.prediction import fixed_regime

T0 = 1_704_067_200_000
NORMAL = fixed_regime("NORMAL", PredictionConfig())


def values(**overrides: float) -> BarValues:
    base = {"close": 99.0, "z": 0.0, "upper": 110.0, "lower": 100.0, "rsi": 25.0, "adx": 20.0, "hurst": 0.4}
    return BarValues(**{**base, **overrides})


@pytest.mark.parametrize("bar, position, decision, reason", [
    (values(z=-2.5), None, "LONG", "entry:z<=-2.00"),
    (values(z=2.5, close=111.0, rsi=75.0), None, "SHORT", "entry:z>=2.00"),
    (values(z=-0.4), Side.LONG, "CLOSE", "exit:z>=-0.50"),
    (values(z=0.4), Side.SHORT, "CLOSE", "exit:z<=0.50"),
    (values(z=math.nan), None, "NONE", "warmup"),
    (values(z=-3.0, rsi=math.nan), None, "NONE", "warmup"),
    (values(z=-1.0), None, "NONE", "flat"),
    (values(z=-3.0, close=100.5), None, "NONE", "blocked:bollinger"),
    (values(z=-3.0, rsi=31.0), None, "NONE", "blocked:rsi"),
    (values(z=-3.0, adx=30.0), None, "NONE", "blocked:adx"),
    (values(z=-3.0, hurst=0.6), None, "NONE", "blocked:hurst"),
    (values(z=-1.0), Side.LONG, "NONE", "hold"),
])
def test_every_reason_of_the_closed_list_makes_a_row(bar, position, decision, reason):
    row = decision_row("BTC", T0, bar, decide(bar, position, StrategyConfig()))
    assert (row.decision, row.reason, row.risk) == (decision, reason, None)
    generic = reason.replace("-2.00", "-X").replace("2.00", "X").replace("-0.50", "-X").replace("0.50", "X")
    assert generic in REASONS
    assert tuple(row.to_dict()) == FIELDS


def test_timeout_and_missing_bars():
    row = decision_row("ETH", T0, None, TIMEOUT)
    assert row.to_dict() == {"symbol": "ETH", "bar_time": T0, "close": None, "z": None, "bb_lower": None,
                             "bb_upper": None, "rsi": None, "adx": None, "hurst": None, "decision": "CLOSE",
                             "reason": "timeout", "risk": None}


def _risk_cases():
    clock = FakeClock(T0)

    def manager(**cfg):
        return RiskManager(RiskConfig(**cfg), MemoryState(), clock)

    halted = manager()
    halted.set_halt("three losing weeks", T0)
    paused = manager()
    paused.set_paused(True, T0)
    capped = manager(daily_loss_limit_pct=0.05)
    capped.note_equity(10_000.0, T0)
    capped.record_exit("ETH", -600.0, "signal", T0 + HOUR_MS)
    cooling = manager(cooldown_minutes=60)
    cooling.record_exit("BTC", -10.0, "stop_loss", T0 + HOUR_MS)
    crisis = fixed_regime("CRISIS", PredictionConfig())
    disk_full = manager()
    disk_full.hold("storage", "storage fault: database or disk is full")
    unreconciled = manager()
    unreconciled.hold("account", "reconciliation failed: frontendOpenOrders answered 502")
    return [
        (halted.check_entry("BTC", [], NORMAL, T0), "halted"),
        (paused.check_entry("BTC", [], NORMAL, T0), "paused"),
        (manager(max_positions=1).check_entry("BTC", ["ETH"], NORMAL, T0), "max_positions"),
        (capped.check_entry("BTC", [], NORMAL, T0 + 2 * HOUR_MS), "daily_loss_cap"),
        (cooling.check_entry("BTC", [], NORMAL, T0 + 90 * 60_000), "cooldown"),
        (manager().check_entry("BTC", [], crisis, T0), "regime"),
        (manager().check_entry("BTC", ["BTC"], NORMAL, T0), "pending_order"),  # a pending entry counts as open
        (disk_full.check_entry("BTC", [], NORMAL, T0), "storage"),
        (unreconciled.check_entry("BTC", [], NORMAL, T0), "account"),
        (manager().size_check(manager(sizing="fixed", notional_usd=5).position_size(10_000, 100.0)), "size"),
    ]


def test_every_risk_refusal_names_its_reason():
    seen = []
    for check, expected in _risk_cases():
        assert not check.allowed
        bar = values(z=-2.5)
        row = decision_row("BTC", T0, bar, decide(bar, None, StrategyConfig()), check.reason)
        assert (row.decision, row.risk) == ("LONG", expected)
        seen.append(row.risk)
    assert sorted(seen) == sorted(RISK_REASONS)


def test_table_keeps_the_newest_row_per_symbol_in_order_and_logs_each(caplog):
    published = []
    table = DecisionTable(["BTC", "ETH"], published.append)
    assert table.rows() == []
    bar = values(z=-1.0)
    with caplog.at_level(logging.INFO, logger="perpbot.signals.decisions"):
        table.record(decision_row("ETH", T0, bar, decide(bar, None, StrategyConfig())))
        table.record(decision_row("BTC", T0, bar, decide(bar, None, StrategyConfig())))
        table.record(decision_row("ETH", T0 + 1, values(z=math.nan), decide(values(z=math.nan), None, StrategyConfig())))
    assert [r["symbol"] for r in table.rows()] == ["BTC", "ETH"]
    assert table.rows()[1]["reason"] == "warmup" and table.rows()[1]["z"] is None
    assert len(published) == 3 and published[-1] == table.rows()
    lines = [r for r in caplog.records if r.getMessage() == "decision"]
    assert len(lines) == 3 and lines[0].symbol == "ETH" and lines[0].reason == "flat"


def test_entry_blocks_tally_matches_the_signal_arrays():
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.003, 3000)))
    high, low = close * 1.001, close * 0.999
    p = StrategyConfig(use_hurst=False)
    ind = compute_indicators(high, low, close, p)
    tally = entry_blocks(ind, close, p, first=100)
    sig = signal_arrays(ind, close, p)
    assert tally["entries"] == int((sig.long_entry[100:] | sig.short_entry[100:]).sum())
    assert tally["candidates"] == sum(v for k, v in tally.items() if k != "candidates")
    # bb_std 2 makes the Bollinger filter bind for every entry_z below 2: it blocks the extra candidates.
    loose = entry_blocks(ind, close, StrategyConfig(use_hurst=False, entry_z=1.5), first=100)
    assert loose["entries"] == tally["entries"]
    assert loose["bollinger"] - tally["bollinger"] == loose["candidates"] - tally["candidates"] > 0


def test_a_refusal_found_at_the_order_amends_that_bars_row(caplog):
    table = DecisionTable(["BTC"])
    bar = values(z=-2.5)
    table.record(decision_row("BTC", T0, bar, decide(bar, None, StrategyConfig())))
    table.amend("BTC", T0 - HOUR_MS, "below_min_order")  # an older bar: not the newest row, ignored
    assert table.rows()[0]["risk"] is None
    with caplog.at_level(logging.INFO, logger="perpbot.signals.decisions"):
        caplog.clear()  # the record above is logged too when another test left INFO on
        table.amend("BTC", T0, "below_min_order")
    assert (table.rows()[0]["decision"], table.rows()[0]["risk"]) == ("LONG", "size")
    assert [r.risk for r in caplog.records if r.getMessage() == "decision"] == ["size"]
