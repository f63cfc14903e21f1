"""Provides the log setup: JSON lines (or readable text on a terminal) to stdout and/or a private
rotating file, with secret redaction.

The headless daemon logs to stdout as `logging.stdout` says (systemd and docker read it there);
the rotating file is for the dashboard's log pane. A log file that cannot be written (disk full)
is reported once on stderr, not once per line.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Backstop patterns: 0x-prefixed 64-hex private keys, bot tokens, webhook URLs.
_PATTERNS = [
    re.compile(r"0x[0-9a-fA-F]{64}"),
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),
    re.compile(r"https://(?:discord(?:app)?\.com)/api/webhooks/\S+"),
]
REDACTED = "[REDACTED]"


class Redactor:
    """Replaces known secret values and secret-looking strings with [REDACTED]."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO), level, logger, event, fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(payload, default=str))


class TextFormatter(logging.Formatter):
    """One readable line: time (UTC), level, event, then key=value fields (for a terminal)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%H:%M:%S", time.gmtime(record.created))
        fields = " ".join(f"{k}={v}" for k, v in record.__dict__.items()
                          if k not in _STANDARD_ATTRS and not k.startswith("_"))
        line = f"{when} {record.levelname:<7} {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose files are created 0600, and that reports a failing disk once, not per line."""

    _failing = False  # the last line could not be written (reported once on stderr)
    _failed_now = False

    def _open(self) -> Any:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def emit(self, record: logging.LogRecord) -> None:
        self._failed_now = False
        super().emit(record)  # on an error it calls handleError, which sets _failed_now
        if self._failing and not self._failed_now:
            self._failing = False
            sys.stderr.write(f"perpbot: the log file {self.baseFilename} is written again\n")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed_now = True
        if not self._failing:
            self._failing = True
            error = sys.exc_info()[1]
            sys.stderr.write(f"perpbot: cannot write the log file {self.baseFilename}: {error}; "
                             "log lines are lost until it works again\n")


STDOUT_MODES = ("auto", "json", "text", "off")


def stdout_format(mode: str, stream: Any = None) -> str | None:
    """"json", "text" or None (no stdout logging) for a logging.stdout mode; auto asks the terminal."""
    if mode == "off":
        return None
    if mode == "auto":
        stream = stream or sys.stdout
        return "text" if getattr(stream, "isatty", lambda: False)() else "json"
    return mode


def setup_logging(
    level: str = "INFO",
    file_path: Path | None = None,
    stdout: str | bool = "auto",
    secrets: Iterable[str] = (),
    max_bytes: int = 5_000_000,
    backups: int = 3,
) -> None:
    """Configure the root logger once (replacing handlers from an earlier call).

    Args:
        stdout: a logging.stdout mode (auto, json, text, off); True means auto, False off.
        file_path: the rotating log file (created 0600, its folder 0700), or None.

    Raises:
        StorageError: the log file or its folder cannot be created.
    """
    from perpbot.data.storage import ensure_private_dir, fix_hint, os_reason
    from perpbot.errors import StorageError

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    redactor = Redactor(secrets)
    mode = "auto" if stdout is True else "off" if stdout is False else stdout
    kind = stdout_format(mode)
    if kind is not None:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(TextFormatter(redactor) if kind == "text" else JsonFormatter(redactor))
        root.addHandler(stream)
    if file_path is not None:
        ensure_private_dir(file_path.parent)
        try:
            rotating = PrivateRotatingFileHandler(file_path, maxBytes=max_bytes, backupCount=backups,
                                                  encoding="utf-8")
        except OSError as exc:
            raise StorageError(f"cannot open the log file {file_path}: {os_reason(exc)}",
                               fix_hint(exc, file_path) + ", or set logging.file: false") from exc
        rotating.setFormatter(JsonFormatter(redactor))
        root.addHandler(rotating)
    if not root.handlers:
        root.addHandler(logging.NullHandler())  # no handler at all would print warnings on stderr
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warnings.warn goes where the logs go, never onto a dashboard
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
