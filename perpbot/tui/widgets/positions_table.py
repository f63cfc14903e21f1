"""Provides PositionsTable: open positions with live mark, unrealized PnL, stop, liquidation price, margin,
age and timeout countdown."""

from __future__ import annotations

from rich.text import Text
from textual.coordinate import Coordinate
from textual.reactive import reactive
from textual.widgets import DataTable

from perpbot.models import Side
from perpbot.tui import format as fmt
from perpbot.tui.widgets.table_fit import fit_columns
from perpbot.tui.state import PositionView, RestingView

_COLUMNS = ("Symbol", "Side", "Size", "Entry", "Mark", "uPnL", "Stop", "Liq", "Margin", "Age", "Timeout")


class PositionsTable(DataTable[object]):
    """One row per open position; the cursor row is the one `close` acts on."""

    positions: reactive[tuple[PositionView, ...]] = reactive(tuple, always_update=True)
    resting: reactive[tuple[RestingView, ...]] = reactive(tuple)
    now_ms: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_columns(*_COLUMNS)
        self.border_title = "Open positions"

    def watch_positions(self) -> None:
        self._fill()

    def watch_now_ms(self) -> None:
        self._fill()

    def watch_resting(self) -> None:
        """Resting maker orders under the table: they count as positions for their coin, not yet filled."""
        self.border_subtitle = "resting: " + ", ".join(
            f"{r.symbol} {r.kind} {r.side} {fmt.size(r.size)} @ {fmt.price(r.limit)}" for r in self.resting
        ) if self.resting else ""

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor, if any position is open."""
        if not self.row_count:
            return None
        row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        return str(row_key.value)

    def _fill(self) -> None:
        if not self.is_mounted:
            return
        keep = self.selected_symbol
        self.clear()
        rows = []
        for p in self.positions:
            side = Text(p.side.value, style="green" if p.side is Side.LONG else "red")
            timeout = "-" if p.timeout_at is None else fmt.duration(p.timeout_at - self.now_ms)
            rows.append([p.symbol, side, fmt.size(p.size), fmt.price(p.entry_price), fmt.price(p.mark),
                         fmt.pnl(p.unrealized_pnl), fmt.price(p.stop), fmt.price(p.liquidation_px),
                         fmt.money(p.margin_used), fmt.duration(self.now_ms - p.opened_at), timeout])
            self.add_row(*rows[-1], key=p.symbol)
        fit_columns(self, rows)
        count = len(self.positions)
        self.border_title = f"Open positions: {count}" if count else "Open positions: none"
        symbols = [p.symbol for p in self.positions]
        if keep in symbols:
            self.move_cursor(row=symbols.index(keep), animate=False)
