"""Provides the links the UI and CLI reach the engine through: in-process or over the daemon socket."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from perpbot.ipc import client
from perpbot.ipc.protocol import Handler, error

log = logging.getLogger(__name__)


class EngineLink(Protocol):
    """The one way into the engine: `request("close", symbol="BTC")` -> an ok() / error() reply dict."""

    def request(self, cmd: str, **args: Any) -> dict[str, Any]: ...


class LocalLink:
    """The dashboard hosting the engine in-process: calls its command handler directly.

    Args:
        handler: `(cmd, args) -> reply dict`, the same handler the socket serves (ipc/commands.py).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """The engine's reply; an exception from the engine becomes an error reply, as over the socket."""
        try:
            return self.handler(cmd, args)
        except Exception as exc:  # noqa: BLE001 - the UI boundary: a failed command is shown, not raised
            log.exception("engine command failed", extra={"cmd": cmd})
            return error(f"internal error: {type(exc).__name__}: {exc}")


class SocketLink:
    """`perpbot status` / `perpbot tui`: one socket request per call to the daemon at `path`.

    Args:
        path: the daemon's socket (`settings.socket_path`).
        timeout_s: deadline per request.
    """

    def __init__(self, path: Path, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """The daemon's reply as-is.

        Raises:
            DaemonUnavailable: no daemon answered (a PerpbotError; the bridge shows it as LinkFailed).
        """
        return client.request(self.path, cmd, self.timeout_s, **args)
