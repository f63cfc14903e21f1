"""Provides liquidation for the simulator: the market replayed in pieces, cut where an account falls below maintenance.

`replay(matcher, start, end)` stands in for the matcher's walk over (start, end]: it finds the
first time any account (cross) or isolated position would be under its maintenance margin if
nothing else happened, walks the orders up to then (a stop that fires first may save it), checks
again, and liquidates what is still under water: the position is closed at the mark with a
fill that carries `liquidation` ({liquidatedUser, markPx, method: "market"}), its open orders
in that coin are canceled, and a "liquidation" event goes to userEvents and the ledger history.
Between path vertices every mid moves linearly, so the first crossing is exact to the millisecond.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from perpbot.sim import margin
from perpbot.sim.assets import fmt_num
from perpbot.sim.ledger import Ledger, SimOrder
from perpbot.sim.path import path_points


_RECHECK_MS = 1_000


class Walker(Protocol):
    ledger: Ledger

    def _walk(self, start_ms: int, end_ms: int) -> None: ...


def _group_prices(ledger: Ledger, coins: list[str], start: int, end: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    paths = {c: path_points(ledger.universe[c], start, end) for c in coins}
    times = np.unique(np.concatenate([t for t, _ in paths.values()]))
    return times, {c: np.interp(times, t, p) for c, (t, p) in paths.items()}


def _first_breach(times: np.ndarray, surplus: np.ndarray) -> int | None:
    """The first time the (piecewise linear) surplus drops below zero, or None."""
    below = surplus < 0
    if not below.any():
        return None
    j = int(np.argmax(below))
    if j == 0:
        return int(times[0])
    s0, s1, t0, t1 = float(surplus[j - 1]), float(surplus[j]), int(times[j - 1]), int(times[j])
    return min(t1, t0 + int(np.ceil((t1 - t0) * s0 / (s0 - s1))) + 1)


def _maintenance_curve(ledger: Ledger, coin: str, szi: float, px: np.ndarray) -> np.ndarray:
    tiers = margin.table_for(coin, ledger.max_leverage(coin))[1]
    notional = abs(szi) * px
    out = np.zeros_like(px)
    for tier in tiers:  # later tiers overwrite where the notional reaches them
        out = np.where(notional >= tier.lower_usd, notional * tier.mmr - tier.deduction, out)
    return np.maximum(out, 0.0)


def breaches(ledger: Ledger, start: int, end: int) -> list[tuple[int, str, str | None]]:
    """(time, user, coin or None for the cross account) of every first breach in [start, end], earliest first."""
    found: list[tuple[int, str, str | None]] = []
    for user, account in ledger.accounts.items():
        open_coins = [c for c, p in account.positions.items() if p.szi != 0]
        if not open_coins:
            continue
        cross = margin.cross_coins(ledger, user)
        groups: list[tuple[str | None, list[str]]] = [(None, cross)] if cross else []
        groups += [(c, [c]) for c in open_coins if c not in cross]
        for key, coins in groups:
            times, prices = _group_prices(ledger, coins, start, end)
            value = margin.cross_cash(ledger, user) if key is None else account.iso_margin.get(key, 0.0)
            surplus = np.full(len(times), value)
            for c in coins:
                pos = account.positions[c]
                surplus += pos.szi * (prices[c] - pos.entry_px) - _maintenance_curve(ledger, c, pos.szi, prices[c])
            at = _first_breach(times, surplus)
            if at is not None:
                found.append((at, user, key))
    return sorted(found, key=lambda f: (f[0], f[1]))


def _under_water(ledger: Ledger, user: str, coin: str | None, now_ms: int) -> bool:
    account = ledger.accounts[user]
    if coin is None:
        return bool(margin.cross_coins(ledger, user)) and \
            margin.cross_account_value(ledger, user, now_ms) < margin.cross_maintenance(ledger, user, now_ms)
    pos = account.positions.get(coin)
    if pos is None or pos.szi == 0:
        return False
    mark = ledger.mark(coin, now_ms)
    equity = account.iso_margin.get(coin, 0.0) + ledger.unrealized(user, coin, now_ms)
    return equity < margin.maintenance(ledger, coin, pos.szi, mark)


def liquidate(ledger: Ledger, user: str, coin: str | None, now_ms: int) -> list[dict[str, Any]]:
    """Close the cross positions (coin None) or one isolated position at the mark; returns the fills."""
    account = ledger.accounts[user]
    coins = margin.cross_coins(ledger, user) if coin is None else [coin]
    value = margin.cross_account_value(ledger, user, now_ms) if coin is None else \
        account.iso_margin.get(coin, 0.0) + ledger.unrealized(user, coin, now_ms)
    notional = sum(abs(account.positions[c].szi) * ledger.mark(c, now_ms) for c in coins)
    fills = []
    for c in coins:
        for order in ledger.open_orders(user):
            if order.coin == c:
                ledger.close_order(order, "liquidatedCanceled", now_ms)
        pos = account.positions[c]
        mark = ledger.mark(c, now_ms)
        order = SimOrder(0, user, c, pos.szi < 0, mark, abs(pos.szi), abs(pos.szi), True, now_ms, "LiquidationMarket")
        ledger.add_order(order)
        tag = {"liquidation": {"liquidatedUser": user, "markPx": fmt_num(mark), "method": "market"}}
        fills.append(ledger.book_fill(order, mark, abs(pos.szi), now_ms, crossed=True, extra=tag))
        ledger.close_order(order, "filled", now_ms)
        account.iso_margin.pop(c, None)
    ledger.emit("liquidation", user, {
        "time": now_ms, "coins": coins, "leverageType": "Cross" if coin is None else "Isolated",
        "liquidatedNtlPos": fmt_num(round(notional, 6)), "accountValue": fmt_num(round(value, 6)),
        "liquidatedPositions": [{"coin": f["coin"], "szi": f["startPosition"]} for f in fills],
    })
    return fills


def _next_timer(ledger: Ledger, start_ms: int, end_ms: int) -> int | None:
    due = [t for t in (timer.next_due(start_ms, end_ms) for timer in ledger.timers) if t is not None]
    return min(due) if due else None


def replay(walker: Walker, start_ms: int, end_ms: int) -> None:
    """The matcher's walk over (start, end], cut where a timer is due or an account breaks maintenance."""
    ledger = walker.ledger
    t = start_ms
    while t < end_ms:
        due = breaches(ledger, t, end_ms)
        timer_at = _next_timer(ledger, t, end_ms)
        if timer_at is not None and (not due or timer_at <= due[0][0]):
            walker._walk(t, timer_at)
            for timer in ledger.timers:
                timer.fire(timer_at)
            t = timer_at
            continue
        if not due:
            walker._walk(t, end_ms)
            return
        at = max(due[0][0], t)
        walker._walk(t, at)
        liquidated = False
        for when, user, coin in due:
            if when == due[0][0] and _under_water(ledger, user, coin, at):
                liquidate(ledger, user, coin, at)
                liquidated = True
        # Not under water after all (a stop fired first, or the tick-rounded mark stayed above): look again a bit later.
        t = at if liquidated else min(end_ms, at + _RECHECK_MS)
