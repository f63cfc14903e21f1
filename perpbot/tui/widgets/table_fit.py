"""Provides fit_columns: widen a DataTable's columns to their cells at once, not on the table's next Idle."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def fit_columns(table: DataTable[object], rows: Sequence[Sequence[str | Text]]) -> None:
    """Widen each column to its widest cell in `rows` (never narrower than now).

    DataTable measures new rows only when it next goes idle, which for a table its parent fills
    can be after the next paint: the first frame (and a screenshot) would show header-wide columns.
    """
    for column, cells in zip(table.ordered_columns, zip(*rows)):
        widest = max((cell_len(c) if isinstance(c, str) else c.cell_len for c in cells), default=0)
        column.content_width = max(column.content_width, widest)
