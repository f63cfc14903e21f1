"""Live maker orders (issue 19) through the engine against the simulator on loopback: an entry rests
as a post-only order with its stop armed, fills as maker in parts (the simulator fills a resting order
up to the size shown at the touch), is under a stop of the filled size from the first fill; a
crossing Alo is rejected and sent at the touch; a daemon killed with an order resting finds it again
at restart (no orphan cancel, no second order)."""

from __future__ import annotations

import pytest

from perpbot.clock import HOUR_MS
from perpbot.execution.resting import ENTRY, MakerOrder
from perpbot.models import Side

from engine_harness import START_MS
from live_engine_harness import (
    drive_checked,
    fills,
    info,
    live_engine,
    live_settings,
    orders_with_cloid,
    positions_on_exchange,
    stops_on_exchange,
)

MAKER = {"entry_order": "maker", "maker_timeout_bars": 6}
BIG = {"sizing": "fixed", "notional_usd": 60_000}  # beyond the simulator's ~$20k at the touch: filled in parts


def maker_protected(engine, sim) -> None:
    """Every position is a trade under one stop of its size; every other open order of the account is
    a resting maker order of the bot or the stop armed with it."""
    trader = engine.executor.trader
    trades = {t.symbol: t for t in engine.executor.open_trades()}
    stops = stops_on_exchange(sim)
    for symbol, szi in positions_on_exchange(sim).items():
        trade = trades[symbol]
        assert trade.size == abs(szi) and float(stops[symbol]["sz"]) == trade.size, (symbol, szi, stops.get(symbol))
    resting = {o.cloid for o in engine.executor.resting()}
    allowed = resting | {trader.book.stop_cloid(c) for c in resting} | {
        trader.book.stop_cloid(t.entry_cloid) for t in trades.values()}
    assert {o["cloid"] for o in info(sim, "openOrders")} <= allowed


def kill(engine) -> None:
    """kill -9: the engine's connections go, nothing is canceled and nothing more is written."""
    engine.data.close()
    for closer in engine.closers:
        closer()


def test_a_resting_entry_fills_in_parts_as_maker_under_a_stop_of_what_filled(sim, tmp_path):
    events: list = []
    engine = live_engine(sim, live_settings(sim, tmp_path, execution=MAKER, risk=BIG), events)
    sizes: list[tuple[float, float]] = []

    def partly_then_fully() -> bool:
        for order in engine.executor.resting():
            trade = engine.store.trade_by_cloid(order.cloid)
            if trade is not None:
                sizes.append((trade.size, order.size))
        return any(s < o for s, o in sizes) and any(t.entry_cloid and t.size >= 59_000 / t.entry_price
                                                    for t in engine.store.recent_trades(10, mode="live"))
    try:
        drive_checked(engine, sim, START_MS + 8 * HOUR_MS, poll_s=20, done=partly_then_fully, check=maker_protected)
        assert any(s < o for s, o in sizes), "no partial fill seen"
        trade = next(t for t in engine.store.recent_trades(10, mode="live") if t.size >= 59_000 / t.entry_price)
        own = [f for f in fills(sim) if f.get("cloid") == trade.entry_cloid]
        assert len(own) >= 2 and all(f["crossed"] is False for f in own)  # several maker fills of one order
        size = sum(float(f["sz"]) for f in own)  # each at the order's limit then (re-priced between fills)
        assert trade.size == pytest.approx(size)
        assert trade.entry_price == pytest.approx(sum(float(f["px"]) * float(f["sz"]) for f in own) / size)
        assert trade.fees == pytest.approx(sum(float(f["fee"]) for f in own))
        rows = {r["cloid"]: r for r in engine.store.maker_orders("live")}
        assert rows[trade.entry_cloid]["outcome"] == "filled"
        # The bot's own maker fills are told as trades (one trade_open per trade), not as reconciliations.
        opened = [f for e, f in events if e == "trade_open"]
        assert len(opened) == len(engine.store.recent_trades(100, mode="live"))
        assert sum(f["symbol"] == trade.symbol and f["size"] <= trade.size for f in opened) >= 1
        assert not [f for e, f in events if e == "reconciliation" and "by the bot" in f.get("text", "")]
    finally:
        engine.close()
    # Stopping the engine canceled what rested; what is left are the positions' stops.
    assert [o for o in info(sim, "frontendOpenOrders") if not o["isTrigger"]] == []


def test_a_crossing_post_only_entry_is_sent_again_at_the_touch(sim, tmp_path):
    engine = live_engine(sim, live_settings(sim, tmp_path, execution=MAKER))
    try:
        engine.start()
        book = sim.http.post("/info", json={"type": "l2Book", "coin": "ETH"}).json()
        bid, ask = (float(side[0]["px"]) for side in book["levels"])
        cloid = engine.executor.entry_cloid("ETH", Side.LONG, 1)
        order = MakerOrder(ENTRY, "ETH", "long", 0.5, ask + 1.0, sim.now_ms(), "entry:z", cloid)
        placed = engine.executor.rest(order, sim.now_ms())
        assert placed is not None and placed.limit == bid and placed.cloid != cloid
        assert [o.status for o in orders_with_cloid(sim, cloid)] == ["badAloPxRejected"]
        [resting] = [o for o in info(sim, "frontendOpenOrders") if o["cloid"] == placed.cloid]
        assert (resting["tif"], float(resting["limitPx"])) == ("Alo", bid)
        assert engine.executor.resting() == [placed] and engine._open_symbols() == ["ETH"]
        moved = engine.executor.reprice(placed, bid - 1.0, sim.now_ms())  # a modify: the same cloid
        assert moved is not None and [o.status for o in orders_with_cloid(sim, placed.cloid)][-1] == "open"
        assert float(next(o for o in info(sim, "openOrders") if o["cloid"] == placed.cloid)["limitPx"]) == bid - 1.0
    finally:
        engine.close()
    assert [o for o in info(sim, "frontendOpenOrders") if o["coin"] == "ETH"] == []  # the stop went with the entry


def test_a_post_only_order_that_crosses_again_at_the_touch_waits_for_the_next_close(sim, tmp_path):
    """A fast market: the order crossed at its limit and again at the touch. Not a fault (no error alert):
    nothing rests, the coin is free, and the next close decides anew."""
    events: list = []
    engine = live_engine(sim, live_settings(sim, tmp_path, execution=MAKER), events)
    try:
        engine.start()
        book = sim.http.post("/info", json={"type": "l2Book", "coin": "ETH"}).json()
        ask = float(book["levels"][1][0]["px"])
        cloid = engine.executor.entry_cloid("ETH", Side.LONG, 2)
        order = MakerOrder(ENTRY, "ETH", "long", 0.5, ask + 1.0, sim.now_ms(), "entry:z", cloid)
        assert engine.executor.trader.maker._send(order, sim.now_ms(), retry=False) is None  # the second try
        assert engine.executor.resting() == [] and engine._open_symbols() == []
        assert not [f for e, f in events if e == "error"]
    finally:
        engine.close()


def test_killed_with_an_order_resting_then_restarted(sim, tmp_path):
    settings = live_settings(sim, tmp_path, execution={**MAKER, "maker_fill_ticks": 1})
    dying = live_engine(sim, settings)
    drive_checked(dying, sim, START_MS + 8 * HOUR_MS, poll_s=20, done=lambda: bool(dying.executor.resting()),
                  check=maker_protected)
    resting = dying.executor.resting()
    matcher = sim.exchange.matcher
    matcher.maker_fill_ticks = 10**6  # a quiet market while the bot is down and restarting: nothing fills
    kill(dying)
    assert all(orders_with_cloid(sim, o.cloid)[-1].status == "open" for o in resting)
    sim.fake_clock.advance(45)  # the watchdog restarts it
    again = live_engine(sim, settings)
    try:
        again.start()  # startup reconciliation: the resting orders are the bot's, not orphans
        still = again.executor.resting()
        assert still == resting
        for order in resting:
            assert orders_with_cloid(sim, order.cloid)[-1].status == "open"
            assert again.store.trade_by_cloid(order.cloid) is None
        assert {o.symbol for o in still} <= set(again._open_symbols())
        maker_protected(again, sim)
        matcher.maker_fill_ticks = 1
        drive_checked(again, sim, sim.now_ms() + 2 * HOUR_MS, poll_s=20, check=maker_protected)
        for order in resting:  # no second entry for the decisions it died with
            entries = [o for o in sim.ledger.orders.values() if o.coin == order.symbol and not o.reduce_only
                       and o.timestamp <= order.placed_ms + 10 * 60_000]
            assert len({o.cloid for o in entries}) == 1
        opens = [f for f in fills(sim) if f["dir"].startswith("Open")]
        trades = again.store.recent_trades(100, mode="live")
        assert len({f["cloid"] for f in opens}) == len(trades)  # each entry order one trade, whatever its fills
    finally:
        again.close()
