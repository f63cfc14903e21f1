"""Provides the tui layer of perp-bot."""
