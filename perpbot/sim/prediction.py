"""Provides the simulator's prediction markets: seeded YES probabilities in Gamma's and Kalshi's wire shapes.

A market's probability is a pure function of (seed, market, simulated time since the simulator's
start): in logit space, its base level plus a slowly mean-reverting walk of its own (an
Ornstein-Uhlenbeck process sampled per simulated minute) plus its loading on a "scare" factor
that all markets share. Scares start at seeded random times (most 3-hour slots have one), rise
over 30-60 minutes and fade over a few hours; risk_up markets rise in a scare, risk_down ones
fall, so the weighted score the bot reads swings into ELEVATED and back (CRISIS rarely). No
state, no threads: the same seed and time give the same answer in every process.

Stdlib only (the demo imports the catalog before the first paint); the HTTP routes live in
`perpbot.sim.prediction_routes`.
"""

from __future__ import annotations

import json
import math
import random
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS

POLYMARKET_PATH = "/polymarket"
"""Where the simulator serves Gamma: `prediction.polymarket_url = sim.url + POLYMARKET_PATH`."""
KALSHI_PATH = "/kalshi"
"""Where the simulator serves Kalshi's market data: `prediction.kalshi_url = sim.url + KALSHI_PATH`."""

STEP_MS = MINUTE_MS
"""The walk moves once per simulated minute (finer polling sees the same value)."""
REVERT_MINUTES = 120.0
"""The walk's mean-reversion time constant: it forgets a move in about two simulated hours."""
SCARE_SLOT_MS = 3 * HOUR_MS
"""Scares are drawn per slot of this length: at most one starts in each."""
SCARE_CHANCE = 0.8
"""The chance that a slot holds a scare."""
SCARE_MIN = 0.9
"""The smallest scare's peak, in logit units (enough to reach ELEVATED from a quiet market)."""
SCARE_MEAN_EXTRA = 0.35
"""The mean of the exponential part of a scare's peak above SCARE_MIN (its tail reaches CRISIS)."""
SCARE_RISE_MS = (30 * MINUTE_MS, 60 * MINUTE_MS)
"""A scare peaks this long after it starts (uniform), then fades over a few times as long."""
_SCARE_REACH_SLOTS = 3  # a scare has faded to < 1 % of its peak 6 rise times (6 h) after its start
_P_MIN, _P_MAX = 0.01, 0.99  # live markets rarely trade outside these
_A = math.exp(-STEP_MS / (REVERT_MINUTES * MINUTE_MS))
_TAIL = int(REVERT_MINUTES * 7)  # _A ** _TAIL < 0.001: older steps no longer matter
_WEIGHTS = tuple(math.sqrt(1.0 - _A * _A) * _A**k for k in range(_TAIL))  # unit stationary variance
_BLOCK = 1024  # normals drawn per seeded block (> _TAIL, so a value needs at most two blocks)
_SLOT_OFFSET = 1 << 40  # keeps slot and block indexes before the start (negative) distinct and positive
_SCARE_KEY = "scare"


@dataclass(frozen=True, slots=True)
class SimMarket:
    """One simulated market and how its probability moves."""

    source: str
    """polymarket | kalshi"""
    market_id: str
    """The id the bot configures: Gamma slug or Kalshi ticker."""
    question: str
    direction: str
    """risk_up (a higher probability means more risk) | risk_down"""
    base_p: float
    """The YES probability the market reverts to when nothing happens."""
    noise: float
    """Standard deviation of the market's own walk, in logit units."""
    loading: float
    """How far a unit scare moves the market's risk, in logit units."""
    numeric_id: str = ""
    """Gamma's numeric id (Polymarket only)."""


DEMO_MARKETS: tuple[SimMarket, ...] = (
    SimMarket("polymarket", "sim-us-recession", "US recession this year? (simulated)", "risk_up",
              base_p=0.22, noise=0.3, loading=0.9, numeric_id="990001"),
    SimMarket("kalshi", "KXFEDCUT-SIM-NEXT", "Fed cuts rates at the next meeting? (simulated)", "risk_down",
              base_p=0.72, noise=0.3, loading=0.8),
    SimMarket("polymarket", "sim-btc-dip-20pct", "Will Bitcoin dip 20% this month? (simulated)", "risk_up",
              base_p=0.18, noise=0.35, loading=1.2, numeric_id="990002"),
)
"""The demo's markets: a weighted score near 0.25 when quiet, above 0.4 (ELEVATED) in most scares."""


def yes_probability(seed: int, market: SimMarket, elapsed_ms: int) -> float:
    """The market's YES probability `elapsed_ms` of simulated time after the simulator's start.

    Args:
        seed: the simulator's seed.
        market: which market (its id keys its own walk).
        elapsed_ms: simulated time since the start (negative is before it, equally defined).

    Returns:
        A probability in [0.01, 0.99].
    """
    step = elapsed_ms // STEP_MS
    sign = 1.0 if market.direction == "risk_up" else -1.0
    x = (_logit(market.base_p) + market.noise * _walk(seed, market.market_id, step)
         + sign * market.loading * scare_level(seed, step * STEP_MS))
    return min(_P_MAX, max(_P_MIN, 1.0 / (1.0 + math.exp(-x))))


def scare_level(seed: int, elapsed_ms: int) -> float:
    """The shared scare factor at a time (0 when calm; a scare's peak is SCARE_MIN and up)."""
    slot = elapsed_ms // SCARE_SLOT_MS
    level = 0.0
    for k in range(slot - _SCARE_REACH_SLOTS, slot + 1):
        scare = _scare(seed, k)
        if scare is None:
            continue
        start_ms, rise_ms, peak = scare
        if elapsed_ms >= start_ms:
            u = (elapsed_ms - start_ms) / rise_ms
            # Flat at the start, `peak` after one rise time, then fading: u^2 e^(2 (1 - u)).
            level += peak * u * u * math.exp(2.0 * (1.0 - u))
    return level


def _walk(seed: int, key: str, step: int) -> float:
    """The market's own OU walk at a step (unit stationary variance)."""
    block, at = divmod(step, _BLOCK)
    return _walk_block(seed, key, block)[at]


@lru_cache(maxsize=256)
def _walk_block(seed: int, key: str, block: int) -> tuple[float, ...]:
    """One block of the walk: x[n] = a x[n-1] + sqrt(1 - a^2) e[n], from a value before the block
    that is the weighted sum of the previous block's last _TAIL normals (so no block needs all history)."""
    before = _normals(seed, key, block - 1)[-_TAIL:]
    x = math.fsum(w * e for w, e in zip(_WEIGHTS, reversed(before)))
    gain = _WEIGHTS[0]
    out = []
    for e in _normals(seed, key, block):
        x = _A * x + gain * e
        out.append(x)
    return tuple(out)


@lru_cache(maxsize=256)
def _normals(seed: int, key: str, block: int) -> tuple[float, ...]:
    rng = random.Random(f"{seed}:{key}:{block + _SLOT_OFFSET}")
    return tuple(rng.gauss(0.0, 1.0) for _ in range(_BLOCK))


@lru_cache(maxsize=256)
def _scare(seed: int, slot: int) -> tuple[int, int, float] | None:
    """The scare of a slot, if any: (start ms, rise ms, peak)."""
    rng = random.Random(f"{seed}:{_SCARE_KEY}:{slot + _SLOT_OFFSET}")
    happens, offset, rise, extra = rng.random(), rng.random(), rng.random(), rng.expovariate(1.0 / SCARE_MEAN_EXTRA)
    if happens >= SCARE_CHANCE:
        return None
    rise_ms = int(SCARE_RISE_MS[0] + rise * (SCARE_RISE_MS[1] - SCARE_RISE_MS[0]))
    return slot * SCARE_SLOT_MS + int(offset * SCARE_SLOT_MS), rise_ms, SCARE_MIN + extra


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


# --- wire shapes ---------------------------------------------------------------------------


class SimPredictionMarkets:
    """The markets one simulator serves, stamped with its seed and start time.

    Args:
        seed: the simulator's seed.
        origin_ms: the simulator's start (its clock's first reading).
        markets: what to serve (default DEMO_MARKETS).
    """

    def __init__(self, seed: int, origin_ms: int, markets: tuple[SimMarket, ...] = DEMO_MARKETS) -> None:
        self.seed = seed
        self.origin_ms = origin_ms
        self.markets = markets

    def probability(self, market: SimMarket, now_ms: int) -> float:
        return yes_probability(self.seed, market, now_ms - self.origin_ms)

    def of(self, source: str) -> list[SimMarket]:
        return [m for m in self.markets if m.source == source]

    def gamma_market(self, market: SimMarket, now_ms: int) -> dict[str, Any]:
        """One Gamma market object, quirks included: arrays encoded as JSON strings, volume as a string."""
        p = self.probability(market, now_ms)
        volume = _volume(market, now_ms - self.origin_ms)
        tokens = [str(zlib.crc32(f"{market.market_id}:{side}".encode())) for side in ("yes", "no")]
        return {
            "id": market.numeric_id, "question": market.question, "slug": market.market_id,
            "conditionId": "0x" + f"{zlib.crc32(market.market_id.encode()):x}".rjust(64, "0"),
            "endDate": _iso(self.origin_ms + 90 * DAY_MS), "active": True, "closed": False,
            "volume": f"{volume:.1f}", "liquidity": f"{volume / 40:.1f}",
            "volumeNum": round(volume, 1), "liquidityNum": round(volume / 40, 1),
            "outcomes": json.dumps(["Yes", "No"]),
            "outcomePrices": json.dumps([_price_text(p), _price_text(1.0 - p)]),
            "clobTokenIds": json.dumps(tokens),
        }

    def kalshi_market(self, market: SimMarket, now_ms: int) -> dict[str, Any]:
        """One Kalshi market object: integer-cent prices plus their `_dollars` strings, a one-cent spread."""
        cents = self.probability(market, now_ms) * 100.0
        bid = min(98, max(1, math.floor(cents)))
        ask, last = bid + 1, min(99, max(1, round(cents)))
        volume = int(_volume(market, now_ms - self.origin_ms))
        row: dict[str, Any] = {
            "ticker": market.market_id, "event_ticker": market.market_id.rsplit("-", 1)[0],
            "title": market.question, "subtitle": "", "status": "active",
            "close_time": _iso(self.origin_ms + 90 * DAY_MS), "volume": volume, "volume_24h": volume // 30,
            "open_interest": volume // 2, "liquidity": volume * 3,
            "no_bid": 100 - ask, "no_ask": 100 - bid,
        }
        for field, value in (("yes_bid", bid), ("yes_ask", ask), ("last_price", last)):
            row[field] = value
            row[f"{field}_dollars"] = f"{value / 100:.4f}"
        return row


def _volume(market: SimMarket, elapsed_ms: int) -> float:
    """Traded volume: a per-market base that grows steadily with simulated time."""
    base = 1_000_000.0 + zlib.crc32(market.market_id.encode()) % 9_000_000
    return base + max(0, elapsed_ms) / MINUTE_MS * 37.5


def _price_text(p: float) -> str:
    """Gamma's price strings: up to four decimals, no trailing zeros ("0.23")."""
    return f"{p:.4f}".rstrip("0").rstrip(".") or "0"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
