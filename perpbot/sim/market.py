"""Provides one coin's simulated market: stored 1m bars, mids along each bar's path, candles, funding.

Bars come from the generator (extended lazily as the clock runs) or from a replayed file.
Candles of every interval are aggregated from the 1m bars; a bar is served once its open time
is <= now, and the bar still forming is built live (close = the current mid), exactly as the
exchange serves it, so consumers must drop bars whose close time T >= now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perpbot.clock import DAY_MS, HOUR_MS, INTERVAL_MS, MINUTE_MS
from perpbot.sim.assets import round_px, round_px_one
from perpbot.sim.model import CHUNK_MS, BarGenerator, Bars, coin_key, funding_rates

INTERVALS = (*INTERVAL_MS, "1M")
_WEEK_OFFSET_MS = 4 * DAY_MS  # weekly candles open on Monday 00:00 UTC (1970-01-01 was a Thursday)
_AHEAD_MS = DAY_MS  # generate this far past the clock so reads never wait for the generator
# Funding lands a little after the hour, as on the exchange (recorded: median +109 ms, p99 +574 ms).
_JITTER_FLOOR_MS, _JITTER_MEAN_MS, _JITTER_CAP_MS = 20, 125, 1_500


def funding_jitter_ms(hours_ms: np.ndarray, key: int) -> np.ndarray:
    """Deterministic milliseconds past each hour (a hash of hour and coin, so lazily grown history agrees)."""
    x = (hours_ms // HOUR_MS).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(key)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    u = (x >> np.uint64(11)).astype(np.float64) / 2.0**53
    jitter = _JITTER_FLOOR_MS + np.floor(-_JITTER_MEAN_MS * np.log1p(-u))
    return np.minimum(jitter, _JITTER_CAP_MS).astype(np.int64)


@dataclass(frozen=True, slots=True)
class CoinMeta:
    name: str
    sz_decimals: int
    max_leverage: int
    daily_vol: float


@dataclass(slots=True)
class Candles:
    """Final (never changing again) candles of one interval, columnar."""

    t: np.ndarray
    close_t: np.ndarray  # T: the last millisecond of the bar
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741
    c: np.ndarray
    v: np.ndarray
    n: np.ndarray


Row = tuple[int, int, float, float, float, float, float, int]  # t, T, o, h, l, c, v, n


def bucket_start(t: np.ndarray, interval: str) -> np.ndarray:
    """Open time of the candle of `interval` that contains each time."""
    if interval == "1M":
        return t.astype("datetime64[ms]").astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
    step = INTERVAL_MS[interval]
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return t - (t - offset) % step


def bucket_end(start: np.ndarray, interval: str) -> np.ndarray:
    """Exclusive end of candles opening at `start`."""
    if interval == "1M":
        months = start.astype("datetime64[ms]").astype("datetime64[M]") + 1
        return months.astype("datetime64[ms]").astype(np.int64)
    return start + INTERVAL_MS[interval]


class SymbolMarket:
    """One coin: its bars, candles of every interval, mids and funding."""

    def __init__(self, meta: CoinMeta, bars: Bars, generator: BarGenerator | None = None,
                 funding: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None, seed: int = 0) -> None:
        self.meta = meta
        self.bars = bars
        self._generator = generator
        self._fixed_funding = funding
        self._seed = seed
        self._cache: dict[str, Candles] = {}
        self.funding_t = self.funding_rate = self.funding_premium = np.empty(0)
        self._moves: list[PriceMove] = []  # scenario price moves, applied to every bar (also those generated later)
        self._funding_overrides: list[tuple[int, int, float]] = []  # (from, until, hourly rate)
        self._refresh_funding()

    # --- growth ----------------------------------------------------------------------------

    def ensure(self, now_ms: int) -> None:
        """Generate bars up to a day past now_ms (replays never grow)."""
        gen = self._generator
        if gen is None or gen.end_ms > now_ms + _AHEAD_MS // 2:
            return
        chunks = math.ceil((now_ms + _AHEAD_MS - gen.end_ms) / CHUNK_MS)
        self.bars = Bars.concat([self.bars, self._moved(gen.generate(chunks))])
        self._cache.clear()
        self._refresh_funding()

    # --- scenarios ---------------------------------------------------------------------------

    def add_price_move(self, move: PriceMove) -> None:
        """Scale the price path by the move's factor from its start on (bars already stored and future ones)."""
        self._moves.append(move)
        self.bars = apply_moves(self.bars, [move], self.meta.sz_decimals)
        self._cache.clear()
        self._refresh_funding()

    def set_funding(self, from_ms: int, until_ms: int, rate_1h: float) -> None:
        """Fix the hourly funding rate for the hours in [from, until)."""
        self._funding_overrides.append((from_ms, until_ms, rate_1h))
        self._refresh_funding()

    def _moved(self, bars: Bars) -> Bars:
        return apply_moves(bars, self._moves, self.meta.sz_decimals) if self._moves else bars

    def _refresh_funding(self) -> None:
        self._compute_funding()
        if self._funding_overrides:
            rate = self.funding_rate.copy()
            hours = self.funding_t // HOUR_MS * HOUR_MS
            for start, until, value in self._funding_overrides:
                rate[(hours >= start) & (hours < until)] = value
            self.funding_rate = rate

    def _compute_funding(self) -> None:
        if self._fixed_funding is not None:
            self.funding_t, self.funding_rate, self.funding_premium = self._fixed_funding
            return
        b = self.bars
        if len(b) == 0:
            return
        first = (int(b.t[0]) // HOUR_MS + 1) * HOUR_MS  # the first hour with a bar before it to settle
        if self._generator is not None:
            noise = self._generator.funding_noise
        else:
            count = max(0, (int(b.t[-1]) - first) // HOUR_MS + 1)
            noise = np.random.default_rng([self._seed, coin_key(self.meta.name), 1]).standard_normal(count)
        hours = first + np.arange(len(noise), dtype=np.int64) * HOUR_MS
        hours = hours[hours <= b.t[-1]]
        rate, premium = funding_rates(b.t, b.c, hours, noise[: len(hours)], self.meta.daily_vol)
        times = hours + funding_jitter_ms(hours, coin_key(self.meta.name) ^ self._seed)
        self.funding_t, self.funding_rate, self.funding_premium = times, rate, premium

    # --- prices ----------------------------------------------------------------------------

    def _bar_index(self, now_ms: int) -> int:
        return int(np.searchsorted(self.bars.t, now_ms, side="right")) - 1

    def _partial(self, i: int, now_ms: int) -> tuple[float, float, float, float]:
        """(open, running high, running low, mid) of bar i at now_ms along its path o -> x1 -> x2 -> c."""
        b = self.bars
        o, h, lo, c = float(b.o[i]), float(b.h[i]), float(b.l[i]), float(b.c[i])
        f1, f2 = float(b.f1[i]), float(b.f2[i])
        x1, x2 = (lo, h) if b.low_first[i] else (h, lo)
        frac = (now_ms - int(b.t[i])) / MINUTE_MS
        if frac <= f1:
            px, seen = o + (x1 - o) * frac / f1, [o]
        elif frac <= f2:
            px, seen = x1 + (x2 - x1) * (frac - f1) / (f2 - f1), [o, x1]
        else:
            px, seen = x2 + (c - x2) * (frac - f2) / (1.0 - f2), [o, x1, x2]
        # Rounding is monotonic and l, h are on the grid, so the rounded mid stays inside the bar.
        px = min(max(round_px_one(px, self.meta.sz_decimals), lo), h)
        return o, max(*seen, px), min(*seen, px), px

    def mid(self, now_ms: int) -> float:
        """The mid price at now_ms: a point on the current bar's path, else the last close."""
        i = self._bar_index(now_ms)
        if i < 0:
            return float(self.bars.o[0])
        if now_ms < int(self.bars.t[i]) + MINUTE_MS:
            return self._partial(i, now_ms)[3]
        return float(self.bars.c[i])

    # --- candles ---------------------------------------------------------------------------

    def candles(self, interval: str) -> Candles:
        """Final candles of an interval (cached): every bucket the stored bars complete."""
        cached = self._cache.get(interval)
        if cached is not None:
            return cached
        b = self.bars
        starts = bucket_start(b.t, interval)
        edges = np.flatnonzero(np.diff(starts)) + 1
        first = np.concatenate([[0], edges]).astype(np.intp)
        last = np.concatenate([edges - 1, [len(b) - 1]]).astype(np.intp)
        t = starts[first]
        ends = bucket_end(t, interval)
        if self._generator is not None and len(t) and ends[-1] > self._generator.end_ms:
            first, last, t, ends = first[:-1], last[:-1], t[:-1], ends[:-1]  # still being generated
        n_keep = len(first)
        cut = int(last[-1]) + 1 if n_keep else 0
        candles = Candles(
            t=t, close_t=ends - 1, o=b.o[first], c=b.c[last],
            h=np.maximum.reduceat(b.h[:cut], first) if n_keep else np.empty(0),
            l=np.minimum.reduceat(b.l[:cut], first) if n_keep else np.empty(0),
            v=np.add.reduceat(b.v[:cut], first) if n_keep else np.empty(0),
            n=np.add.reduceat(b.n[:cut], first) if n_keep else np.empty(0, dtype=np.int64),
        )
        self._cache[interval] = candles
        return candles

    def forming(self, interval: str, now_ms: int) -> Row | None:
        """The candle containing now_ms as the exchange shows it mid-bar, or None if it has no bars."""
        t_now = np.array([now_ms], dtype=np.int64)
        start = int(bucket_start(t_now, interval)[0])
        end = int(bucket_end(np.array([start], dtype=np.int64), interval)[0])
        b = self.bars
        i0 = int(np.searchsorted(b.t, start, side="left"))
        i1 = self._bar_index(now_ms) + 1
        if i1 <= i0:
            return None
        last = i1 - 1
        if now_ms < int(b.t[last]) + MINUTE_MS:
            o_last, h_last, l_last, c_last = self._partial(last, now_ms)
            frac = (now_ms - int(b.t[last])) / MINUTE_MS
            v_last, n_last = float(b.v[last]) * frac, int(b.n[last] * frac)
        else:
            o_last, h_last, l_last, c_last = (float(b.o[last]), float(b.h[last]), float(b.l[last]), float(b.c[last]))
            v_last, n_last = float(b.v[last]), int(b.n[last])
        o = float(b.o[i0]) if i0 < last else o_last
        h = max(float(b.h[i0:last].max()), h_last) if i0 < last else h_last
        lo = min(float(b.l[i0:last].min()), l_last) if i0 < last else l_last
        v = float(b.v[i0:last].sum()) + v_last
        n = int(b.n[i0:last].sum()) + n_last
        return start, end - 1, o, h, lo, c_last, round(v, self.meta.sz_decimals), n

    # --- funding and daily stats -------------------------------------------------------------

    def funding_slice(self, start_ms: int, end_ms: int, limit: int) -> slice:
        """Hourly rates with start_ms <= time <= end_ms, at most `limit` from the start."""
        a = int(np.searchsorted(self.funding_t, start_ms, side="left"))
        b = int(np.searchsorted(self.funding_t, end_ms, side="right"))
        return slice(a, max(a, min(b, a + limit)))

    def current_funding(self, now_ms: int) -> tuple[float, float]:
        """(rate, premium) of the last settled hour, the exchange's running estimate."""
        i = int(np.searchsorted(self.funding_t, now_ms, side="right")) - 1
        if i < 0:
            return 0.0, 0.0
        return float(self.funding_rate[i]), float(self.funding_premium[i])

    def day_stats(self, now_ms: int) -> tuple[float, float, float]:
        """(previous day price, day notional volume, day base volume) over the last 24 h."""
        b = self.bars
        a = int(np.searchsorted(b.t, now_ms - DAY_MS, side="right"))
        z = int(np.searchsorted(b.t, now_ms, side="left"))  # the forming bar's volume is not in yet
        prev = float(b.c[max(a - 1, 0)])
        base = float(b.v[a:z].sum())
        return prev, float((b.v[a:z] * b.c[a:z]).sum()), base


@dataclass(frozen=True, slots=True)
class PriceMove:
    """A scenario's price move: the path scaled by 1 + pct/100, reached linearly over `over_ms` from `at_ms`,
    held for `hold_ms` (None: for good) and then undone linearly over `recover_ms`."""

    at_ms: int
    pct: float
    over_ms: int
    hold_ms: int | None = None
    recover_ms: int = 0

    def factor(self, t: np.ndarray) -> np.ndarray:
        full = self.pct / 100.0
        rise = np.clip((t - self.at_ms) / max(self.over_ms, 1), 0.0, 1.0) * full
        if self.hold_ms is None:
            return 1.0 + rise
        back_from = self.at_ms + self.over_ms + self.hold_ms
        undone = np.clip((t - back_from) / max(self.recover_ms, 1), 0.0, 1.0) * full
        return 1.0 + rise - undone


def apply_moves(bars: Bars, moves: list[PriceMove], sz_decimals: int) -> Bars:
    """Bars with every move applied: opens scale with the factor at the bar's open, closes at its close."""
    if not len(bars) or not moves:
        return bars
    f_open = np.ones(len(bars))
    f_close = np.ones(len(bars))
    for move in moves:
        f_open = f_open * move.factor(bars.t)
        f_close = f_close * move.factor(bars.t + MINUTE_MS)
    if np.all(f_open == 1.0) and np.all(f_close == 1.0):
        return bars
    o = round_px(bars.o * f_open, sz_decimals)
    c = round_px(bars.c * f_close, sz_decimals)
    h = np.maximum(round_px(bars.h * np.maximum(f_open, f_close), sz_decimals), np.maximum(o, c))
    lo = np.minimum(round_px(bars.l * np.minimum(f_open, f_close), sz_decimals), np.minimum(o, c))
    return Bars(bars.t, o, h, lo, c, bars.v, bars.n, bars.low_first, bars.f1, bars.f2)
