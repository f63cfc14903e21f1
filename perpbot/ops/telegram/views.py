"""Provides the replies built from the engine's snapshot: /status, /positions, /signals and /help.

Pure functions from the snapshot (docs/interfaces.md) and the engine's time to `Block`s; a phone
shows about 35 monospace columns, so figures go one per line rather than in wide tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from perpbot.ops.telegram.text import BOLD, PRE, Block
from perpbot.reporting.numbers import price
from perpbot.reporting.weekly import money

COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "mode, paused, regime, equity, today's PnL, feed"),
    ("positions", "open positions: entry, mark, PnL, stop, age"),
    ("signals", "the latest decision per symbol"),
    ("profit", "[days] closed-trade profit (all time by default)"),
    ("daily", "[n] PnL per UTC day, last n days (7)"),
    ("weekly", "the weekly review, as perpbot review"),
    ("pause", "stop new entries (positions keep their stops)"),
    ("resume", "allow new entries again"),
    ("close", "SYMBOL close one position (asks first)"),
    ("flatten", "close every position (asks first)"),
    ("help", "this list"),
)
"""Every command and its one-line description (also the menu set with setMyCommands)."""


def num(value: Any) -> str:
    """A price or size: six significant digits, thousands separated; '-' when unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:,.6g}"


def utc(ts_ms: int | None, with_date: bool = False) -> str:
    if ts_ms is None:
        return "-"
    when = datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M UTC")


def duration(ms: int) -> str:
    """A short age: 42 s, 17 min, 3 h 05 min, 2 d 4 h."""
    seconds = max(ms, 0) // 1000
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    """Aligned `key  value` lines (for a <pre> block)."""
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in pairs)


def help_blocks() -> list[Block]:
    lines = [f"/{name} {text}" for name, text in COMMANDS]
    return [Block("perp-bot commands", BOLD), Block("\n".join(lines)),
            Block("/close and /flatten ask for a confirmation button, valid 60 s.")]


def status_blocks(snap: dict[str, Any], now_ms: int) -> list[Block]:
    """/status: mode, paused, regime, equity, today's PnL, feed health, last tick."""
    mode = str(snap.get("mode") or "?").upper()
    state = "HALTED" if snap.get("halted") else "PAUSED" if snap.get("paused") else "running"
    score = snap.get("regime_score")
    regime = f"{snap.get('regime') or '-'}" + (f" ({score:.2f})" if isinstance(score, (int, float)) else "")
    positions = snap.get("positions") or []
    pairs = [
        ("paused", "yes" if snap.get("paused") else "no"),
        ("regime", regime),
        ("equity", num(snap.get("equity"))),
        ("today", money(snap.get("pnl_today"))),
        ("positions", f"{len(positions)} open, {len(snap.get('pending') or [])} pending"),
        ("last tick", _ago(snap.get("last_tick"), now_ms)),
    ]
    if snap.get("halted"):
        pairs.insert(1, ("halted", str(snap.get("halt_reason") or "yes")))
    blocks = [Block(f"perp-bot {mode}: {state}", BOLD), Block(key_values(pairs), PRE)]
    feed = snap.get("feed") or {}
    if feed:
        blocks.append(Block("feed\n" + "\n".join(_feed_line(s, f) for s, f in sorted(feed.items())), PRE))
    if snap.get("risk_blocks"):
        blocks.append(Block("blocks: " + "; ".join(str(b) for b in snap["risk_blocks"])))
    return blocks


def _ago(ts_ms: Any, now_ms: int) -> str:
    return "never" if not isinstance(ts_ms, int) else f"{duration(now_ms - ts_ms)} ago ({utc(ts_ms)})"


def _feed_line(symbol: str, health: Any) -> str:
    if not isinstance(health, dict):
        return f"{symbol:<6} ?"
    ok = "ok" if health.get("healthy") else "STALE"
    age = health.get("age_s")
    age_text = f"{age:.0f} s" if isinstance(age, (int, float)) else "-"
    return f"{symbol:<6} {ok:<5} {age_text:>6} {health.get('source') or ''}"


def positions_blocks(snap: dict[str, Any], now_ms: int) -> list[Block]:
    """/positions: each with entry, mark, unrealized PnL, stop and age."""
    positions = snap.get("positions") or []
    if not positions:
        return [Block("No open positions.")]
    blocks = [Block(f"{len(positions)} open position{'s' if len(positions) != 1 else ''}", BOLD)]
    total = 0.0
    for p in positions:
        pnl = p.get("unrealized_pnl")
        total += pnl or 0.0
        opened = p.get("opened_at")
        age = duration(now_ms - opened) if isinstance(opened, int) else "-"
        pairs = [("entry", price(p.get("entry_price"))), ("mark", price(p.get("mark"))), ("PnL", money(pnl)),
                 ("stop", price(p.get("stop"))), ("age", age)]
        blocks.append(Block(f"{p.get('symbol')} {p.get('side')} {num(p.get('size'))}\n{key_values(pairs)}", PRE))
    blocks.append(Block(f"unrealized total {money(total)}"))
    return blocks


def signals_blocks(snap: dict[str, Any]) -> list[Block]:
    """/signals: the per-symbol decision table when the engine keeps one, else the latest signal per symbol."""
    table = snap.get("signals")
    if isinstance(table, list) and table:
        return [Block("Latest decision per symbol", BOLD), *(_decision(row) for row in table if isinstance(row, dict))]
    latest: dict[str, dict[str, Any]] = {}
    for signal in snap.get("recent_signals") or []:
        if isinstance(signal, dict):
            latest[str(signal.get("symbol"))] = signal  # newest last: the last one wins
    if not latest:
        return [Block("No signal yet: entries and exits are decided at each bar close.")]
    lines = [f"{s:<6} {str(v.get('action')):<6} {v.get('reason')}  {utc(v.get('time'))}" for s, v in sorted(latest.items())]
    return [Block("Latest signal per symbol", BOLD), Block("\n".join(lines), PRE)]


_DECISION_VALUES = ("close", "z", "bb_lower", "bb_upper", "rsi", "adx", "hurst")


def _decision(row: dict[str, Any]) -> Block:
    risk = f" (risk: {row['risk']})" if row.get("risk") else ""
    head = f"{row.get('symbol')} {row.get('decision')} {row.get('reason')}{risk}  bar {utc(row.get('bar_time'))}"
    values = "  ".join(f"{k} {_value(k, row.get(k))}" for k in _DECISION_VALUES if k in row)
    return Block(f"{head}\n{values}" if values else head, PRE)


_PRICES = ("close", "bb_lower", "bb_upper")


def _value(key: str, value: Any) -> str:
    """A price with six significant digits in fixed notation (a close and its band must differ on
    screen); an indicator with two decimals."""
    if value is None:
        return "-"  # disabled or still warming up
    if key in _PRICES:
        return price(value)
    return f"{value:.2f}" if isinstance(value, float) else num(value) if isinstance(value, int) else str(value)
