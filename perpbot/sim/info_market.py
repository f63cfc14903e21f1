"""Provides the market /info types beyond the perps basics: spot metadata, perp dexs and the exchange status.

Spot is listed as on the exchange (USDC is token 0; one canonical pair, PURR/USDC, at a steady
synthetic price) so clients that load spot markets work, but spot orders are not matched: the
simulator trades perps. Only the main perp dex exists (`perpDexs` answers `[null]`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from perpbot.clock import Clock
from perpbot.sim.assets import fmt_num
from perpbot.sim.info import dumps

Handler = Callable[[dict[str, Any], int], str]
PURR_PX = 0.2  # the listed spot pair's price (spot is listed, not traded)
TOKENS = [
    {"name": "USDC", "szDecimals": 8, "weiDecimals": 8, "index": 0, "tokenId": "0x6d1e7cde53ba9467b783cb7c530ce054",
     "isCanonical": True, "evmContract": None, "fullName": None, "deployerTradingFeeShare": "0.0"},
    {"name": "PURR", "szDecimals": 0, "weiDecimals": 5, "index": 1, "tokenId": "0xc1fb593aeffbeb02f85e0308e9956a90",
     "isCanonical": True, "evmContract": None, "fullName": None, "deployerTradingFeeShare": "0.0"},
]
PAIRS = [{"tokens": [1, 0], "name": "PURR/USDC", "index": 0, "isCanonical": True}]


def spot_meta() -> dict[str, Any]:
    return {"universe": PAIRS, "tokens": TOKENS}


def spot_ctxs() -> list[dict[str, Any]]:
    px = fmt_num(PURR_PX)
    return [{"prevDayPx": px, "dayNtlVlm": "0.0", "markPx": px, "midPx": px, "circulatingSupply": "596016969.0",
             "coin": "PURR/USDC", "totalSupply": "596016969.0", "dayBaseVlm": "0.0"}]


def market_handlers(clock: Clock) -> dict[str, Handler]:
    return {
        "spotMeta": lambda b, now: dumps(spot_meta()),
        "spotMetaAndAssetCtxs": lambda b, now: dumps([spot_meta(), spot_ctxs()]),
        "perpDexs": lambda b, now: "[null]",
        "exchangeStatus": lambda b, now: dumps({"specialStatuses": None, "time": now}),
        "perpsAtOpenInterestCap": lambda b, now: "[]",
    }
