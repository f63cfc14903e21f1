"""Provides the synthetic market generator: deterministic 1m bars and hourly funding, in one-day chunks.

The log price is a trend level (a random walk whose step and drift grow in trending stretches)
plus a mean-reverting (Ornstein-Uhlenbeck) deviation that dominates the calm stretches. Log
volatility is a slow AR(1) process, so quiet and wild hours cluster. Every random number of
chunk k comes from its own RNG seeded by (seed, coin, k) and every recursion carries its state
across chunk edges with the same arithmetic, so a bar is the same whether the history was
generated in one call or day by day while the clock ran.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from perpbot.clock import HOUR_MS, MINUTE_MS
from perpbot.sim.assets import CoinProfile, round_px

CHUNK_BARS = 1440  # one day of 1m bars
CHUNK_MS = CHUNK_BARS * MINUTE_MS

# Persistence of the AR(1) processes, as exp(-1 / time constant in bars).
_A_VOL = math.exp(-1 / 720)  # volatility regimes last ~12 h
_VOL_SD = 0.45  # stationary sd of log volatility
_A_TREND = math.exp(-1 / 480)  # trending vs ranging switches every ~8 h
_A_DRIFT = math.exp(-1 / 1440)  # trend direction changes over ~a day
_DRIFT_SD = 0.05  # trend drift per bar, in units of that bar's sigma
_A_DEV = math.exp(-1 / 45)  # deviations revert with a ~45 min time constant
_DEV_SCALE = 1.2  # OU innovations per sigma: intraday moves mostly revert
_TREND_AT = 0.5  # trendiness above this means trending (~30% of the time)
_WICK = 0.5  # wick length in sigmas of a half-normal draw
_TRADE_USD = 2_500.0  # average trade size, for trade counts

# Funding: the exchange's formula with a 0.01% / 8 h interest rate and a +-0.05% clamp.
_INTEREST_8H = 0.0001
_CLAMP_8H = 0.0005
_FUNDING_CAP_1H = 0.04


@dataclass(slots=True)
class Bars:
    """Columnar 1m bars plus the shape of each bar's intra-bar price path."""

    t: np.ndarray  # int64 open time, epoch ms
    o: np.ndarray
    h: np.ndarray
    l: np.ndarray  # noqa: E741 (the exchange's own field name)
    c: np.ndarray
    v: np.ndarray
    n: np.ndarray  # int64 trade count
    low_first: np.ndarray  # bool: the path visits the low before the high
    f1: np.ndarray  # float32: fraction of the minute at the first extreme
    f2: np.ndarray  # float32: fraction of the minute at the second extreme

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> Bars:
        return cls(*(np.empty(0, dtype=dt) for dt in _DTYPES))

    @classmethod
    def concat(cls, parts: list[Bars]) -> Bars:
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


_DTYPES = (np.int64, np.float64, np.float64, np.float64, np.float64, np.float64, np.int64, bool, np.float32, np.float32)


def path_shape(o: np.ndarray, c: np.ndarray, u_order: np.ndarray, u1: np.ndarray, u2: np.ndarray):
    """Intra-bar path shape: up bars usually dip first, down bars usually spike first."""
    low_first = (c >= o) == (u_order < 0.7)
    f1 = (0.1 + 0.35 * u1).astype(np.float32)
    f2 = (0.55 + 0.35 * u2).astype(np.float32)
    return low_first, f1, f2


def coin_key(coin: str) -> int:
    """A stable integer for a coin name (Python's hash() is salted per process)."""
    return zlib.crc32(coin.encode())


def _ar1(innovations: np.ndarray, a: float, x0: float) -> np.ndarray:
    """x[i] = a * x[i-1] + innovations[i], from x[-1] = x0, in C (pandas' ewm recursion)."""
    u = np.empty(len(innovations) + 1)
    u[0] = x0
    u[1:] = innovations / (1.0 - a)
    return pd.Series(u).ewm(alpha=1.0 - a, adjust=False).mean().to_numpy()[1:]


@dataclass(slots=True)
class _State:
    level: float = 0.0  # trend level, log of price / profile price
    dev: float = 0.0  # mean-reverting deviation (log)
    logvol: float = 0.0
    trendiness: float = 0.0
    drift: float = 0.0
    close: float = 0.0  # last rounded close (the next bar's open)


class BarGenerator:
    """Generates one coin's 1m bars chunk after chunk from origin_ms on."""

    def __init__(self, coin: str, profile: CoinProfile, seed: int, origin_ms: int) -> None:
        self.coin, self.profile, self.seed, self.origin_ms = coin, profile, seed, origin_ms
        self.next_chunk = 0
        self._state = _State(close=float(round_px(np.array([profile.price]), profile.sz_decimals)[0]))
        self._key = coin_key(coin)
        self.funding_noise = np.empty(0)  # one standard normal per generated hour

    @property
    def end_ms(self) -> int:
        """Open time of the first bar not generated yet."""
        return self.origin_ms + self.next_chunk * CHUNK_MS

    def generate(self, chunks: int) -> Bars:
        """The next `chunks` days of bars (vectorised over all of them)."""
        rngs = [np.random.default_rng([self.seed, self._key, k]) for k in range(self.next_chunk, self.next_chunk + chunks)]
        draws = [(r.standard_normal((8, CHUNK_BARS)), r.random((4, CHUNK_BARS)), r.standard_normal(24)) for r in rngs]
        z = np.hstack([d[0] for d in draws])
        u = np.hstack([d[1] for d in draws])
        self.funding_noise = np.concatenate([self.funding_noise, *[d[2] for d in draws]])
        t = self.end_ms + np.arange(chunks * CHUNK_BARS, dtype=np.int64) * MINUTE_MS
        bars = self._bars(t, z, u, chunks)
        self.next_chunk += chunks
        return bars

    def _bars(self, t: np.ndarray, z: np.ndarray, u: np.ndarray, chunks: int) -> Bars:
        p, s = self.profile, self._state
        sigma_bar = p.daily_vol / math.sqrt(CHUNK_BARS)
        logvol = _ar1(z[0] * _VOL_SD * math.sqrt(1 - _A_VOL**2), _A_VOL, s.logvol)
        trendiness = _ar1(z[1] * math.sqrt(1 - _A_TREND**2), _A_TREND, s.trendiness)
        drift = _ar1(z[2] * _DRIFT_SD * math.sqrt(1 - _A_DRIFT**2), _A_DRIFT, s.drift)
        sigma = sigma_bar * np.exp(logvol - _VOL_SD**2 / 2)
        w = 1.0 / (1.0 + np.exp(-4.0 * (trendiness - _TREND_AT)))  # 0 = ranging, 1 = trending
        steps = sigma * (z[3] * (0.35 + 0.65 * w) + w * drift)
        # Row-wise cumsum plus sequentially accumulated chunk ends: the same floats as day by day.
        within = np.cumsum(steps.reshape(chunks, CHUNK_BARS), axis=1)
        starts = np.cumsum(np.concatenate([[s.level], within[:, -1]]))
        level = (within + starts[:-1, None]).ravel()
        dev = _ar1(sigma * z[4] * _DEV_SCALE * (1.0 - 0.7 * w), _A_DEV, s.dev)

        sz = p.sz_decimals
        c = round_px(p.price * np.exp(level + dev), sz)
        o = np.concatenate([[s.close], c[:-1]])
        h = round_px(np.maximum(o, c) * np.exp(np.abs(z[5]) * sigma * _WICK), sz)
        lo = round_px(np.minimum(o, c) * np.exp(-np.abs(z[6]) * sigma * _WICK), sz)
        usd = p.usd_per_min * (sigma / sigma_bar) ** 1.2 * np.exp(0.4 * z[7] - 0.08)
        v = np.round(usd / c, sz)
        n = np.maximum(1, np.round(usd / _TRADE_USD * (0.5 + u[3]))).astype(np.int64)
        low_first, f1, f2 = path_shape(o, c, u[0], u[1], u[2])

        self._state = _State(float(starts[-1]), float(dev[-1]), float(logvol[-1]), float(trendiness[-1]),
                             float(drift[-1]), float(c[-1]))
        return Bars(t, o, h, lo, c, v, n, low_first, f1, f2)


def funding_rates(t: np.ndarray, c: np.ndarray, hours_ms: np.ndarray, noise: np.ndarray,
                  daily_vol: float) -> tuple[np.ndarray, np.ndarray]:
    """Hourly (rate, premium) at hours_ms from the bars' momentum over the previous 8 hours.

    The premium leans with the 8 h move (longs pay in rallies) plus noise; the rate follows the
    exchange's formula premium + clamp(interest - premium, +-0.05%), per hour, capped at 4%.
    """
    last = np.clip(np.searchsorted(t, hours_ms - MINUTE_MS, side="right") - 1, 0, len(t) - 1)
    back = np.clip(np.searchsorted(t, hours_ms - 8 * HOUR_MS, side="right") - 1, 0, len(t) - 1)
    momentum = np.log(c[last] / c[back])
    premium = 0.0008 * np.tanh(momentum / (daily_vol / 4)) + 0.00025 * noise
    rate_8h = premium + np.clip(_INTEREST_8H - premium, -_CLAMP_8H, _CLAMP_8H)
    rate = np.clip(rate_8h / 8, -_FUNDING_CAP_1H, _FUNDING_CAP_1H)
    return np.round(rate, 10), np.round(premium, 10)
