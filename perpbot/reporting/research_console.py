"""Provides the rich renderers the search commands share: the overfitting figures and identical trades.

`perpbot sensitivity`, `walk-forward` and `optimize` print the same table and sentence, so a
user learns to read them once.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from perpbot.backtest.overfitting import DSR_BAR, PBO_BAR, Overfitting
from perpbot.backtest.trials import describe_group

__all__ = ["identical_marks", "overfitting_table", "print_identical", "print_overfitting"]

MARKS = "abcdefghijklmnopqrstuvwxyz"


def overfitting_table(stats: Overfitting) -> Table:
    """DSR, PBO and their inputs in two columns of name/value pairs."""
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="overfitting (per-day figures)", title_justify="left")
    for _ in range(2):
        table.add_column("figure")
        table.add_column("value", justify="right")
    dsr = Text("-" if stats.dsr is None else f"{stats.dsr:.3f}",
               style="" if stats.dsr is None else "green" if stats.dsr >= DSR_BAR else "red")
    pbo = Text("-" if stats.pbo is None else f"{stats.pbo:.3f}",
               style="" if stats.pbo is None else "green" if stats.pbo <= PBO_BAR else
               "red" if stats.pbo >= 0.5 else "yellow")
    cells: list[tuple[str, Any]] = [
        ("deflated Sharpe", dsr), ("PBO (CSCV)", pbo),
        ("daily Sharpe", _num(stats.sharpe)), ("luck's best (SR0)", _num(stats.expected_max_sharpe)),
        ("trials", f"{stats.trials} ({stats.distinct_trials} distinct)"),
        ("Sharpe variance", _num(stats.sharpe_variance, 5)),
        ("returns (days)", str(stats.returns)), ("partitions", "-" if stats.partitions is None else
                                                 f"{stats.partitions} ({stats.splits:,} splits)"),
        ("skewness", _num(stats.skewness)), ("kurtosis (raw)", _num(stats.kurtosis)),
    ]
    for i in range(0, len(cells), 2):
        table.add_row(*cells[i], *cells[i + 1])
    return table


def print_overfitting(raw: dict[str, Any] | None, console: Console) -> None:
    if not raw:
        return
    stats = Overfitting.from_dict(raw)
    console.print(overfitting_table(stats))
    console.print(stats.sentence())


def print_identical(groups: list[dict[str, Any]], console: Console) -> None:
    """One line per group of combinations with identical trades, lettered as the 2-D table marks them."""
    for mark, group in zip(MARKS, groups):
        console.print(f"[yellow]identical trades ({mark})[/]: {describe_group(group)}")


def identical_marks(groups: list[dict[str, Any]]) -> dict[int, str]:
    """Row index -> the letter of its identical-trades group."""
    return {i: mark for mark, g in zip(MARKS, groups) for i in g["rows"]}


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
