"""Provides the engine's commands and their results as plain objects: what an operator may ask of it.

`TradingEngine.execute(command)` takes one of the commands below and returns its domain result
(or raises `CommandRefused` with the reason, in words a user reads). Nothing here knows a wire
format: the control socket, the dashboard's in-process link and Telegram all reach the engine
through `perpbot.ipc.commands`, which turns requests into these objects and results into replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpbot.errors import PerpbotError


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The engine's state as `perpbot status` prints it."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Is the engine alive, and what time does it keep?"""


@dataclass(frozen=True, slots=True)
class Pause:
    """Stop opening positions (stops and exits go on)."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Allow new entries again."""


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close the position on `symbol` now and start its cooldown, as a stop loss does."""

    symbol: str


@dataclass(frozen=True, slots=True)
class Flatten:
    """Close every position and pause entries until Resume."""


Command = Snapshot | Ping | Pause | Resume | ClosePosition | Flatten


@dataclass(frozen=True, slots=True)
class Pong:
    time_ms: int
    mode: str


@dataclass(frozen=True, slots=True)
class Paused:
    """The pause switch after Pause or Resume."""

    paused: bool


@dataclass(frozen=True, slots=True)
class ClosedPosition:
    symbol: str
    side: str
    pnl: float | None
    exit_price: float | None


@dataclass(frozen=True, slots=True)
class Closed:
    """ClosePosition's result: what closed and when the symbol's cooldown ends."""

    closed: tuple[ClosedPosition, ...]
    cooldown_until: int | None


@dataclass(frozen=True, slots=True)
class Flattened:
    """Flatten's result: what closed, what could not be closed now; entries are paused."""

    closed: tuple[ClosedPosition, ...]
    still_open: tuple[str, ...]


Result = dict[str, Any] | Pong | Paused | Closed | Flattened
"""A Snapshot answers the state itself (a dict in the shape docs/interfaces.md lists)."""


class CommandRefused(PerpbotError):
    """The engine cannot do what was asked now (no such position, an exit the exchange refused)."""
