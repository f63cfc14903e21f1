"""Provides the risk layer of perp-bot: the RiskManager, its state port and the startup halt."""
