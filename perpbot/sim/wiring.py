"""Provides the wiring of the simulator's optional parts onto the core exchange: history, margin, extras.

Kept out of `SimServer` so the server reads as transport and the exchange core stays small:
one call registers the ledger listeners (builder fees first, so a fill carries its builder fee
before anyone else sees it), the scheduleCancel timer, and returns the extra /info handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perpbot.clock import Clock
from perpbot.sim import margin
from perpbot.sim.actions import ExtraActions
from perpbot.sim.builder import BuilderFees
from perpbot.sim.exchange import ExchangeApi
from perpbot.sim.exchange_ext import ExchangeExtensions, HaltedFn
from perpbot.sim.extras import Extras
from perpbot.sim.history import History
from perpbot.sim.info_account import AccountInfo
from perpbot.sim.info_market import market_handlers


@dataclass
class Wired:
    history: History
    extras: Extras
    ext: ExchangeExtensions
    info_handlers: dict[str, Callable[[dict[str, Any], int], str]]


def wire(exchange: ExchangeApi, clock: Clock, start_ms: int, schedule_cancel_min_volume: float,
         halted: HaltedFn) -> Wired:
    """Attach history, isolated margin, builder fees, extra actions and the dead man's switch to an exchange."""
    ledger, matcher = exchange.ledger, exchange.matcher
    extras = Extras()
    history = History(ledger, start_ms)
    builder = BuilderFees(ledger, extras)
    ledger.listeners.insert(0, builder.on_event)
    ledger.listeners.append(lambda kind, user, payload: margin.on_fill_isolated(ledger, user, payload)
                            if kind == "fill" else None)
    ledger.listeners.append(history.on_event)
    actions = ExtraActions(ledger, extras, history, exchange.is_mainnet, exchange._admit_nonce,
                           schedule_cancel_min_volume)
    ledger.timers.append(actions)
    ext = ExchangeExtensions(actions, builder, matcher, halted)
    exchange.ext = ext

    def sync(now: int) -> None:
        ledger.universe.ensure(now)
        matcher.advance(now)

    handlers = {**market_handlers(clock), **AccountInfo(ledger, history, extras, sync).handlers()}
    return Wired(history, extras, ext, handlers)
