"""Provides the simulator's coin profiles, the exchange's price rules and wire number formatting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIG_FIGS = 5  # perp prices carry at most 5 significant figures (integers always allowed)
PERP_MAX_DECIMALS = 6  # ... and at most 6 - szDecimals decimals


@dataclass(frozen=True, slots=True)
class CoinProfile:
    """How one simulated coin looks and trades."""

    price: float
    """Price at the start of the generated history."""
    sz_decimals: int
    max_leverage: int
    daily_vol: float
    """Typical daily log-return standard deviation."""
    usd_per_min: float
    """Typical traded notional per minute (sets volumes, trade counts and book depth)."""


# Rough mainnet figures: prices near a recent level, mainnet's szDecimals and leverage caps.
PROFILES: dict[str, CoinProfile] = {
    "BTC": CoinProfile(60_000.0, 5, 40, 0.030, 1_500_000.0),
    "ETH": CoinProfile(3_000.0, 4, 25, 0.038, 800_000.0),
    "SOL": CoinProfile(150.0, 2, 20, 0.050, 300_000.0),
    "BNB": CoinProfile(550.0, 3, 10, 0.035, 60_000.0),
    "AVAX": CoinProfile(30.0, 2, 10, 0.055, 60_000.0),
    "DOGE": CoinProfile(0.15, 0, 10, 0.060, 100_000.0),
    "XRP": CoinProfile(0.6, 0, 20, 0.045, 120_000.0),
}
DEFAULT_PROFILE = CoinProfile(10.0, 1, 10, 0.050, 50_000.0)


def profile(coin: str) -> CoinProfile:
    """The profile of a coin (unknown coins get a generic $10 one)."""
    return PROFILES.get(coin, DEFAULT_PROFILE)


def sz_decimals_for_price(price: float) -> int:
    """A szDecimals that gives roughly $1..$10 lots at this price (for replayed coins without a profile)."""
    if price <= 0:
        return 0
    return int(min(5, max(0, math.floor(math.log10(price)))))


def price_decimals(px: np.ndarray | float, sz_decimals: int) -> np.ndarray:
    """Decimals allowed for each price: 5 significant figures, at most 6 - szDecimals, never < 0."""
    mag = np.floor(np.log10(np.maximum(np.abs(np.asarray(px, dtype=np.float64)), 1e-12)))
    return np.clip(SIG_FIGS - 1 - mag, 0, PERP_MAX_DECIMALS - sz_decimals)


def round_px(px: np.ndarray, sz_decimals: int) -> np.ndarray:
    """Round prices to what the exchange accepts (vectorised).

    Dividing the rounded integer by an exact power of ten gives the double nearest the
    decimal, so `repr` prints it cleanly ("60123.0", "0.15123").
    """
    px = np.asarray(px, dtype=np.float64)
    scale = 10.0 ** price_decimals(px, sz_decimals)
    return np.round(px * scale) / scale


def round_px_one(px: float, sz_decimals: int) -> float:
    """round_px for one float."""
    return float(round_px(np.array([px]), sz_decimals)[0])


def tick_size(px: float, sz_decimals: int) -> float:
    """The smallest price step at this price level."""
    return float(10.0 ** -price_decimals(px, sz_decimals))


def fmt_num(x: float) -> str:
    """A float as the exchange writes it: shortest repr, never exponent notation, never negative zero."""
    if x == 0:
        return "0.0"
    text = repr(x)
    if "e" in text or "E" in text:
        text = np.format_float_positional(x, trim="-")
    return text


def fmt_fixed(x: float, decimals: int) -> str:
    """A float with at most `decimals` decimals, trailing zeros stripped but one kept ("0.0000125", "8906.0", "0.0")."""
    text = f"{x:.{decimals}f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return "0.0" if text == "-0.0" else text
