"""Issue 14's reproductions of trading by hand, kills and a second bot, live on the simulator; the owner
trades with the official SDK on the account the bot trades with its API wallet."""

from __future__ import annotations

import pytest

from perpbot import crashpoints
from perpbot.clock import HOUR_MS, MINUTE_MS
from perpbot.errors import ConfigError
from perpbot.data.db import Store
from perpbot.execution.cloids import cloid_instance
from perpbot.execution.live.book import KEY_INSTANCE

from engine_harness import START_MS
from hand_trader import HandTrader
from live_engine_harness import (
    LIVE_KEY,
    assert_protected,
    drive_checked,
    fills,
    info,
    live_engine,
    live_settings,
    positions_on_exchange,
    stops_on_exchange,
)


def _events_text(events: list, event: str = "reconciliation") -> str:
    return "\n".join(f["text"] for e, f in events if e == event)


def _realized_matches_the_exchange(engine, sim) -> None:
    """Realized pnl and fees in the ledger equal the exchange's fills."""
    exchange = fills(sim)
    trades = engine.store.recent_trades(10_000, mode="live")
    fees = sum(t.fees for t in trades)
    gross = sum(t.pnl + t.fees + t.funding for t in trades if not t.is_open)
    gross += sum(engine.store.close_legs(t.id).closed_pnl for t in trades if t.is_open)
    assert fees == pytest.approx(sum(float(f["fee"]) for f in exchange), abs=1e-6)
    assert gross == pytest.approx(sum(float(f["closedPnl"]) for f in exchange), abs=1e-6)


def test_hand_closes_and_a_hand_open_while_the_bot_was_down_start_cleanly(sim, tmp_path):
    """Reproduction 2: two positions closed by hand, one opened by hand on a coin the bot traded before,
    all while the bot was down: it starts, books each as `manual`, protects the new one, and says so."""
    settings = live_settings(sim, tmp_path, agent=True)
    engine = live_engine(sim, settings)
    drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: len(engine.executor.open_trades()) >= 2)
    held = [t.symbol for t in engine.executor.open_trades()]
    traded = {t.symbol for t in engine.store.recent_trades(100, mode="live")}
    engine.close()
    with HandTrader(sim, LIVE_KEY) as hand:
        for coin in held:
            hand.close_all(coin)
        fresh = sorted(traded - set(held))[:1] or [held[0]]
        sim.fake_clock.advance(60)
        hand.market(fresh[0], True, 2000 / sim.universe[fresh[0]].mid(sim.now_ms()))
    sim.fake_clock.advance(60)
    events: list = []
    again = live_engine(sim, settings, events)
    try:
        closed = {t.symbol: t for t in again.store.closed_trades(mode="live") if t.exit_reason == "manual"}
        assert set(held) <= set(closed)
        [opened] = again.executor.open_trades()
        assert opened.symbol == fresh[0] and opened.entry_reason == "manual" and opened.size == positions_on_exchange(
            sim)[fresh[0]]
        assert_protected(again, sim)
        text = _events_text(events)
        assert "closed (manual) by hand" in text and "a position opened by hand" in text
        _realized_matches_the_exchange(again, sim)
        drive_checked(again, sim, sim.now_ms() + 2 * HOUR_MS)
    finally:
        again.close()


def test_a_position_increased_by_hand_gets_a_stop_of_its_whole_size(sim, tmp_path):
    """Reproduction 6: increased by hand while the bot was down, then again while it runs."""
    settings = live_settings(sim, tmp_path, agent=True)
    engine = live_engine(sim, settings)
    drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
    [trade] = engine.executor.open_trades()[:1]
    engine.close()
    with HandTrader(sim, LIVE_KEY) as hand:
        hand.market(trade.symbol, trade.side.value == "long", trade.size / 2)
        events: list = []
        again = live_engine(sim, settings, events)
        try:
            assert_protected(again, sim)  # one stop, of the whole (grown) size
            assert "position increased by hand" in _events_text(events)
            sim.fake_clock.advance(30)
            hand.market(trade.symbol, trade.side.value == "long", trade.size / 2)
            again.executor.sync(sim.now_ms(), force=True)
            assert_protected(again, sim)
            assert float(stops_on_exchange(sim)[trade.symbol]["sz"]) == abs(positions_on_exchange(sim)[trade.symbol])
            assert abs(positions_on_exchange(sim)[trade.symbol]) > 1.9 * trade.size
            _realized_matches_the_exchange(again, sim)
        finally:
            again.close()


def test_stops_canceled_or_moved_by_hand_and_a_flip(sim, tmp_path):
    settings = live_settings(sim, tmp_path, agent=True)
    events: list = []
    engine = live_engine(sim, settings, events)
    try:
        drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        [trade] = engine.executor.open_trades()[:1]
        with HandTrader(sim, LIVE_KEY) as hand:
            assert hand.cancel_stops(trade.symbol) == 1
            engine.executor.sync(sim.now_ms(), force=True)
            assert_protected(engine, sim)
            assert "stop placed" in _events_text(events)
            moved = hand.move_stop(trade.symbol, 0.99 if trade.side.value == "long" else 1.01)
            engine.executor.sync(sim.now_ms(), force=True)
            assert "moved by hand" in _events_text(events)
            assert engine.executor.open_trades()[0].stop_price == moved  # kept where the owner put it
            assert_protected(engine, sim)
            hand.flip(trade.symbol)
            engine.executor.sync(sim.now_ms(), force=True)
            [flipped] = [t for t in engine.executor.open_trades() if t.symbol == trade.symbol]
            assert flipped.side is not trade.side and flipped.entry_reason == "manual"
            assert engine.store.trade_by_id(trade.id).exit_reason == "manual"
            assert_protected(engine, sim)
            _realized_matches_the_exchange(engine, sim)
    finally:
        engine.close()


def test_a_stop_of_the_owners_that_covers_the_position_is_its_stop(sim, tmp_path):
    """QA finding 5: the bot's stop moved with the SDK's default modify_order (no cloid), and a position opened
    by hand under the owner's own stop: each stop is kept where the owner put it, and the bot adds none."""
    settings = live_settings(sim, tmp_path, agent=True)
    events: list = []
    engine = live_engine(sim, settings, events)
    try:
        drive_checked(engine, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(engine.executor.open_trades()))
        [trade] = engine.executor.open_trades()[:1]
        with HandTrader(sim, LIVE_KEY) as hand:
            moved = hand.move_stop(trade.symbol, 0.99 if trade.side.value == "long" else 1.01, keep_cloid=False)
            engine.executor.sync(sim.now_ms(), force=True)
            [stop] = hand.stops(trade.symbol)
            assert stop["cloid"] is None and float(stop["triggerPx"]) == moved and float(stop["sz"]) == trade.size
            assert engine.store.trade_by_id(trade.id).stop_price == moved
            assert "covers the position: kept there" in _events_text(events)
            engine.executor.sync(sim.now_ms() + 1, force=True)
            assert len(hand.stops(trade.symbol)) == 1  # and stays the only one

            coin = next(c for c in ("BTC", "ETH", "SOL") if c not in positions_on_exchange(sim))
            hand.market(coin, True, 2_000 / float(hand.info.all_mids()[coin]))
            own = hand.place_stop(coin, 0.97)
            engine.executor.sync(sim.now_ms(), force=True)
            [adopted] = [t for t in engine.executor.open_trades() if t.symbol == coin]
            [stop] = hand.stops(coin)
            assert stop["cloid"] is None and float(stop["triggerPx"]) == own == adopted.stop_price
            hand.cancel_stops(coin)  # the owner's stop gone: the bot's own goes in, where the owner had it
            engine.executor.sync(sim.now_ms(), force=True)
            [stop] = hand.stops(coin)
            assert stop["cloid"] is not None and float(stop["triggerPx"]) == own
            assert float(stop["sz"]) == abs(positions_on_exchange(sim)[coin])
    finally:
        engine.close()


class Killed(BaseException):
    """The daemon process died here."""


def test_killed_right_after_the_entry_fill_the_position_is_already_protected(sim, tmp_path):
    """Reproduction 4: the stop goes out with the entry, so a kill before anything is booked leaves no
    naked position; the restart books it and re-centres the stop on the fill."""
    settings = live_settings(sim, tmp_path)
    dying = live_engine(sim, settings)

    def die(name: str) -> None:
        if name == "entry_sent" and positions_on_exchange(sim):  # an entry that filled
            raise Killed

    crashpoints.arm(die)
    try:
        with pytest.raises(Killed):
            drive_checked(dying, sim, START_MS + 12 * HOUR_MS)
    finally:
        crashpoints.arm(None)
    [coin] = positions_on_exchange(sim)
    assert float(stops_on_exchange(sim)[coin]["sz"]) == abs(positions_on_exchange(sim)[coin])
    sim.fake_clock.advance(10 * 60)  # down for ten minutes: protected all along
    again = live_engine(sim, settings)
    try:
        assert_protected(again, sim)
        [trade] = again.store.recent_trades(10, mode="live")
        if trade.is_open:  # re-centred on the fill
            assert trade.stop_price == again.executor.trader.stop_price(trade.symbol, trade.side, trade.entry_price)
        else:  # the attached stop fired while the bot was down, and is booked as such
            assert trade.exit_reason == "stop_loss" and coin not in positions_on_exchange(sim)
    finally:
        again.close()


def test_a_second_bot_on_the_account_is_refused_and_may_take_it_over(sim, tmp_path):
    """Reproduction 5: another daemon (its own database) on the same account refuses to start, naming
    what it saw; with --adopt-account it takes over, and the first one stops entering."""
    first = live_engine(sim, live_settings(sim, tmp_path, db="first.db"))
    drive_checked(first, sim, START_MS + 12 * HOUR_MS, done=lambda: bool(first.executor.open_trades()))
    second_settings = live_settings(sim, tmp_path, db="second.db")
    with pytest.raises(ConfigError, match="another perp-bot trades this account") as err:
        live_engine(sim, second_settings)
    assert first.executor.trader.guard.instance.id in str(err.value) and "--adopt-account" in err.value.hint
    events: list = []
    second = live_engine(sim, second_settings, events, adopt_account=True)
    try:
        assert "account taken over" in _events_text(events)
        assert_protected(second, sim)  # the first bot's stop canceled, its position adopted with one stop
        sim.fake_clock.advance(5 * MINUTE_MS)
        first.executor.sync(sim.now_ms(), force=True)
        assert any("another perp-bot trades this account" in b for b in first.executor.entry_blocks())
    finally:
        second.close()
        first.close()


@pytest.mark.parametrize("first", ["a", "b"])  # which bot's instance id sorts first (and keeps its stop)
def test_two_bots_started_on_a_flat_account_both_stand_down_with_one_stop_per_position(sim, tmp_path, first):
    """QA finding 2: two fresh databases on one flat account cannot see each other until one trades; a bot
    that sees the other's order or fill enters nothing more, alerts naming the other instance, and every
    position keeps exactly one stop (the instance whose id sorts first keeps its own, the other defers)."""
    events: dict[str, list] = {"a": [], "b": []}
    for name in "ab":  # fixed instance ids (fresh databases draw random ones)
        store = Store(tmp_path / f"{name}.db")
        store.set_state(KEY_INSTANCE, {"id": "111111" if name == first else "999999", "since": START_MS})
        store.close()
    bots = {name: live_engine(sim, live_settings(sim, tmp_path, db=f"{name}.db"), events[name]) for name in "ab"}
    ids = {name: e.executor.trader.guard.instance.id for name, e in bots.items()}
    clock, step = sim.fake_clock, bots["a"].step_ms
    ticks = {name: (clock.now_ms() // step + 1) * step for name in bots}

    def passes() -> None:
        for name, engine in bots.items():
            ticks[name], _ = engine.pass_once(ticks[name])
        positions, stops = positions_on_exchange(sim), stops_on_exchange_all(sim)
        assert set(stops) <= set(positions)
        for coin, szi in positions.items():
            assert len(stops.get(coin, [])) == 1 and float(stops[coin][0]["sz"]) == abs(szi), (coin, szi, stops)
        clock.set(min(min(ticks.values()), clock.now_ms() + 60_000))

    def entries_by(name: str) -> int:
        return len([o for o in sim.ledger.orders.values() if not o.reduce_only and cloid_instance(o.cloid) == ids[name]])

    try:
        while clock.now_ms() < START_MS + 24 * HOUR_MS and not any(e.executor.entry_blocks() for e in bots.values()):
            passes()
        down = [name for name, e in bots.items() if e.executor.entry_blocks()]
        assert down, "neither bot saw the other"
        sent = {name: entries_by(name) for name in down}
        for _ in range(36):  # three hours on: the bots that saw the other enter nothing more
            passes()
        for name in down:
            other = "b" if name == "a" else "a"
            loud = [f["text"] for e, f in events[name] if e == "error" and f["text"].startswith("STANDING DOWN")]
            assert len(loud) == 1 and ids[other] in loud[0] and ids[name] in loud[0]
            assert entries_by(name) == sent[name]
        for name in set(bots) - set(down):  # it never saw the other: the other never sent an order
            assert not [o for o in sim.ledger.orders.values() if cloid_instance(o.cloid) != ids[name]]
    finally:
        for engine in bots.values():
            engine.close()


def stops_on_exchange_all(sim) -> dict[str, list]:
    """Every reduce-only trigger on the account, by coin."""
    out: dict[str, list] = {}
    for order in info(sim, "frontendOpenOrders"):
        if order.get("isTrigger") and order.get("reduceOnly"):
            out.setdefault(order["coin"], []).append(order)
    return out
