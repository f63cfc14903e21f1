"""Provides WeeklyTable: the weekly review's table, one row per UTC week plus the total."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from perpbot.reporting.weekly import WeeklyReview, total_cells, week_cells

# The review's WEEK_COLUMNS, shortened so the table fits 120 columns.
_HEADERS = ("Week", "Trades", "PnL", "Return", "Win %", "PF", "Avg win", "Avg loss", "Max DD", "DD %", "Fees",
            "Funding", "Daily")


def _signed(cell: str) -> Text:
    style = "green" if cell.startswith("+") else "red" if cell.startswith("-") and cell != "-" else ""
    return Text(cell, style=style, justify="right")


class WeeklyTable(DataTable[object]):
    """The review as the `review` command prints it: the running week marked with *."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns(*_HEADERS)
        self.border_title = "Weekly review"

    def show(self, review: WeeklyReview) -> None:
        self.clear()
        for week in review.weeks:
            cells = week_cells(week)
            cells[0] = week.label if week.complete else f"{week.label}*"
            self.add_row(*self._row(cells), key=week.label)
        total = total_cells(review)
        self.add_row(*(Text(c.plain, style="bold", justify=c.justify) for c in self._row(total)), key="total")
        self.border_title = f"Weekly review, last {len(review.weeks)} UTC weeks (* running)"

    @staticmethod
    def _row(cells: list[str]) -> list[Text]:
        first, *rest = cells
        return [Text(first), *(_signed(c) if i in (1, 2) else Text(c, justify="right") for i, c in enumerate(rest))]
