"""Provides the dashboard's widgets, one job each."""
