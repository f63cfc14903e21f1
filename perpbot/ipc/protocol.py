"""Provides the daemon socket's wire format: one compact JSON object per line, both directions.

Request:  {"cmd": "close", "symbol": "BTC"}
Reply:    {"ok": true, "data": {...}}  or  {"ok": false, "error": "..."}
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
"""(cmd, args) -> reply dict built with ok() / error(): what the socket server, the dashboard's in-process
link and Telegram control call (ipc/commands.py makes one for the engine). Called from many threads."""

MAX_LINE_BYTES = 65536
"""Longest request line the server reads (newline excluded); a bound on what one client can make us buffer."""
MAX_DEPTH = 16
"""Deepest nesting of objects and arrays a request may have (a real one has 1 or 2 levels)."""


class ProtocolError(ValueError):
    """A line that is not a valid request; the text is safe to send back to the client."""


def encode(obj: dict[str, Any]) -> bytes:
    """Compact JSON of `obj` plus a newline.

    NaN and infinities become null so the wire is strict JSON (`perpbot status | jq` must work);
    numpy scalars and arrays are converted with `.item()` / `.tolist()`.

    Raises:
        TypeError: a value JSON cannot represent.
    """
    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=_plain)
    except ValueError:  # a NaN somewhere (a regime score before its first reading): rare, so only then walk
        text = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False, default=_plain)
    return text.encode() + b"\n"


def parse_request(line: bytes) -> tuple[str, dict[str, Any]]:
    """Split one request line into (cmd, args).

    Raises:
        ProtocolError: the line is too long, not JSON, not an object, or has no string `cmd`.
    """
    body = line.rstrip(b"\r\n")
    if len(body) > MAX_LINE_BYTES:
        raise ProtocolError(f"request line longer than {MAX_LINE_BYTES} bytes")
    try:
        obj = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise ProtocolError(f"request is not valid JSON: {exc}") from None
    except RecursionError:  # [[[[...]]]] a thousand deep: the decoder gives up before we can count
        raise ProtocolError(f"request nested deeper than {MAX_DEPTH} levels") from None
    if _deeper_than(obj, MAX_DEPTH):
        raise ProtocolError(f"request nested deeper than {MAX_DEPTH} levels")
    if not isinstance(obj, dict):
        raise ProtocolError(f"request must be a JSON object, got {type(obj).__name__}")
    cmd = obj.pop("cmd", None)
    if not isinstance(cmd, str) or not cmd:
        raise ProtocolError('request needs a "cmd" string, e.g. {"cmd": "ping"}')
    return cmd, obj


def _deeper_than(value: Any, limit: int) -> bool:
    """True if containers nest more than `limit` levels (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def ok(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success reply."""
    return {"ok": True, "data": data or {}}


def error(message: str) -> dict[str, Any]:
    """A failure reply."""
    return {"ok": False, "error": message}


def _plain(value: Any) -> Any:
    """json.dumps fallback for numpy values (the engine's marks and sizes are often float64)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite(value: Any) -> Any:
    """A copy of `value` with non-finite floats replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") or hasattr(value, "item"):
        return _finite(_plain(value))
    return value
