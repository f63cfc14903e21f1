"""Provides the signals layer of perp-bot."""
