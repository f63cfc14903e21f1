"""Provides the risk layer of perp-bot."""
