"""Provides LogView: log records coloured by level, filtered by level and text, with follow or paused scroll."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import RichLog

from perpbot.tui.log_records import LEVELS, LogRecord

MAX_RECORDS = 5000
"""Records kept for re-filtering; older ones fall off (the file keeps everything)."""

_LEVEL_STYLE = {"DEBUG": "dim", "INFO": "", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold white on red"}


class LogView(RichLog):
    """Shows the records that pass `min_level` and `text_filter`; `following` keeps the newest in view."""

    min_level: reactive[str] = reactive("INFO")
    text_filter: reactive[str] = reactive("")
    following: reactive[bool] = reactive(True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_RECORDS, wrap=False, markup=False, highlight=False, auto_scroll=True)
        self._records: deque[LogRecord] = deque(maxlen=MAX_RECORDS)
        self.source = ""
        self.unseen = 0

    def add_records(self, records: Iterable[LogRecord]) -> None:
        for record in records:
            self._records.append(record)
            if self._passes(record):
                self.write(self._line(record))
                if not self.following:
                    self.unseen += 1
        self._retitle()

    def watch_min_level(self) -> None:
        self._rewrite()

    def watch_text_filter(self) -> None:
        self._rewrite()

    def watch_following(self, following: bool) -> None:
        self.auto_scroll = following
        if following:
            self.unseen = 0
            self.scroll_end(animate=False)
        self._retitle()

    @property
    def shown(self) -> int:
        return sum(1 for r in self._records if self._passes(r))

    def _passes(self, record: LogRecord) -> bool:
        if record.rank < LEVELS.index(self.min_level):
            return False
        return not self.text_filter or self.text_filter.lower() in record.text.lower()

    def _line(self, record: LogRecord) -> Text:
        return Text(record.text, style=_LEVEL_STYLE.get(record.level, ""))

    def _rewrite(self) -> None:
        if not self.is_mounted:
            return
        self.clear()
        for record in self._records:
            if self._passes(record):
                self.write(self._line(record))
        self._retitle()

    def _retitle(self) -> None:
        if not self.source:
            return
        scope = f">= {self.min_level}" + (f", containing '{self.text_filter}'" if self.text_filter else "")
        self.border_title = f"{self.source}: {self.shown} of {len(self._records)} lines ({scope})"
        self.border_subtitle = "following" if self.following else f"scroll paused, {self.unseen} new (space)"
