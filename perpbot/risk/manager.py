"""Provides the RiskManager: every runtime control on entries, sizes, stops and timeouts.

One class for live, paper and backtest. Time always comes in as an argument (or from the
injected clock), and durable state goes through a StatePort under these keys:
  risk:day        {"day_ms", "start_equity", "realized"}: the current UTC day's ledger
  risk:cooldowns  {symbol or "*": until epoch ms}: cooldowns after stop losses
  risk:paused     bool: entries paused by the operator
  risk:halt       str | null: why trading is halted (e.g. the losing-week startup halt)
The state is read once at construction and written through on every change, so a new
instance on the same store carries on where the last one stopped, and the backtest (which
calls only at events, on a MemoryState) pays for dict look-ups only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from perpbot.clock import DAY_MS, Clock
from perpbot.config import RiskConfig
from perpbot.errors import StrategyError
from perpbot.models import Side
from perpbot.risk import rules
from perpbot.risk.state import MemoryState, StatePort
from perpbot.signals.prediction import Regime, RegimeState

__all__ = ["GLOBAL", "MemoryState", "RiskCheck", "RiskManager", "StatePort"]

log = logging.getLogger(__name__)

GLOBAL = "*"  # the cooldown key that blocks every symbol
KEY_DAY = "risk:day"
KEY_COOLDOWNS = "risk:cooldowns"
KEY_PAUSED = "risk:paused"
KEY_HALT = "risk:halt"


@dataclass(frozen=True, slots=True)
class RiskCheck:
    allowed: bool
    reason: str  # "ok", or why not: max_positions, daily_loss_cap, cooldown, regime_crisis, ...

    def __bool__(self) -> bool:
        return self.allowed


OK = RiskCheck(True, "ok")
_CHECKS = tuple(OK if reason == "ok" else RiskCheck(False, reason) for reason in rules.VERDICTS)


class RiskManager:
    """Judges entries and sizes positions under `risk.*`.

    Args:
        cfg: the risk section of the settings.
        state: where the controls persist (the Store live, MemoryState in backtests).
        clock: used only where a caller gives no time (`blocks()` from the dashboard).
    """

    def __init__(self, cfg: RiskConfig, state: StatePort, clock: Clock) -> None:
        self.cfg = cfg
        self.state = state
        self.clock = clock
        self._day: dict[str, Any] = _as_day(state.get_state(KEY_DAY))
        self._cooldowns: dict[str, int] = {str(k): int(v) for k, v in (state.get_state(KEY_COOLDOWNS) or {}).items()}
        self._paused = bool(state.get_state(KEY_PAUSED, False))
        halt = state.get_state(KEY_HALT)
        self._halt: str | None = str(halt) if halt else None
        self._last_equity: float | None = None
        self._holds: dict[str, str] = {}  # name -> why: blocks from outside the rules (a storage fault)

    # --- operator controls -------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def halt_reason(self) -> str | None:
        return self._halt

    def set_paused(self, paused: bool, now_ms: int) -> None:
        """Pause (or resume) new entries; exits and stops keep working."""
        if paused != self._paused:
            self._paused = paused
            self.state.set_state(KEY_PAUSED, paused, now_ms)
            log.info("risk_paused" if paused else "risk_resumed")

    def set_halt(self, reason: str | None, now_ms: int) -> None:
        """Halt entries with a reason that survives restarts, or clear the halt (None)."""
        if reason != self._halt:
            self._halt = reason
            self.state.set_state(KEY_HALT, reason, now_ms)
            if reason:
                log.warning("risk_halt", extra={"reason": reason})
            else:
                log.info("risk_halt_cleared")

    def hold(self, name: str, why: str | None) -> None:
        """Block new entries under `name` (e.g. "storage") until called again with None; not persisted,
        since what it reports (a failing disk) is judged afresh after a restart."""
        if why is None:
            self._holds.pop(name, None)
        else:
            self._holds[name] = why

    # --- the UTC day -------------------------------------------------------------------

    def note_equity(self, equity: float, now_ms: int) -> None:
        """Record the account equity; at a new UTC day it becomes that day's start equity."""
        self._roll(now_ms)
        if self._day["start_equity"] is None:
            self._day["start_equity"] = rules.day_start_equity(math.nan, float(equity), self._day["realized"])
            self.state.set_state(KEY_DAY, self._day, now_ms)
        self._last_equity = float(equity)

    def record_exit(self, symbol: str, pnl: float, reason: str, now_ms: int) -> None:
        """Book a closed position: realized pnl of the day, and a cooldown after a stop loss."""
        self._roll(now_ms)
        was_capped = self._capped()
        self._day["realized"] += float(pnl)
        self.state.set_state(KEY_DAY, self._day, now_ms)
        if self._capped() and not was_capped:
            log.warning("daily_loss_cap", extra={"realized": self._day["realized"],
                                                 "start_equity": self._day["start_equity"],
                                                 "until": self._day["day_ms"] + DAY_MS})
        if reason == "stop_loss":
            self.start_cooldown(symbol, now_ms)

    def start_cooldown(self, symbol: str, now_ms: int) -> None:
        """Start the cooldown a stop loss starts (also after a position closed by hand)."""
        if self.cfg.cooldown_minutes <= 0:
            return
        until = rules.cooldown_end(now_ms, self.cfg.cooldown_minutes)
        self._prune(now_ms)
        keys = [symbol, GLOBAL] if self.cfg.global_cooldown else [symbol]
        for key in keys:
            self._cooldowns[key] = max(self._cooldowns.get(key, 0), until)
        self.state.set_state(KEY_COOLDOWNS, self._cooldowns, now_ms)
        log.info("cooldown_started", extra={"symbol": symbol, "until": until, "global": self.cfg.global_cooldown})

    def pnl_today(self, now_ms: int) -> float:
        """Realized pnl of the UTC day containing now_ms."""
        self._roll(now_ms)
        return float(self._day["realized"])

    def start_equity(self, now_ms: int) -> float | None:
        """The start-of-day equity the loss cap is measured against (None if not yet seen)."""
        self._roll(now_ms)
        start = self._day["start_equity"]
        return None if start is None else float(start)

    def _roll(self, now_ms: int) -> None:
        day = self._day
        if now_ms - now_ms % DAY_MS == day["day_ms"]:  # the same day (checked inline: every check and exit)
            return
        last = math.nan if self._last_equity is None else self._last_equity
        day_ms, start, realized = rules.roll_day(rules.NO_DAY if day["day_ms"] is None else day["day_ms"],
                                                 _nan(day["start_equity"]), day["realized"], last, now_ms)
        self._day = {"day_ms": day_ms, "start_equity": None if math.isnan(start) else start, "realized": realized}
        self.state.set_state(KEY_DAY, self._day, now_ms)

    def _capped(self) -> bool:
        return rules.loss_capped(self._day["realized"], _nan(self._day["start_equity"]),
                                 self.cfg.daily_loss_limit_pct)

    # --- cooldowns ---------------------------------------------------------------------

    def cooldowns(self, now_ms: int) -> dict[str, int]:
        """Active cooldowns: symbol (or "*" for all) -> until epoch ms."""
        return {k: v for k, v in self._cooldowns.items() if v > now_ms}

    def cooldown_until(self, symbol: str, now_ms: int) -> int | None:
        """When the symbol may be entered again, or None if it is not cooling down."""
        until = max(self._cooldowns.get(symbol, 0), self._cooldowns.get(GLOBAL, 0))
        return until if until > now_ms else None

    def _prune(self, now_ms: int) -> None:
        self._cooldowns = self.cooldowns(now_ms)

    # --- checks ------------------------------------------------------------------------

    def check_entry(self, symbol: str, open_symbols: Collection[str], regime: RegimeState,
                    now_ms: int) -> RiskCheck:
        """May a new position on `symbol` be opened now? A hold first, then the first failing control."""
        if self._holds:
            return RiskCheck(False, next(iter(self._holds)))
        self._roll(now_ms)
        verdict = rules.entry_verdict(bool(self._halt), self._paused, symbol in open_symbols, len(open_symbols),
                                      self.cfg.max_positions, self._capped(),
                                      self.cooldown_until(symbol, now_ms) is not None, regime.regime is Regime.CRISIS)
        return _CHECKS[verdict]

    @staticmethod
    def size_check(size: float) -> RiskCheck:
        """The verdict on a `position_size` result: 0.0 means the order would be too small."""
        return OK if size > 0 else RiskCheck(False, "below_min_order")

    def blocks(self, now_ms: int | None = None, regime: RegimeState | None = None) -> list[str]:
        """Human-readable active blocks on new entries, for logs and the dashboard.

        Args:
            regime: the current regime; CRISIS (or a regime sizing to zero) is listed as a block.
        """
        now = self.clock.now_ms() if now_ms is None else now_ms
        self._roll(now)
        out: list[str] = list(self._holds.values())
        if self._halt:
            out.append(f"halted: {self._halt}")
        if self._paused:
            out.append("paused by operator")
        if self._capped():
            limit = self.cfg.daily_loss_limit_pct * float(self._day["start_equity"])
            out.append(f"daily loss cap: {self._day['realized']:.2f} <= -{limit:.2f} until "
                       f"{_hhmm(self._day['day_ms'] + DAY_MS)} UTC")
        for key, until in sorted(self.cooldowns(now).items()):
            who = "all symbols" if key == GLOBAL else key
            out.append(f"cooldown {who} until {_hhmm(until)} UTC")
        if regime is not None and (regime.regime is Regime.CRISIS or regime.size_factor <= 0):
            score = "" if regime.score is None or not math.isfinite(regime.score) else f", score {regime.score:.2f}"
            out.append(f"regime {regime.regime.value}: no new entries{score}")
        return out

    # --- sizing, stops, timeouts -------------------------------------------------------

    def position_size(self, equity: float, price: float, size_factor: float = 1.0,
                      sz_decimals: int | None = None) -> float:
        """Position size in coins, or 0.0 when the order would be below min_order_usd.

        Notional is equity x position_fraction x leverage (sizing: fraction) or notional_usd
        capped at equity x leverage (sizing: fixed), times the regime's size factor; the size
        is rounded down to sz_decimals so rounding never exceeds the budget.

        Raises:
            StrategyError: a non-positive or non-finite price, or a bad size factor / equity.
        """
        if not math.isfinite(price) or price <= 0:
            raise StrategyError(f"position_size needs a positive price (got {price!r})")
        if not math.isfinite(equity) or not math.isfinite(size_factor) or size_factor < 0:
            raise StrategyError(f"position_size needs finite equity and size_factor >= 0 "
                                f"(got equity={equity!r}, size_factor={size_factor!r})")
        if sz_decimals is not None and sz_decimals < 0:
            raise StrategyError(f"sz_decimals must be >= 0 (got {sz_decimals})")
        cfg = self.cfg
        size = rules.position_size(equity, price, size_factor, cfg.sizing == "fixed", cfg.notional_usd,
                                   cfg.position_fraction, cfg.leverage)
        if sz_decimals is not None:
            scale = 10**sz_decimals
            # round() first so 0.3/0.1-style float error cannot floor a whole step away.
            size = math.floor(round(size * scale, 6)) / scale
        return 0.0 if rules.order_too_small(size, price, cfg.min_order_usd) else size

    def stop_price(self, side: Side, entry_price: float) -> float:
        """The stop-loss price stop_loss_pct away from the entry, against the position."""
        return rules.stop_price(side.sign, entry_price, self.cfg.stop_loss_pct)

    def is_timed_out(self, opened_at_ms: int, now_ms: int) -> bool:
        """True once a position has been open position_timeout_hours (close it: `timeout`)."""
        return now_ms - opened_at_ms >= self.timeout_ms

    @property
    def timeout_ms(self) -> int:
        return rules.timeout_ms(self.cfg.position_timeout_hours)


def _as_day(raw: Any) -> dict[str, Any]:
    """The stored day ledger, or an empty one (unknown or damaged state starts a fresh day)."""
    if isinstance(raw, dict) and isinstance(raw.get("day_ms"), int):
        start = raw.get("start_equity")
        return {
            "day_ms": raw["day_ms"],
            "start_equity": float(start) if isinstance(start, (int, float)) else None,
            "realized": float(raw.get("realized") or 0.0),
        }
    return {"day_ms": None, "start_equity": None, "realized": 0.0}


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _hhmm(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
