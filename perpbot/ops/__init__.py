"""Provides the ops layer of perp-bot."""
