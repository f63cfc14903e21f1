"""Provides the execution layer of perp-bot."""
