"""Provides the one exception hierarchy; callers branch on what to do next."""

from __future__ import annotations


class PerpbotError(Exception):
    """Root of every error perp-bot raises on purpose.

    Args:
        message: what failed, in one sentence.
        hint: how the user fixes it (optional).
    """

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(PerpbotError):
    """The configuration or the environment is wrong: a human must fix it."""


class StorageError(PerpbotError):
    """The SQLite store cannot be opened, migrated or written."""


class StorageWriteError(StorageError):
    """A write failed for a reason outside the program (disk full, read-only, I/O error, locked):
    nothing was half-written (SQLite rolled back), and the same write may succeed once it is fixed."""


class StorageCorrupt(StorageError):
    """The database file is damaged: a human must restore a backup."""


class StrategyError(PerpbotError):
    """Bad strategy input: parameters, data ranges, grids."""


class BacktestError(StrategyError):
    """A backtest cannot run as asked: no data, unknown symbol, bad range."""


class ExchangeError(PerpbotError):
    """The exchange (or a data source) failed or answered something unusable."""


class TransientExchangeError(ExchangeError):
    """Worth retrying: timeouts, transport errors, 5xx."""


class RateLimitedError(TransientExchangeError):
    """HTTP 429: retry after backing off."""


class MalformedResponseError(ExchangeError):
    """The response body did not have the shape the protocol promises."""


class OrderRejected(ExchangeError):
    """The exchange refused an order or action; retrying the same thing will not help."""


class DaemonNotRunning(PerpbotError):
    """No daemon answers on the socket."""

    exit_code = 1
