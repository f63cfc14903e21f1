"""Provides the ipc layer of perp-bot."""
