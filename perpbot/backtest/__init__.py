"""Provides the backtest layer of perp-bot."""
