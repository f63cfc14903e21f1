"""The candle streams' finality rule (data/ws_bars.py): a bar is closed only once a later bar's row arrived
on the same connection; a reconnect, a missing bar or a row out of order makes the reader fetch instead."""

from __future__ import annotations

import json

from perpbot.data.ws_bars import KEEP_BARS, CandleBook
from perpbot.data.ws_wire import WsCandle, candle_subscriptions, parse_message

STEP = 900_000  # 15m
T0 = 1_704_067_200_000


def push(coin: str, t: int, close: float, interval: str = "15m") -> WsCandle:
    frame = json.dumps({"channel": "candle", "data": {"t": t, "T": t + STEP - 1, "s": coin, "i": interval,
                                                        "o": "100.5", "c": str(close), "h": "101", "l": "99.25",
                                                        "v": "12.5", "n": 7}})
    kind, candle = parse_message(frame)
    assert kind == "candle"
    return candle


def book() -> CandleBook:
    return CandleBook(["BTC", "ETH"], "15m", STEP)


def test_a_push_is_read_as_the_candle_snapshot_row():
    candle = push("BTC", T0, 100.75)
    assert candle.row == ("BTC", "15m", T0, 100.5, 101.0, 99.25, 100.75, 12.5, 7)
    assert (candle.t, candle.close_t) == (T0, T0 + STEP - 1)
    assert parse_message('{"channel":"candle","data":{"t":1,"s":"BTC"}}')[0] == "malformed"
    assert json.loads(candle_subscriptions(["BTC"], "15m")[0]) == {
        "method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "15m"}}


def test_a_bar_is_final_only_once_a_later_bar_arrived():
    b = book()
    b.add(push("BTC", T0, 100.0))
    b.add(push("BTC", T0, 100.5))  # the forming bar changes: still not final
    assert b.closed("BTC", T0 - STEP, T0) is None
    b.add(push("BTC", T0 + STEP, 101.0))  # the next bar's first row: T0's last row is its final form
    assert b.closed("BTC", T0 - STEP, T0) == [push("BTC", T0, 100.5).row]
    assert b.closed("BTC", T0, T0 + STEP) is None  # the bar now forming
    assert b.closed("ETH", T0 - STEP, T0) is None  # nothing streamed for ETH


def test_several_bars_and_only_those_asked_for():
    b = book()
    for i in range(5):
        b.add(push("BTC", T0 + i * STEP, 100.0 + i))
    assert [r[2] for r in b.closed("BTC", T0, T0 + 3 * STEP)] == [T0 + STEP, T0 + 2 * STEP, T0 + 3 * STEP]
    assert b.closed("BTC", T0 - 2 * STEP, T0 + STEP) is None  # T0 - STEP was never streamed
    assert b.closed("BTC", T0 + 3 * STEP, T0 + 3 * STEP) is None  # nothing asked for
    assert b.closed("BTC", T0 + 1, T0 + 2 * STEP) is None  # not on the bar grid


def test_a_missing_bar_forgets_what_came_before_it():
    b = book()
    b.add(push("BTC", T0, 100.0))
    b.add(push("BTC", T0 + STEP, 101.0))
    b.add(push("BTC", T0 + 3 * STEP, 103.0))  # T0 + 2 STEP never came
    assert b.closed("BTC", T0 - STEP, T0) is None
    assert b.closed("BTC", T0 + STEP, T0 + 2 * STEP) is None
    b.add(push("BTC", T0 + 4 * STEP, 104.0))
    assert [r[2] for r in b.closed("BTC", T0 + 2 * STEP, T0 + 3 * STEP)] == [T0 + 3 * STEP]


def test_a_row_out_of_order_starts_over():
    b = book()
    b.add(push("BTC", T0, 100.0))
    b.add(push("BTC", T0 + STEP, 101.0))
    b.add(push("BTC", T0, 99.0))  # an older bar again: nothing held is trusted
    assert b.closed("BTC", T0 - STEP, T0) is None
    b.add(push("BTC", T0 + STEP, 101.5))  # starts afresh: forming, not final
    assert b.closed("BTC", T0, T0 + STEP) is None


def test_a_new_connection_has_proven_nothing():
    b = book()
    b.add(push("BTC", T0, 100.0))
    b.add(push("BTC", T0 + STEP, 101.0))
    b.reset()
    assert b.closed("BTC", T0 - STEP, T0) is None
    b.add(push("BTC", T0 + STEP, 101.0))  # the first row after the reconnect: forming
    b.add(push("BTC", T0 + 2 * STEP, 102.0))
    assert [r[6] for r in b.closed("BTC", T0, T0 + STEP)] == [101.0]


def test_other_intervals_and_coins_are_ignored_and_the_run_is_bounded():
    b = book()
    b.add(push("BTC", T0, 100.0, interval="1h"))
    b.add(push("DOGE", T0, 1.0))
    assert b.closed("DOGE", T0 - STEP, T0) is None
    for i in range(KEEP_BARS + 5):
        b.add(push("BTC", T0 + i * STEP, 100.0 + i))
    newest = T0 + (KEEP_BARS + 3) * STEP  # the last final bar (the one after it is forming)
    assert len(b.closed("BTC", newest - KEEP_BARS * STEP, newest)) == KEEP_BARS
    assert b.closed("BTC", newest - (KEEP_BARS + 1) * STEP, newest) is None  # older than what is kept
