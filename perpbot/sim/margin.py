"""Provides the simulator's margin rules: meta's margin tables, maintenance margin and liquidation prices.

As on Hyperliquid (trading docs, "Margin tiers", "Margining", "Liquidations"): each asset points
at a margin table (`marginTableId`; ids below 50 are one tier whose max leverage is the id);
a tier's maintenance margin rate is half the initial margin rate at its max leverage
(20x -> 2.5%), and maintenance margin is notional x rate - deduction, the deduction making it
continuous across tiers. A cross position is liquidated when the cross account value falls
below the cross maintenance margin, an isolated one when its own margin plus its unrealized
pnl does. The tier bounds below are mainnet's as the docs listed them (UNVERIFIED for today).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpbot.sim.assets import fmt_num
from perpbot.sim.ledger import Ledger

# coin -> (table id, [(lower bound in USD notional, max leverage), ...]); other coins get one tier.
_TIERED: dict[str, tuple[int, list[tuple[float, int]]]] = {
    "BTC": (56, [(0.0, 40), (150_000_000.0, 20)]),
    "ETH": (55, [(0.0, 25), (100_000_000.0, 15)]),
    "SOL": (54, [(0.0, 20), (70_000_000.0, 10)]),
    "XRP": (53, [(0.0, 20), (40_000_000.0, 10)]),
    "DOGE": (52, [(0.0, 10), (20_000_000.0, 5)]),
    "AVAX": (52, [(0.0, 10), (20_000_000.0, 5)]),
    "BNB": (51, [(0.0, 10), (3_000_000.0, 5)]),
}


@dataclass(frozen=True, slots=True)
class Tier:
    lower_usd: float
    max_leverage: int
    mmr: float  # maintenance margin rate
    deduction: float


def table_for(coin: str, max_leverage: int) -> tuple[int, list[Tier]]:
    """(marginTableId, tiers) of a coin; the first tier's leverage is capped at the coin's maxLeverage."""
    table_id, bounds = _TIERED.get(coin, (max_leverage, [(0.0, max_leverage)]))
    if bounds[0][1] != max_leverage:
        table_id, bounds = max_leverage, [(0.0, max_leverage)]
    tiers: list[Tier] = []
    for lower, lev in bounds:
        mmr = 1.0 / (2 * lev)
        deduction = tiers[-1].deduction + lower * (mmr - tiers[-1].mmr) if tiers else 0.0
        tiers.append(Tier(lower, lev, mmr, deduction))
    return table_id, tiers


def margin_tables(coins: dict[str, int]) -> list[list[Any]]:
    """meta's `marginTables`: [[id, {description, marginTiers}], ...] for the coins listed (coin -> maxLeverage)."""
    out: dict[int, dict[str, Any]] = {}
    for coin, max_lev in coins.items():
        table_id, tiers = table_for(coin, max_lev)
        description = f"tiered {tiers[0].max_leverage}x" if len(tiers) > 1 else ""
        out[table_id] = {"description": description, "marginTiers": [
            {"lowerBound": fmt_num(t.lower_usd), "maxLeverage": t.max_leverage} for t in tiers]}
    return [[k, out[k]] for k in sorted(out)]


def tier_at(ledger: Ledger, coin: str, notional: float) -> Tier:
    tiers = table_for(coin, ledger.max_leverage(coin))[1]
    return next(t for t in reversed(tiers) if notional >= t.lower_usd)


def maintenance(ledger: Ledger, coin: str, szi: float, px: float) -> float:
    """Maintenance margin of a position of signed size szi at price px."""
    notional = abs(szi) * px
    tier = tier_at(ledger, coin, notional)
    return max(0.0, notional * tier.mmr - tier.deduction)


def cross_coins(ledger: Ledger, user: str) -> list[str]:
    account = ledger.accounts[user]
    return [c for c, p in account.positions.items() if p.szi != 0 and ledger.leverage(user, c)[0]]


def cross_cash(ledger: Ledger, user: str) -> float:
    """The balance outside isolated margins."""
    account = ledger.accounts[user]
    return account.balance - sum(m for c, m in account.iso_margin.items()
                                 if c in account.positions and account.positions[c].szi)


def cross_account_value(ledger: Ledger, user: str, now_ms: int) -> float:
    """Balance outside isolated margins plus the cross positions' unrealized pnl."""
    return cross_cash(ledger, user) + sum(ledger.unrealized(user, c, now_ms) for c in cross_coins(ledger, user))


def cross_maintenance(ledger: Ledger, user: str, now_ms: int) -> float:
    """crossMaintenanceMarginUsed: the maintenance margin of every cross position at the mark."""
    positions = ledger.accounts[user].positions
    return sum(maintenance(ledger, c, positions[c].szi, ledger.mark(c, now_ms)) for c in cross_coins(ledger, user))


def liquidation_px(ledger: Ledger, user: str, coin: str, now_ms: int) -> float | None:
    """The mark at which this position alone would be liquidated (others held still), or None if never.

    Solves value(p) = maintenance(p) with the tier at today's notional:
    p = (MM_others - deduction - value + szi * mark) / (szi - |szi| * mmr) for cross, and with the
    isolated margin and entry price in place of the account for isolated.
    """
    account = ledger.accounts[user]
    pos = account.positions.get(coin)
    if pos is None or pos.szi == 0:
        return None
    mark = ledger.mark(coin, now_ms)
    tier = tier_at(ledger, coin, abs(pos.szi) * mark)
    if ledger.leverage(user, coin)[0]:
        others = cross_maintenance(ledger, user, now_ms) - maintenance(ledger, coin, pos.szi, mark)
        numerator = others - tier.deduction - cross_account_value(ledger, user, now_ms) + pos.szi * mark
    else:
        numerator = -account.iso_margin.get(coin, 0.0) - tier.deduction + pos.szi * pos.entry_px
    px = numerator / (pos.szi - abs(pos.szi) * tier.mmr)
    return px if px > 0 else None


def on_fill_isolated(ledger: Ledger, user: str, fill: dict[str, Any]) -> None:
    """Keep an isolated position's margin: a fill that grows it adds notional / leverage, one that shrinks it
    releases the closed share (its realized pnl has gone to the balance already)."""
    coin = fill["coin"]
    is_cross, lev = ledger.leverage(user, coin)
    if is_cross:
        return
    account = ledger.accounts[user]
    start, sz, px = float(fill["startPosition"]), float(fill["sz"]), float(fill["px"])
    signed = sz if fill["side"] == "B" else -sz
    end = start + signed
    held = account.iso_margin.get(coin, 0.0)
    if start == 0 or (start > 0) == (signed > 0):
        held += sz * px / lev
    else:
        kept = max(0.0, abs(end) / abs(start)) if (end == 0 or (end > 0) == (start > 0)) else 0.0
        held = held * kept + (abs(end) * px / lev if end and (end > 0) != (start > 0) else 0.0)
    account.iso_margin[coin] = held if abs(end) > 0 else 0.0
