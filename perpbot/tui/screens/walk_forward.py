"""Provides WalkForwardScreen: run or load a walk-forward (windows, IS/OOS, stitched equity), or a sweep's heatmap."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ContentSwitcher, Footer, Input

from perpbot.errors import ConfigError, PerpbotError
from perpbot.tui.backtest_data import (
    WalkForwardRequest,
    load_result,
    parse_grid,
    run_walk_forward_request,
    thin,
)
from perpbot.tui.screens.backtest import backtest_fields, read_request
from perpbot.tui.screens.run_screen import RunScreen
from perpbot.tui.widgets.curve_plot import Curve, CurvePlot
from perpbot.tui.widgets.heatmap import Heatmap
from perpbot.tui.widgets.run_form import Field, RunForm
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.tui.widgets.wf_summary import WalkForwardSummary
from perpbot.tui.widgets.windows_table import WindowsTable

DEFAULT_GRID = "strategy.entry_z=1.5:2.5:0.5"


def walk_forward_fields(settings: Any | None) -> list[Field]:
    """Backtest's data fields plus the window lengths, the metric and the grid (no single parameter values)."""
    data = backtest_fields(settings)[:4]
    short = settings is None or settings.data.history_days <= 7
    return [*data, Field("train", "Train d", "1" if short else "20"), Field("test", "Test d", "0.5" if short else "5"),
            Field("metric", "Metric", "sharpe"), Field("grid", "Grid", DEFAULT_GRID, "key=A:B:STEP key=A,B")]


def read_walk_forward(values: dict[str, Any]) -> WalkForwardRequest:
    """The form's values as a request (ConfigError names the bad field)."""
    bt = read_request({**values, **{key: "" for key in ("strategy.entry_z", "strategy.exit_z", "strategy.window",
                                                        "risk.stop_loss_pct")}})
    days = {}
    for key, label in (("train", "Train days"), ("test", "Test days")):
        try:
            days[key] = float(values[key])
        except ValueError:
            raise ConfigError(f"{label}: {values[key]!r} is not a number of days", "e.g. 1 or 0.5") from None
    return WalkForwardRequest(bt, parse_grid(values["grid"]), days["train"], days["test"],
                              values["metric"].strip() or "sharpe", bool(values.get("anchored")))


class WalkForwardScreen(RunScreen):
    """Walk-forward results: per-window table, in/out-of-sample metrics, stitched equity; sweeps as a heatmap."""

    CSS_PATH = "walk_forward.tcss"
    AUTO_FOCUS = "#windows"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+o", "load", "Load"),
        Binding("ctrl+t", "toggle_view", "Heatmap"),
        Binding("escape", "cancel", "Cancel"),
    ]

    JOB = "Walk-forward"
    WORKER_GROUP = "walk-forward"
    IDLE_FOCUS = "#windows"

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="body"):
            with Vertical(id="side"):
                with Horizontal(id="load-box"):
                    yield Input(placeholder="result.json", id="path", compact=True)
                    yield Button("Load", id="load", compact=True)
                yield RunForm("Walk-forward", walk_forward_fields(None), [("anchored", "Anchored train windows", False)],
                              id="form")
            with ContentSwitcher(initial="wf-view", id="view"):
                with Vertical(id="wf-view"):
                    yield WalkForwardSummary(id="summary")
                    yield WindowsTable(id="windows")
                    yield CurvePlot("Stitched out-of-sample equity", id="stitched")
                with Vertical(id="sweep-view"):
                    yield Heatmap(id="heatmap")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#load-box").border_title = "Load a result"
        self.query_one(WalkForwardSummary).note = ("Run a walk-forward with the form (ctrl+r), or load a result "
                                                   "written by `perpbot walk-forward --json` (ctrl+o).")
        self.query_one(Heatmap).note = "Load a `perpbot sensitivity --json` result to see its heatmap."

    def form_fields(self, settings: Any | None) -> list[Field]:
        return walk_forward_fields(settings)

    # --- actions -------------------------------------------------------------------------------

    def action_load(self) -> None:
        path = self.query_one("#path", Input).value
        if not path.strip():
            self.query_one("#path", Input).focus()
            self.notify("Type the path of a result file, then Enter", severity="warning")
            return
        self.start_job(lambda progress: load_result(path), f"Loading {path}...")

    def action_toggle_view(self) -> None:
        switcher = self.query_one(ContentSwitcher)
        switcher.current = "sweep-view" if switcher.current == "wf-view" else "wf-view"

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#load")
    def _load_requested(self) -> None:
        self.action_load()

    @on(RunForm.RunRequested, "#form")
    def _run_requested(self, message: RunForm.RunRequested) -> None:
        info = self.info
        if info is None:
            self.notify("The session has not started yet", severity="warning")
            return
        try:
            request = read_walk_forward(message.values)
        except PerpbotError as exc:
            self.notify(str(exc), title="Cannot run the walk-forward", severity="error")
            return
        self.start_job(lambda progress: run_walk_forward_request(info.settings, info.db_path, request, progress),
                       "Running the walk-forward...")

    def show_result(self, result: Any) -> None:
        if hasattr(result, "windows"):
            self.show_walk_forward(result)
        else:
            self.show_sweep(result)

    # --- results -------------------------------------------------------------------------------

    def show_walk_forward(self, result: Any) -> None:
        self.query_one(RunForm).status = f"{len(result.windows)} windows, {len(result.stitched.trades)} OOS trades"
        self.query_one(WalkForwardSummary).result = result
        self.query_one(WindowsTable).show(result.windows, result.metric)
        t, equity = thin(result.stitched.times, result.stitched.values)
        self.query_one("#stitched", CurvePlot).curve = Curve(f"{len(result.windows)} test windows", t, equity, "green")
        self.query_one(ContentSwitcher).current = "wf-view"

    def show_sweep(self, sweep: Any) -> None:
        heatmap = self.query_one(Heatmap)
        if not 1 <= len(sweep.params) <= 2:
            heatmap.sweep = None
            heatmap.note = f"A heatmap needs one or two swept parameters; this sweep has {len(sweep.params)}."
        else:
            heatmap.sweep = sweep
        self.query_one(RunForm).status = f"Sweep of {len(sweep.rows)} runs loaded"
        self.query_one(ContentSwitcher).current = "sweep-view"
