"""LocalLink and SocketLink answer the same way for the same engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from perpbot.ipc.client import DaemonUnavailable
from perpbot.ipc.link import EngineLink, LocalLink, SocketLink
from perpbot.ipc.protocol import error, ok
from perpbot.ipc.server import StateServer


class Engine:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((cmd, args))
        if cmd == "explode":
            raise RuntimeError("engine fell over")
        if cmd in ("ping", "close"):
            return ok({"cmd": cmd, **args})
        return error(f"unknown command {cmd!r}")


def test_local_link_calls_the_engine() -> None:
    engine = Engine()
    link: EngineLink = LocalLink(engine.handle)
    assert link.request("close", symbol="BTC") == {"ok": True, "data": {"cmd": "close", "symbol": "BTC"}}
    assert engine.calls == [("close", {"symbol": "BTC"})]
    assert link.request("nope") == {"ok": False, "error": "unknown command 'nope'"}


def test_local_link_turns_exceptions_into_errors() -> None:
    reply = LocalLink(Engine().handle).request("explode")
    assert reply["ok"] is False
    assert reply["error"].startswith("internal error: RuntimeError")


def test_socket_link_matches_local_link(sock_path: Path) -> None:
    engine = Engine()
    with StateServer(sock_path, engine.handle):
        link: EngineLink = SocketLink(sock_path, timeout_s=2.0)
        for cmd, args in (("ping", {}), ("close", {"symbol": "SOL"}), ("nope", {})):
            assert link.request(cmd, **args) == LocalLink(engine.handle).request(cmd, **args)
        assert link.request("explode") == {"ok": False, "error": "internal error: RuntimeError"}


def test_socket_link_without_daemon_raises(sock_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match="no perp-bot daemon is running"):
        SocketLink(sock_path).request("snapshot")
