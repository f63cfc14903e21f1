"""Provides the simulator's universe: every coin's market, generated from the seed or replayed."""

from __future__ import annotations

import math

from perpbot.clock import DAY_MS, MINUTE_MS, floor_ms
from perpbot.sim.assets import PROFILES, profile, sz_decimals_for_price
from perpbot.sim.market import CoinMeta, SymbolMarket
from perpbot.sim.model import CHUNK_MS, BarGenerator
from perpbot.sim.options import SimOptions
from perpbot.sim.replay import load_candles, load_funding


class Universe:
    """The coins the simulator lists, in `meta` order (the order gives asset indexes)."""

    def __init__(self, coins: list[SymbolMarket]) -> None:
        self.coins = {m.meta.name: m for m in coins}

    def __getitem__(self, coin: str) -> SymbolMarket:
        return self.coins[coin]

    def __contains__(self, coin: object) -> bool:
        return coin in self.coins

    def ensure(self, now_ms: int) -> None:
        """Make sure bars exist for every coin up to (and a bit past) now_ms."""
        for market in self.coins.values():
            market.ensure(now_ms)

    def mids(self, now_ms: int) -> dict[str, float]:
        return {name: m.mid(now_ms) for name, m in self.coins.items()}


def build_universe(options: SimOptions, start_ms: int) -> Universe:
    """Generate (or load) every coin's bars from history start up to a day past start_ms.

    Raises:
        ConfigError: a replay file is missing or has a bad row.
    """
    funding = load_funding(options.funding_file) if options.funding_file else None
    if options.candles_file:
        coin = options.symbols[0]
        bars = load_candles(options.candles_file, options.seed, coin)
        prof = PROFILES.get(coin)
        sz = prof.sz_decimals if prof else sz_decimals_for_price(float(bars.c[-1]))
        meta = CoinMeta(coin, sz, prof.max_leverage if prof else 10, prof.daily_vol if prof else 0.05)
        return Universe([SymbolMarket(meta, bars, None, funding, options.seed)])
    origin = floor_ms(start_ms - int(options.history_days * DAY_MS), MINUTE_MS)
    markets = []
    for i, coin in enumerate(options.symbols):
        prof = profile(coin)
        gen = BarGenerator(coin, prof, options.seed, origin)
        bars = gen.generate(max(1, math.ceil((start_ms + DAY_MS - origin) / CHUNK_MS)))
        meta = CoinMeta(coin, prof.sz_decimals, prof.max_leverage, prof.daily_vol)
        markets.append(SymbolMarket(meta, bars, gen, funding if i == 0 else None, options.seed))
    return Universe(markets)
