"""Provides the dashboard's modal dialogs."""
