"""Provides the data layer of perp-bot."""
