"""Provides the daemon socket client: one request line out, one reply line back."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from perpbot.errors import DaemonNotRunning
from perpbot.ipc.protocol import MAX_LINE_BYTES, encode

# Replies (a snapshot with many positions and signals) may outgrow a request; still bounded so a
# confused peer cannot make `perpbot status` eat memory.
MAX_REPLY_BYTES = 64 * MAX_LINE_BYTES
_START_HINT = "start it with `perpbot --headless trade`"
_BACKLOG_RETRY_S = 0.01


class DaemonUnavailable(DaemonNotRunning):
    """No daemon answered on the socket (none running, a stale socket file, or it hung)."""

    def __init__(self, message: str, hint: str = _START_HINT) -> None:
        super().__init__(message, hint)


def request(path: Path, cmd: str, timeout_s: float = 5.0, **args: Any) -> dict[str, Any]:
    """Send `{"cmd": cmd, **args}` to the daemon at `path` and return its reply as-is.

    Args:
        path: the daemon's socket file.
        cmd: snapshot, pause, resume, close, flatten, ping.
        timeout_s: overall deadline for connecting, sending and the whole reply.
        **args: the command's arguments (close: symbol="BTC").

    Returns:
        The reply dict, `{"ok": True, "data": {...}}` or `{"ok": False, "error": "..."}`.

    Raises:
        DaemonUnavailable: nothing listens, the socket is stale, or no full reply came in time.
    """
    deadline = time.monotonic() + timeout_s
    payload = encode({"cmd": cmd, **args})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        _connect(sock, Path(path), timeout_s, deadline)
        try:
            _send(sock, payload)
            line = _read_line(sock, deadline)
        except (TimeoutError, socket.timeout):
            raise DaemonUnavailable(f"daemon did not answer within {timeout_s:g} s (socket {path})",
                                    "check the daemon's log; restart it if it hangs") from None
        except OSError as exc:
            raise DaemonUnavailable(f"the daemon dropped the connection (socket {path}): {exc.strerror or exc}") from exc
    try:
        reply = json.loads(line)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise DaemonUnavailable(f"the daemon sent an unreadable reply (socket {path}): {line[:80]!r}",
                                "check that the socket belongs to a perp-bot daemon of the same version")
    return reply


def _connect(sock: socket.socket, path: Path, timeout_s: float, deadline: float) -> None:
    while True:
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            # The daemon's listen backlog is full (a burst of connects): Unix sockets refuse at once
            # with EAGAIN instead of waiting, so wait here, within the caller's deadline.
            if time.monotonic() + _BACKLOG_RETRY_S >= deadline:
                raise DaemonUnavailable(f"daemon did not accept the connection within {timeout_s:g} s (socket {path})",
                                        "it is flooded with connections; try again") from None
            time.sleep(_BACKLOG_RETRY_S)
        except OSError as exc:
            raise _connect_failed(exc, path, timeout_s) from None


def _connect_failed(exc: OSError, path: Path, timeout_s: float) -> DaemonUnavailable:
    """The one-line error for a connect that failed."""
    if isinstance(exc, FileNotFoundError):
        return DaemonUnavailable(f"no perp-bot daemon is running (no socket at {path})")
    if isinstance(exc, ConnectionRefusedError):
        return DaemonUnavailable(f"no perp-bot daemon is running (connection refused: stale socket {path})")
    if isinstance(exc, PermissionError):
        return DaemonUnavailable(f"cannot open the daemon socket {path}: permission denied",
                                 "run as the user that started the daemon")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return DaemonUnavailable(f"daemon did not answer within {timeout_s:g} s (socket {path})",
                                 "check the daemon's log; restart it if it hangs")
    return DaemonUnavailable(f"cannot connect to the daemon socket {path}: {exc.strerror or exc}")


def _send(sock: socket.socket, payload: bytes) -> None:
    try:
        sock.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        # The server may answer and hang up before reading (e.g. "too many clients"): its reply
        # still waits in our receive buffer, so read it rather than report a broken pipe.
        pass


def _read_line(sock: socket.socket, deadline: float) -> bytes:
    """Bytes up to the first newline, within `deadline` (monotonic seconds)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed the connection without a full reply")
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise ConnectionResetError(f"reply longer than {MAX_REPLY_BYTES} bytes")
