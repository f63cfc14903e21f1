"""Provides the reporting layer of perp-bot."""
