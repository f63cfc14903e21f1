"""Margin and liquidation: maintenance from meta's margin tables, liquidationPx, and the close at the mark when it breaks."""

from __future__ import annotations

import pytest
from exchange_signer import TRADER, Signer

from perpbot.clock import HOUR_MS, FakeClock
from perpbot.sim import margin
from perpbot.sim.path import first_touch, path_points
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 5 * 60_000


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=31, history_days=0.2, start_ms=START_MS, funds={TRADER.address: 2_000.0})
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def _state(signer) -> dict:
    return signer.info({"type": "clearinghouseState", "user": TRADER.address})


def test_meta_lists_tiered_margin_tables_and_maintenance_follows_them(sim):
    meta = Signer(sim).info({"type": "meta"})
    btc = meta["universe"][0]
    tables = dict((k, v) for k, v in meta["marginTables"])
    assert btc["marginTableId"] == 56 and tables[56]["marginTiers"] == [
        {"lowerBound": "0.0", "maxLeverage": 40}, {"lowerBound": "150000000.0", "maxLeverage": 20}]
    ledger = sim.ledger
    assert margin.maintenance(ledger, "BTC", 1.0, 60_000.0) == pytest.approx(60_000 * 0.0125)  # 1/(2*40)
    # Continuous across the tier bound: the deduction makes up the step in rate.
    below, above = (margin.maintenance(ledger, "BTC", n / 60_000, 60_000.0) for n in (149_999_999.0, 150_000_001.0))
    assert above - below == pytest.approx(1 * 0.0125 + 1 * 0.025, abs=1e-6)


def test_a_cross_position_reports_maintenance_and_liquidation_price(sim):
    signer = Signer(sim)
    mid = sim.universe["BTC"].mid(START_MS)
    assert "filled" in signer.order("BTC", True, str(int(mid * 1.01)), "0.5")  # ~$30k at 20x on $2k
    state = _state(signer)
    position = state["assetPositions"][0]["position"]
    ntl = float(position["positionValue"])
    assert float(state["crossMaintenanceMarginUsed"]) == pytest.approx(ntl / 80, rel=1e-6)  # 1.25%, not half of 1/20
    liq = float(position["liquidationPx"])
    value = float(state["marginSummary"]["accountValue"])
    # At the liquidation price the account value equals maintenance margin.
    szi, mark = 0.5, float(sim.universe["BTC"].mid(START_MS))
    assert value + szi * (liq - mark) == pytest.approx(szi * liq / 80, rel=1e-6)
    assert mark * 0.9 < liq < mark


def test_the_account_is_liquidated_at_the_mark_when_it_breaks_maintenance(sim):
    signer = Signer(sim)
    market = sim.universe["BTC"]
    mid = market.mid(START_MS)
    assert "filled" in signer.order("BTC", True, str(int(mid * 1.01)), "0.6")
    liq = float(_state(signer)["assetPositions"][0]["position"]["liquidationPx"])
    market.ensure(START_MS + 48 * HOUR_MS)
    times, prices = path_points(market, START_MS, START_MS + 48 * HOUR_MS)
    crossing = first_touch(times, prices, liq, from_above=True)
    assert crossing is not None, "pick a seed whose path falls far enough"
    # Hourly funding moves the account value a little, so the breach comes near (not exactly at) the first estimate.
    sim.fake_clock.set(crossing + 6 * HOUR_MS)
    state = _state(signer)
    assert state["assetPositions"] == []
    fill = signer.info({"type": "userFills", "user": TRADER.address})[0]
    assert fill["dir"] == "Close Long" and fill["liquidation"]["method"] == "market"
    assert fill["liquidation"]["liquidatedUser"] == TRADER.address.lower()
    assert abs(float(fill["px"]) / liq - 1) < 0.003 and fill["time"] >= crossing - 2 * HOUR_MS
    assert fill["px"] == fill["liquidation"]["markPx"]  # closed at the mark
    updates = signer.info({"type": "userNonFundingLedgerUpdates", "user": TRADER.address, "startTime": 0})
    delta = updates[-1]["delta"]
    assert delta["type"] == "liquidation" and delta["leverageType"] == "Cross"
    # It broke maintenance (1.25% of notional at BTC's first tier) right then, and not before.
    assert float(delta["accountValue"]) < float(delta["liquidatedNtlPos"]) / 80
    assert float(delta["accountValue"]) > float(delta["liquidatedNtlPos"]) / 80 - 5
    assert float(state["marginSummary"]["accountValue"]) > 0  # caught above zero, as maintenance is meant to
    streamed = [kind for _, kind, _ in sim.streams.users[TRADER.address.lower()]]
    assert "liquidation" in streamed and "fill" in streamed  # what userEvents and userFills send


def test_an_isolated_position_is_liquidated_alone(sim):
    signer = Signer(sim)
    action = {"type": "updateLeverage", "asset": 0, "isCross": False, "leverage": 40}
    assert signer.post(signer.body(action))["status"] == "ok"
    mid = sim.universe["BTC"].mid(START_MS)
    assert "filled" in signer.order("BTC", True, str(int(mid * 1.01)), "0.05")  # ~$3k notional, ~$75 margin
    position = _state(signer)["assetPositions"][0]["position"]
    assert position["leverage"]["type"] == "isolated" and float(position["marginUsed"]) < 80
    liq = float(position["liquidationPx"])
    assert mid * 0.97 < liq < mid  # 40x isolated: about 2.5% - 1.25% below entry
    market = sim.universe["BTC"]
    market.ensure(START_MS + 48 * HOUR_MS)
    times, prices = path_points(market, START_MS, START_MS + 48 * HOUR_MS)
    crossing = first_touch(times, prices, liq, from_above=True)
    assert crossing is not None
    sim.fake_clock.set(crossing + 6 * HOUR_MS)
    state = _state(signer)
    assert state["assetPositions"] == [] and float(state["marginSummary"]["accountValue"]) > 1_900  # only its margin lost
