"""Provides the sim layer of perp-bot."""
