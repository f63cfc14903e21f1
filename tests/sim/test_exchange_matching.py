"""The simulator's matching as time runs: stops and resting orders fire where the path reaches them; depth, fees, funding."""

from __future__ import annotations

import eth_account
import numpy as np
import pytest
from exchange_signer import TRADER, Signer

from perpbot.clock import HOUR_MS, FakeClock
from perpbot.sim.assets import round_px_one, tick_size
from perpbot.sim.ledger import MAKER_FEE, TAKER_FEE
from perpbot.sim.path import first_touch, path_points
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 20 * 60_000 + 1_234
WHALE = eth_account.Account.from_key("0x" + "44" * 32)


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=9, history_days=0.2, start_ms=START_MS,
                      funds={TRADER.address: 100_000.0, WHALE.address: 50_000_000.0})
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def _level_reached(sim, coin: str, hours: float, below: bool) -> tuple[float, int, int]:
    """A valid price the mid reaches (falling to it if below) within `hours`, when it first does, and a
    time shortly before at which the mid is still clearly (two ticks) short of it."""
    market = sim.universe[coin]
    now = sim.now_ms()
    market.ensure(now + int(hours * HOUR_MS))
    times, prices = path_points(market, now, now + int(hours * HOUR_MS))
    mid = float(prices[0])
    extreme = float(prices.min() if below else prices.max())
    level = round_px_one(mid + (extreme - mid) * 0.6, market.meta.sz_decimals)
    crossing = first_touch(times, prices, level, from_above=below)
    margin = 2 * tick_size(level, market.meta.sz_decimals)
    clear = (prices >= level + margin) if below else (prices <= level - margin)
    before = int(times[(times < crossing) & clear][-1])
    return level, crossing, before


def _state(signer, user=TRADER.address) -> dict:
    return signer.info({"type": "clearinghouseState", "user": user})


def test_a_stop_loss_fires_where_the_path_first_crosses_it(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    assert "filled" in signer.order("ETH", True, f"{round(mid * 1.01, 1)}", "2")
    trigger, crossing, before = _level_reached(sim, "ETH", 6, below=True)
    stop = signer.trigger("ETH", False, f"{trigger}", "2")
    assert "resting" in stop
    sim.fake_clock.set(before)
    assert _state(signer)["assetPositions"] != []
    sim.fake_clock.advance(6 * 3600)
    assert _state(signer)["assetPositions"] == []
    status = signer.info({"type": "orderStatus", "user": TRADER.address, "oid": stop["resting"]["oid"]})
    # Between `before` and the crossing: the mid the exchange shows is tick-rounded, so it can print the
    # trigger price a little before the unrounded path gets there.
    fired = status["order"]["statusTimestamp"]
    assert status["order"]["status"] == "filled" and before < fired <= crossing + 5
    fill = signer.info({"type": "userFills", "user": TRADER.address})[0]
    assert fill["time"] == fired and fill["dir"] == "Close Long" and fill["crossed"] is True
    assert abs(float(fill["px"]) / trigger - 1) < 0.002  # a market sell into the bids at the trigger
    assert float(fill["fee"]) == pytest.approx(float(fill["px"]) * 2 * TAKER_FEE, abs=1e-6)


def _through(sim, coin: str, level: float, below: bool) -> int:
    """When the path first trades one tick through `level` (the default fill rule of a resting limit)."""
    market = sim.universe[coin]
    now = sim.now_ms()
    times, prices = path_points(market, now, now + 6 * HOUR_MS)
    tick = tick_size(level, market.meta.sz_decimals)
    return first_touch(times, prices, level - tick if below else level + tick, from_above=below)


@pytest.mark.parametrize("tif", ["Gtc", "Alo"])
def test_a_resting_limit_fills_in_full_at_its_price_as_maker_once_traded_through(sim, tif):
    signer = Signer(sim)
    level, _, _ = _level_reached(sim, "SOL", 6, below=False)
    through = _through(sim, "SOL", level, below=False)
    resting = signer.order("SOL", False, f"{level}", "10", tif=tif)
    assert "resting" in resting
    (shown,) = signer.info({"type": "frontendOpenOrders", "user": TRADER.address})
    assert (shown["tif"], shown["limitPx"]) == (tif, str(level))
    sim.fake_clock.advance(6 * 3600)
    [fill] = signer.info({"type": "userFills", "user": TRADER.address})
    assert (fill["px"], fill["sz"], fill["crossed"]) == (str(level), "10.0", False) and abs(fill["time"] - through) <= 5
    assert float(fill["fee"]) == pytest.approx(level * 10 * MAKER_FEE, abs=1e-6)
    assert signer.info({"type": "openOrders", "user": TRADER.address}) == []


def test_on_touch_a_resting_limit_fills_where_the_path_reaches_it():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=9, history_days=0.2, start_ms=START_MS, funds={TRADER.address: 100_000.0},
                      maker_fill_ticks=0)
    with SimServer(opts, port=0, clock=clock) as server:
        signer = Signer(server)
        level, crossing, _ = _level_reached(server, "SOL", 6, below=False)
        assert "resting" in signer.order("SOL", False, f"{level}", "10", tif="Gtc")
        clock.advance(6 * 3600)
        [fill] = signer.info({"type": "userFills", "user": TRADER.address})
        assert fill["px"] == str(level) and abs(fill["time"] - crossing) <= 5


def test_a_limit_inside_the_spread_does_not_fill_at_its_placement():
    """Issue 17's leftover: a buy at the mid (above the bid, below the ask) rests. Even on touch (the
    loosest rule) the mid being at its price when it is placed is no trade at it: it fills only once
    the path has moved away and come back."""
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=9, history_days=0.2, start_ms=START_MS, funds={TRADER.address: 100_000.0},
                      maker_fill_ticks=0)
    with SimServer(opts, port=0, clock=clock) as server:
        signer = Signer(server)
        book = signer.info({"type": "l2Book", "coin": "BTC"})
        bid, ask = (float(side[0]["px"]) for side in book["levels"])
        placed = server.now_ms()
        mid = server.universe["BTC"].mid(placed)
        assert bid < mid < ask
        assert "resting" in signer.order("BTC", True, f"{mid:g}", "0.01", tif="Alo")
        clock.advance(120)
        times, prices = path_points(server.universe["BTC"], placed, server.now_ms())
        fills = signer.info({"type": "userFills", "user": TRADER.address})
        assert [float(f["px"]) for f in fills] == [mid]
        above = int(times[np.argmax(prices > mid)])
        assert fills[0]["time"] > above > placed  # the path rose above the bid first, then came back to it


def test_a_big_ioc_walks_the_book_and_fills_partially(sim):
    whale = Signer(sim, WHALE)
    book = whale.info({"type": "l2Book", "coin": "BTC"})
    asks = book["levels"][1]
    limit = float(asks[5]["px"])
    visible = round(sum(float(a["sz"]) for a in asks[:6]), 5)
    filled = whale.order("BTC", True, f"{limit:g}", f"{visible * 3:.5f}")["filled"]
    assert float(filled["totalSz"]) == pytest.approx(visible)
    assert float(asks[0]["px"]) < float(filled["avgPx"]) < limit  # slippage: paid up through six levels
    status = whale.info({"type": "orderStatus", "user": WHALE.address, "oid": filled["oid"]})["order"]
    assert status["status"] == "canceled" and float(status["order"]["sz"]) == pytest.approx(visible * 2)
    fills = whale.info({"type": "userFills", "user": WHALE.address})
    assert [float(f["px"]) for f in reversed(fills)] == [float(a["px"]) for a in asks[:6]]


def test_funding_is_settled_every_hour_on_open_positions(sim):
    signer = Signer(sim)
    mid = sim.universe["BTC"].mid(sim.now_ms())
    assert "filled" in signer.order("BTC", False, f"{int(mid * 0.99)}", "0.5")
    sim.fake_clock.advance(2 * 3600)
    market = sim.universe["BTC"]
    first_hour = (START_MS // HOUR_MS + 1) * HOUR_MS
    expected = 0.0
    for hour in (first_hour, first_hour + HOUR_MS):
        i = int(market.funding_t.searchsorted(hour))
        expected += -0.5 * market.mid(hour) * float(market.funding_rate[i])
    [position] = _state(signer)["assetPositions"]
    assert float(position["position"]["cumFunding"]["sinceOpen"]) == pytest.approx(expected, abs=1e-5)
    assert expected != 0


def test_closing_a_position_cancels_its_reduce_only_stop(sim):
    signer = Signer(sim)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    assert "filled" in signer.order("ETH", False, f"{round(mid * 0.99, 1)}", "1")
    stop = signer.trigger("ETH", True, f"{round(mid * 1.05, 1)}", "1")["resting"]["oid"]
    closed = signer.order("ETH", True, f"{round(mid * 1.01, 1)}", "1", reduce_only=True)
    assert "filled" in closed
    status = signer.info({"type": "orderStatus", "user": TRADER.address, "oid": stop})["order"]["status"]
    assert status == "reduceOnlyCanceled"
    assert signer.info({"type": "frontendOpenOrders", "user": TRADER.address}) == []


def test_a_crossing_post_only_order_is_rejected_with_the_exchange_text(sim):
    signer = Signer(sim)
    book = signer.info({"type": "l2Book", "coin": "BTC"})
    bid, ask = (side[0]["px"] for side in book["levels"])
    assert signer.order("BTC", True, ask, "0.01", tif="Alo") == {
        "error": f"Post only order would have immediately matched, bbo was {float(bid):g}@{float(ask):g}. asset=0"}
    assert signer.info({"type": "openOrders", "user": TRADER.address}) == []
    assert signer.info({"type": "userFills", "user": TRADER.address}) == []
