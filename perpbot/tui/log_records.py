"""Provides the log screen's model: JSON log lines parsed into records, and incremental file tailing."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TAIL_START_BYTES = 256_000
"""How much of an existing log the screen reads at first: the recent past, not 5 MB of history."""


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log line: time as written (UTC ISO), level, logger, event and the other fields as text."""

    time: str
    level: str
    logger: str
    event: str
    fields: str

    @property
    def rank(self) -> int:
        """Severity for the level filter (an unknown level counts as INFO)."""
        return LEVELS.index(self.level) if self.level in LEVELS else 1

    @property
    def text(self) -> str:
        """The line as shown (and as the text filter matches it)."""
        clock = self.time[11:23] if len(self.time) >= 23 else self.time
        return f"{clock} {self.level:<7} {self.logger:<18} {self.event} {self.fields}".rstrip()


def parse_line(line: str) -> LogRecord:
    """A JSON line from perpbot.ops.logging; anything else (a traceback line, a library's text) as is."""
    line = line.rstrip("\n")
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return LogRecord("", "INFO", "", line, "")
    logger = str(data.pop("logger", ""))
    logger = logger.removeprefix("perpbot.")
    fields = " ".join(f"{k}={_short(v)}" for k, v in data.items() if k not in ("time", "level", "event"))
    return LogRecord(str(data.get("time", "")), str(data.get("level", "INFO")), logger, str(data.get("event", "")),
                     fields)


def _short(value: object) -> str:
    if isinstance(value, float):
        text = f"{value:.10g}"  # 59332.864199999996 reads as 59332.8642; the file keeps every digit
    else:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


class LogTail:
    """Reads what was appended to a log file since the last call; follows rotation.

    The rotating handler renames the file and starts a new one: a changed inode or a file
    shorter than our position means start over at the new file's beginning.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: int | None = None
        self._pos = 0
        self._partial = ""
        self._drop_first = False

    def read_new(self) -> list[str]:
        """Complete new lines (a half-written last line waits for the next call)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if stat.st_ino != self._inode or stat.st_size < self._pos:
            first_look = self._inode is None
            self._inode = stat.st_ino
            self._pos = max(stat.st_size - TAIL_START_BYTES, 0) if first_look else 0
            # Starting inside a big file lands mid-line: that first fragment is not a record.
            self._drop_first = self._pos > 0
            self._partial = ""
        if stat.st_size == self._pos:
            return []
        with open(self.path, "rb") as handle:
            if self._drop_first:
                handle.seek(self._pos - 1)
                self._drop_first = handle.read(1) != b"\n"  # starting right after a newline cuts nothing
            handle.seek(self._pos)
            chunk = handle.read()
        self._pos += len(chunk)
        lines = (self._partial + chunk.decode("utf-8", errors="replace")).split("\n")
        self._partial = lines.pop()
        if self._drop_first and lines:
            lines.pop(0)
            self._drop_first = False
        return [line for line in lines if line]
