"""Provides LogScreen: the bot's JSON log followed live, coloured by level, filtered by level and text."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Input, Label, Select
from textual.worker import get_current_worker

from perpbot.tui.log_records import LEVELS, LogRecord, LogTail, parse_line
from perpbot.tui.screens.base import DashboardScreen
from perpbot.tui.session import SessionInfo
from perpbot.tui.widgets.log_view import LogView
from perpbot.tui.widgets.status_bar import StatusBar

TAIL_POLL_S = 0.25
"""How often the tail looks for new lines: live enough to watch a tick happen."""


class LogScreen(DashboardScreen):
    """The log, live. `space` pauses scrolling, `l` steps the level, `/` filters by text."""

    CSS_PATH = "log.tcss"
    BINDINGS = [
        Binding("space", "toggle_follow", "Pause scroll"),
        Binding("l", "next_level", "Level"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "leave_filter", "Leave filter", show=False),
    ]

    @dataclass
    class LinesRead(Message):
        """New records from the tail worker."""

        records: list[LogRecord]

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Horizontal(id="controls"):
            yield Label("Level", classes="label")
            yield Select([(level, level) for level in LEVELS[:4]], value="INFO", allow_blank=False, id="level")
            yield Label("Text", classes="label")
            yield Input(placeholder="type to filter, / to focus", id="filter")
        yield LogView(id="log")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(LogView).focus()

    def show_info(self, info: SessionInfo) -> None:
        view = self.query_one(LogView)
        view.source = info.log_path.name
        view.border_title = f"{info.log_path}: waiting for the first line"
        self._tail(info.log_path)

    @work(thread=True, exclusive=True, group="log-tail")
    def _tail(self, path: Path) -> None:
        worker = get_current_worker()
        tail = LogTail(path)
        while not worker.is_cancelled:
            lines = tail.read_new()
            if lines:
                self.post_message(self.LinesRead([parse_line(line) for line in lines]))
            # Sleeping is fine here: this is the tail's own worker thread, not the event loop.
            time.sleep(TAIL_POLL_S)

    def on_log_screen_lines_read(self, message: LinesRead) -> None:
        self.query_one(LogView).add_records(message.records)

    @on(Select.Changed, "#level")
    def _level_changed(self, event: Select.Changed) -> None:
        self.query_one(LogView).min_level = str(event.value)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(LogView).text_filter = event.value.strip()

    def action_toggle_follow(self) -> None:
        view = self.query_one(LogView)
        view.following = not view.following

    def action_next_level(self) -> None:
        select = self.query_one("#level", Select)
        levels = LEVELS[:4]
        select.value = levels[(levels.index(str(select.value)) + 1) % len(levels)]

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(LogView).focus()
