"""Provides scenarios for the simulator: timed market and fault events, read from a file or posted to /sim/.

A scenario is a list of events, each at a simulated time (`at`: a duration after the
simulator's start such as "10m", "+90s", "1h30m", or an ISO time). Kinds:

  price_move  coin, pct (e.g. -8), over (duration; default 1m), hold (optional), recover (optional)
  funding     coin, rate (hourly, e.g. 0.0005), for (duration)
  halt        coin, for        orders in the coin are refused
  ws_drop                      every WebSocket closed (code 1012)
  ws_stall    for              sockets stay open, send nothing
  outage      for              /info and /exchange answer 502, new sockets are refused, open ones dropped
  rate_limit  for              /info and /exchange answer 429 (a 429 storm)

Everything is a function of simulated time, so a run with a FakeClock is exactly repeatable.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from perpbot.errors import ConfigError

KINDS = ("price_move", "funding", "halt", "ws_drop", "ws_stall", "outage", "rate_limit")
_NEEDS = {"price_move": ("coin", "pct"), "funding": ("coin", "rate", "for"), "halt": ("coin", "for"),
          "ws_drop": (), "ws_stall": ("for",), "outage": ("for",), "rate_limit": ("for",)}
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\+?((?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+)$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
EXAMPLE = "e.g. {kind: price_move, at: 10m, coin: BTC, pct: -8, over: 2m}"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    at_ms: int
    coin: str | None = None
    pct: float = 0.0
    rate: float = 0.0
    duration_ms: int = 0  # `for`, or `over` for a price move
    hold_ms: int | None = None  # price_move: how long the moved price holds before it recovers (None: for good)
    recover_ms: int = 0

    @property
    def end_ms(self) -> int:
        return self.at_ms + self.duration_ms

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_duration(value: Any, where: str) -> int:
    """'90s', '1h30m', '+10m', 250 (ms) -> milliseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return int(value)
    text = str(value).strip().replace(" ", "")
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"{where}: cannot read the duration {value!r}", "write it like 90s, 10m, 1h30m or 250ms")
    return int(sum(float(n) * _UNIT_MS[u] for n, u in _PART.findall(match.group(1))))


def parse_at(value: Any, base_ms: int, where: str) -> int:
    """An event time: a duration after base_ms, or an ISO time."""
    text = str(value).strip()
    if "T" in text or (len(text) >= 10 and text[4:5] == "-"):
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"{where}: cannot read the time {value!r}", "use 2024-03-01T12:00Z or a delay like 10m") from None
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        return int(when.timestamp() * 1000)
    return base_ms + parse_duration(value, where)


def parse_event(raw: Any, base_ms: int, where: str, coins: list[str]) -> Event:
    """One event from its mapping (times relative to base_ms).

    Raises:
        ConfigError: naming the event and what is wrong with it.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: an event must be a mapping", EXAMPLE)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}", f"one of {', '.join(KINDS)}")
    missing = [k for k in _NEEDS[kind] if k not in raw]
    if missing:
        raise ConfigError(f"{where}: {kind} needs {', '.join(missing)}", EXAMPLE)
    unknown = set(raw) - {"kind", "at", "coin", "pct", "rate", "for", "over", "hold", "recover"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}", EXAMPLE)
    coin = raw.get("coin")
    if coin is not None and coin not in coins:
        raise ConfigError(f"{where}: the simulator does not list {coin!r}", f"one of {', '.join(coins)}")
    at = parse_at(raw.get("at", 0), base_ms, f"{where}.at")
    pct, rate = _number(raw, "pct", where), _number(raw, "rate", where)
    if kind == "price_move" and not -95 < pct <= 1000:
        raise ConfigError(f"{where}: pct {pct:g} is outside -95..1000", "a flash crash is e.g. pct: -8")
    if kind == "funding" and abs(rate) > 0.04:
        raise ConfigError(f"{where}: rate {rate:g} is beyond the exchange's 4%/hour cap", "an hourly rate, e.g. 0.0005")
    duration = parse_duration(raw.get("over", "1m") if kind == "price_move" else raw.get("for", 0), where)
    hold = parse_duration(raw["hold"], f"{where}.hold") if "hold" in raw else None
    recover = parse_duration(raw.get("recover", 0), f"{where}.recover")
    if kind == "price_move" and duration <= 0:
        raise ConfigError(f"{where}: over must be > 0", "e.g. over: 2m")
    return Event(kind, at, coin, pct, rate, duration, hold if hold is not None or not recover else 0, recover)


def _number(raw: dict[str, Any], key: str, where: str) -> float:
    value = raw.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}.{key}: {value!r} is not a number", EXAMPLE)
    return float(value)


def parse_events(doc: Any, base_ms: int, coins: list[str], source: str) -> list[Event]:
    """Events from a decoded document: {"events": [...]}, a list of events, or one event."""
    items = doc.get("events") if isinstance(doc, dict) and "events" in doc else doc
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ConfigError(f"{source}: expected a list of events under `events:`", EXAMPLE)
    return sorted((parse_event(e, base_ms, f"{source}: events[{i}]", coins) for i, e in enumerate(items)),
                  key=lambda e: e.at_ms)


def load_scenario(path: str, base_ms: int, coins: list[str]) -> list[Event]:
    """A scenario file (YAML or JSON), times relative to the simulator's start.

    Raises:
        ConfigError: a missing or unreadable file, or a bad event (named by its index).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"--scenario {path}: no such file", "check the path")
    try:
        text = file.read_text()
        doc = json.loads(text) if file.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"--scenario {path}: cannot be read ({exc})", "write it as YAML: see the README") from exc
    return parse_events(doc, base_ms, coins, path)
