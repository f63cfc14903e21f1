"""perp-bot: a mean-reversion trading bot for Hyperliquid perpetual futures."""

__version__ = "0.1.0"
