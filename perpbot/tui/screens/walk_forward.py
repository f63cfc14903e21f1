"""Provides WalkForwardScreen: run or load a walk-forward, a sensitivity sweep (heatmap) or an optimisation (trials)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, ContentSwitcher, Footer, Input, Select

from perpbot.errors import ConfigError, PerpbotError
from perpbot.tui.backtest_data import (
    WalkForwardRequest,
    load_result,
    parse_grid,
    thin,
)
from perpbot.tui.screens.backtest import backtest_fields, read_request
from perpbot.tui.screens.run_screen import RunScreen
from perpbot.tui.search_data import parse_optimize
from perpbot.tui.widgets.curve_plot import Curve, CurvePlot
from perpbot.tui.widgets.heatmap import Heatmap
from perpbot.tui.widgets.optimize_summary import OptimizeSummary
from perpbot.tui.widgets.run_form import Field, RunForm
from perpbot.tui.widgets.status_bar import StatusBar
from perpbot.tui.widgets.trials_table import TrialsTable
from perpbot.tui.widgets.wf_summary import WalkForwardSummary
from perpbot.tui.widgets.windows_table import WindowsTable

DEFAULT_GRID = "strategy.entry_z=1.5:2.5:0.5"
DEFAULT_RANGES = "strategy.entry_z=1.5:3.0 strategy.exit_z=0.0:1.0"
KINDS = (("Walk-forward", "walk_forward"), ("Sensitivity sweep", "sensitivity"), ("Optimisation", "optimize"))
"""What the form runs: the grid is a grid for the first two, ranges (key=LOW:HIGH) for an optimisation."""
VIEWS = ("wf-view", "sweep-view", "opt-view")


def walk_forward_fields(settings: Any | None) -> list[Field]:
    """Backtest's data fields plus the window lengths, the metric and the grid (no single parameter values)."""
    data = backtest_fields(settings)[:4]
    short = settings is None or settings.data.history_days <= 7
    return [*data, Field("train", "Train d", "1" if short else "20"), Field("test", "Test d", "0.5" if short else "5"),
            Field("metric", "Metric", "sharpe"), Field("trials", "Trials", "30"),
            Field("grid", "Grid", DEFAULT_GRID, "key=A:B:STEP key=A,B")]


def read_data(values: dict[str, Any]) -> Any:
    """The form's data fields (symbols, dates, timeframe) as a BacktestRequest with no parameter values."""
    return read_request({**values, **{key: "" for key in ("strategy.entry_z", "strategy.exit_z", "strategy.window",
                                                          "risk.stop_loss_pct")}})


def read_walk_forward(values: dict[str, Any]) -> WalkForwardRequest:
    """The form's values as a request (ConfigError names the bad field)."""
    bt = read_data(values)
    days = {}
    for key, label in (("train", "Train days"), ("test", "Test days")):
        try:
            days[key] = float(values[key])
        except ValueError:
            raise ConfigError(f"{label}: {values[key]!r} is not a number of days", "e.g. 1 or 0.5") from None
    return WalkForwardRequest(bt, parse_grid(values["grid"]), days["train"], days["test"],
                              values["metric"].strip() or "sharpe", bool(values.get("anchored")))


class WalkForwardScreen(RunScreen):
    """Walk-forward results (windows, in/out of sample, stitched equity), sweeps as a heatmap, optimisations' trials."""

    CSS_PATH = "walk_forward.tcss"
    AUTO_FOCUS = "#windows"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+o", "load", "Load"),
        Binding("ctrl+t", "toggle_view", "View"),
        Binding("ctrl+k", "next_kind", "Kind", show=False),
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
                yield Select(KINDS, value="walk_forward", allow_blank=False, id="kind", compact=True)
                yield RunForm("Walk-forward", walk_forward_fields(None), [("anchored", "Anchored train windows", False)],
                              id="form")
            with ContentSwitcher(initial="wf-view", id="view"):
                with Vertical(id="wf-view"):
                    yield WalkForwardSummary(id="summary")
                    yield WindowsTable(id="windows")
                    yield CurvePlot("Stitched out-of-sample equity", id="stitched")
                with Vertical(id="sweep-view"):
                    yield Heatmap(id="heatmap")
                with Vertical(id="opt-view"):
                    yield OptimizeSummary(id="opt-summary")
                    yield TrialsTable(id="trials")
                    yield CurvePlot("Equity of the best trial", id="best-equity")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#load-box").border_title = "Load a result"
        self.query_one(WalkForwardSummary).note = ("Run a walk-forward with the form (ctrl+r), or load a result "
                                                   "written by `perpbot walk-forward --json` (ctrl+o).")
        self.query_one(Heatmap).note = ("Run a sensitivity sweep (pick it above the form), or load a "
                                        "`perpbot sensitivity --json` result, to see its heatmap.")

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
        switcher.current = VIEWS[(VIEWS.index(switcher.current or VIEWS[0]) + 1) % len(VIEWS)]

    def action_next_kind(self) -> None:
        select = self.query_one("#kind", Select)
        kinds = [k for _, k in KINDS]
        select.value = kinds[(kinds.index(str(select.value)) + 1) % len(kinds)]

    @on(Input.Submitted, "#path")
    @on(Button.Pressed, "#load")
    def _load_requested(self) -> None:
        self.action_load()

    @on(Select.Changed, "#kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        """The form names what it runs; the default grid becomes ranges for an optimisation and back."""
        form = self.query_one(RunForm)
        form.border_title = dict((k, label) for label, k in KINDS)[str(event.value)]
        grid = str(form.values()["grid"])
        if event.value == "optimize" and grid == DEFAULT_GRID:
            form.set_value("grid", DEFAULT_RANGES)
        elif event.value != "optimize" and grid == DEFAULT_RANGES:
            form.set_value("grid", DEFAULT_GRID)

    @on(RunForm.RunRequested, "#form")
    def _run_requested(self, message: RunForm.RunRequested) -> None:
        info = self.info
        if info is None:
            self.notify("The session has not started yet", severity="warning")
            return
        kind = str(self.query_one("#kind", Select).value)
        self.JOB = dict((k, label) for label, k in KINDS)[kind]
        try:
            values = message.values
            if kind == "optimize":
                request: Any = parse_optimize(read_data(values), str(values["grid"]), str(values["metric"]),
                                              str(values["trials"]))
            else:
                request = read_walk_forward(values)
        except PerpbotError as exc:
            self.notify(str(exc), title=f"Cannot run the {self.JOB.lower()}", severity="error")
            return
        runner = self.runner
        run = {"walk_forward": runner.walk_forward, "sensitivity": runner.sensitivity, "optimize": runner.optimize}[kind]
        self.start_job(lambda progress: run(info.settings, info.db_path, request, progress),
                       f"Running the {self.JOB.lower()}...")

    def show_result(self, result: Any) -> None:
        if hasattr(result, "best_params"):
            self.show_optimize(result)
        elif hasattr(result, "windows"):
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

    def show_optimize(self, result: Any) -> None:
        self.query_one(RunForm).status = f"{len(result.trials)} trials, best {result.objective} " \
                                         f"{result.best_value:.2f}" if result.best_value is not None else "Optimised"
        self.query_one(OptimizeSummary).result = result
        self.query_one(TrialsTable).show(result)
        t, equity = thin(result.best.times, result.best.values)
        self.query_one("#best-equity", CurvePlot).curve = Curve("best trial", t, equity, "green")
        self.query_one(ContentSwitcher).current = "opt-view"
