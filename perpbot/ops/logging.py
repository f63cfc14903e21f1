"""Provides JSON-lines logging to stdout and/or a rotating file, with secret redaction."""

from __future__ import annotations

import json
import logging
import logging.handlers
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path

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


def setup_logging(
    level: str = "INFO",
    file_path: Path | None = None,
    stdout: bool = True,
    secrets: Iterable[str] = (),
    max_bytes: int = 5_000_000,
    backups: int = 3,
) -> None:
    """Configure the root logger once (replacing handlers from an earlier call)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = JsonFormatter(Redactor(secrets))
    if stdout:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(formatter)
        root.addHandler(stream)
    if file_path is not None:
        file_path.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(file_path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        rotating.setFormatter(formatter)
        root.addHandler(rotating)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
