"""Provides the green/red cell every console table shares (`signed`).

Its own module, with rich.text its only import, so `perpbot backtest` prints its summary without
importing the report renderers of console.py (the weekly review and the comparison: ~20 ms of a
fresh process).
"""

from __future__ import annotations

from rich.text import Text


def signed(cell: str) -> Text:
    """Green gains, red losses: the eye finds the bad weeks first."""
    style = "green" if cell.startswith("+") else "red" if cell.startswith("-") and cell != "-" else ""
    return Text(cell, style=style)
