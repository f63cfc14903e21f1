"""Provides the WebSocket feed's closed bars: what each coin's `candle` stream proved final since the connection opened.

The stream pushes the forming bar on every change, and a bar's last push before the first push of a
later bar is its final form (the stream is ordered). So a bar counts as closed only once a row of a
later bar has arrived on the same connection: a forming bar is never handed out as closed (candles
are stored INSERT OR IGNORE, and a wrong bar would never be corrected). A new connection, a missing
bar or a row out of order forgets what was held, and whoever asks fetches those bars elsewhere (REST).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from perpbot.data.records import CandleRow
from perpbot.data.ws_wire import WsCandle

KEEP_BARS = 8
"""Final rows kept per coin: a tick needs one; a few cover a tick that ran late."""


@dataclass(slots=True)
class _Coin:
    final: deque[tuple[int, CandleRow]] = field(default_factory=lambda: deque(maxlen=KEEP_BARS))  # contiguous
    forming: WsCandle | None = None  # the latest row of the newest bar: not final yet


class CandleBook:
    """Per coin, the final bars (a contiguous run, the newest KEEP_BARS) and the forming bar's latest row.

    Args:
        coins: the coins subscribed (rows of others are ignored).
        interval: the subscription's interval ("15m").
        step_ms: its length in ms (only fixed-length intervals).
    """

    def __init__(self, coins: list[str], interval: str, step_ms: int) -> None:
        self.interval, self.step_ms = interval, step_ms
        self._coins = {coin: _Coin() for coin in coins}
        self._lock = threading.Lock()  # rows arrive on the feed thread, ticks read on theirs

    def reset(self) -> None:
        """Forget everything: a new connection has proven nothing yet."""
        with self._lock:
            for coin in self._coins:
                self._coins[coin] = _Coin()

    def add(self, candle: WsCandle) -> None:
        """Take one push, in the order the stream delivered it."""
        if candle.interval != self.interval:
            return
        with self._lock:
            held = self._coins.get(candle.coin)
            if held is None:
                return
            forming = held.forming
            if forming is None or candle.t == forming.t:
                held.forming = candle
            elif candle.t == forming.t + self.step_ms:  # the next bar: the one before it is final
                held.final.append((forming.t, forming.row))
                held.forming = candle
            elif candle.t > forming.t:  # a bar never arrived: what came before is no longer contiguous
                held.final.clear()
                held.forming = candle
            else:  # out of order: the stream is not what we rely on; start over from the next row
                held.final.clear()
                held.forming = None

    def closed(self, coin: str, after_t: int, upto_t: int) -> list[CandleRow] | None:
        """The final rows of every bar opening in (after_t, upto_t], or None unless all of them are held."""
        with self._lock:
            held = self._coins.get(coin)
            if held is None or not held.final or upto_t <= after_t:
                return None
            first, last = held.final[0][0], held.final[-1][0]
            if first > after_t + self.step_ms or last < upto_t or (upto_t - after_t) % self.step_ms:
                return None
            rows = [row for t, row in held.final if after_t < t <= upto_t]
        return rows if rows and rows[0][2] == after_t + self.step_ms else None
