"""Pilot tests for the Backtest and Walk-forward screens: run, cancel, bad input, load, switch views."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import ContentSwitcher, Input

from perpbot.backtest import run_backtest
from perpbot.data.db import Store
from perpbot.tui.app import PerpBotApp
from perpbot.tui.screens.backtest import BacktestScreen
from perpbot.tui.screens.walk_forward import WalkForwardScreen
from perpbot.tui.widgets.heatmap import Heatmap
from perpbot.tui.widgets.metrics_panel import MetricsPanel
from perpbot.tui.widgets.run_form import RunForm
from perpbot.tui.widgets.trades_table import TradesTable
from perpbot.tui.widgets.windows_table import WindowsTable
from tui.conftest import settle, until_idle
from tui.fixtures import SWEEP_FILE, SYMBOLS, WF_FILE

SIZE = (120, 40)
pytestmark = pytest.mark.anyio


async def test_run_a_backtest(make_app, tui_settings) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, BacktestScreen)
        form = screen.query_one(RunForm)
        form.set_value("strategy.entry_z", "1.8")
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        metrics = screen.query_one(MetricsPanel).metrics
        assert metrics is not None
        store = Store(tui_settings.db_path, read_only=True)
        try:
            tuned = tui_settings.replace(strategy=tui_settings.strategy.__class__(
                **{**tui_settings.strategy.__dict__, "entry_z": 1.8}))
            expected = run_backtest(tuned, store, list(SYMBOLS), None, None)
        finally:
            store.close()
        assert metrics["trades"] == expected.metrics["trades"] > 0
        assert len(screen.query_one(TradesTable).trades) == len(expected.trades)
        assert form.status.startswith(f"{len(expected.trades)} trades")
        assert not form.running


async def test_cancel_a_backtest(make_app, monkeypatch) -> None:
    started, cancelled = threading.Event(), threading.Event()

    def endless(settings, db_path, request, progress):
        progress(0, 2)
        started.set()
        try:
            while True:  # a run that only ends when cancelled, as a long one would be
                cancelled.wait(0.01)
                progress(1, 2)
        finally:
            cancelled.set()

    app: PerpBotApp = make_app()
    monkeypatch.setattr(app.runner, "backtest", endless)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("ctrl+r")
        form = app.screen.query_one(RunForm)
        for _ in range(100):
            await pilot.pause(0.02)
            if started.is_set():
                break
        assert form.running
        await pilot.press("escape")
        await until_idle(pilot)
        assert cancelled.is_set() and not form.running
        assert form.status == "Cancelled."


async def test_a_bad_parameter_is_reported_and_nothing_runs(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        app.screen.query_one(RunForm).set_value("strategy.window", "abc")
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert not app.screen.query_one(RunForm).running
        assert any("strategy.window" in n.message for n in app._notifications)
        assert not [w for w in app.workers if w.group == "backtest"]


async def test_escape_leaves_the_form(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.click("#field-symbols")
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        assert app.focused is app.screen.query_one(TradesTable)


async def test_run_a_walk_forward(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, WalkForwardScreen)
        form = app.screen.query_one(RunForm)
        form.set_value("train", "1")
        form.set_value("test", "0.5")
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        assert app.screen.query_one(WindowsTable).row_count == 3
        assert form.status.startswith("3 windows")
        # The same run again: its result equals the shown one up to numpy arrays, whose == is
        # elementwise (a reactive comparing the two used to crash the app here).
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        assert app.is_running and app.screen.query_one(WindowsTable).row_count == 3
        form.set_value("test", "1")
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        assert app.screen.query_one(WindowsTable).row_count == 1 and form.status.startswith("1 windows")


async def test_load_a_sweep_then_switch_views(make_app, results: tuple[Path, Path]) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        switcher = app.screen.query_one(ContentSwitcher)
        app.screen.query_one("#path", Input).value = SWEEP_FILE
        await pilot.press("ctrl+o")
        await until_idle(pilot)
        assert switcher.current == "sweep-view" and app.screen.query_one(Heatmap).sweep is not None
        await pilot.press("ctrl+o")  # the same file again replaces the shown sweep
        await until_idle(pilot)
        assert app.is_running and app.screen.query_one(RunForm).status.startswith("Sweep of")
        await pilot.press("ctrl+t")
        assert switcher.current == "opt-view"  # ctrl+t cycles: walk-forward, sweep, optimisation
        await pilot.press("ctrl+t")
        assert switcher.current == "wf-view"
        app.screen.query_one("#path", Input).value = WF_FILE
        await pilot.press("ctrl+o")
        await until_idle(pilot)
        assert app.screen.query_one(WindowsTable).row_count == 3
        app.screen.query_one("#path", Input).value = "missing.json"
        await pilot.press("ctrl+o")
        await until_idle(pilot)
        assert app.screen.query_one(RunForm).status.startswith("Failed: cannot read")


async def _pick(pilot, kind: str) -> None:
    from textual.widgets import Select

    pilot.app.screen.query_one("#kind", Select).value = kind
    await pilot.pause()


async def test_run_a_sensitivity_sweep_from_screen_4(make_app) -> None:
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        await _pick(pilot, "sensitivity")
        form = app.screen.query_one(RunForm)
        assert form.border_title == "Sensitivity sweep"
        form.set_value("grid", "strategy.entry_z=1.5:2.5:0.5")
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        heatmap = app.screen.query_one(Heatmap)
        assert app.screen.query_one(ContentSwitcher).current == "sweep-view"
        assert len(heatmap.sweep.rows) == 3 and heatmap.sweep.overfitting["trials"] == 3
        assert form.status.startswith("Sweep of 3 runs")


async def test_run_and_cancel_an_optimisation_from_screen_4(make_app, monkeypatch) -> None:
    from perpbot.tui.widgets.trials_table import TrialsTable

    pytest.importorskip("optuna", reason="the optional optimize extra is not installed")
    app: PerpBotApp = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("ctrl+k", "ctrl+k")  # walk-forward -> sensitivity -> optimisation
        await pilot.pause()
        form = app.screen.query_one(RunForm)
        assert form.border_title == "Optimisation" and form.values()["grid"].startswith("strategy.entry_z=1.5:3.0")
        form.set_value("trials", "4")
        await pilot.press("ctrl+r")
        await until_idle(pilot)
        assert app.screen.query_one(ContentSwitcher).current == "opt-view", (form.status, [n.message for n in app._notifications])
        assert 1 <= app.screen.query_one(TrialsTable).row_count <= 4 and form.status.startswith("4 trials")
        started, cancelled = threading.Event(), threading.Event()

        def endless(settings, db_path, request, progress):
            progress(0, request.trials)
            started.set()
            try:
                while True:
                    cancelled.wait(0.01)
                    progress(1, request.trials)
            finally:
                cancelled.set()

        monkeypatch.setattr(app.runner, "optimize", endless)
        await pilot.press("ctrl+r")
        for _ in range(100):
            await pilot.pause(0.02)
            if started.is_set():
                break
        assert form.running
        await pilot.press("escape")
        await until_idle(pilot)
        assert cancelled.is_set() and form.status == "Cancelled."
        form.set_value("trials", "none")
        await pilot.press("ctrl+r")
        await pilot.pause(0.1)
        assert any("Trials" in n.message for n in app._notifications)
