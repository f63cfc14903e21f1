"""The control socket server over a real Unix socket, with a toy handler."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from perpbot.ipc.client import request
from perpbot.ipc.protocol import MAX_LINE_BYTES, error, ok
from perpbot.ipc.server import DaemonRunning, SocketPathError, StateServer


class ToyEngine:
    """Answers the engine's commands from a dict; `boom` raises."""

    def __init__(self) -> None:
        self.paused = False

    def handle(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        if cmd == "ping":
            return ok({"pong": True})
        if cmd == "snapshot":
            return ok({"mode": "paper", "paused": self.paused, "equity": 1000.0, "positions": []})
        if cmd == "pause":
            self.paused = True
            return ok()
        if cmd == "close":
            return ok({"closed": args["symbol"]})
        if cmd == "boom":
            raise KeyError("secret detail")
        return error(f"unknown command {cmd!r}")


class Conn:
    """A raw client connection that can send several lines."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(2.0)
        self.sock.connect(str(path))
        self.reader = self.sock.makefile("rb")

    def ask(self, raw: bytes) -> dict[str, Any] | None:
        self.sock.sendall(raw)
        line = self.reader.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture
def server(sock_path: Path) -> StateServer:
    srv = StateServer(sock_path, ToyEngine().handle)
    srv.start()
    yield srv
    srv.stop()


def test_socket_file_is_private(server: StateServer, sock_path: Path) -> None:
    mode = os.stat(sock_path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600


def test_ping_and_snapshot_round_trip(server: StateServer, sock_path: Path) -> None:
    assert request(sock_path, "ping") == {"ok": True, "data": {"pong": True}}
    assert request(sock_path, "pause")["ok"]
    snap = request(sock_path, "snapshot")
    assert snap["ok"] and snap["data"]["paused"] is True and snap["data"]["positions"] == []
    assert request(sock_path, "close", symbol="ETH")["data"] == {"closed": "ETH"}


def test_several_requests_per_connection_and_bad_ones(server: StateServer, sock_path: Path) -> None:
    conn = Conn(sock_path)
    try:
        assert conn.ask(b'{"cmd":"ping"}\n')["ok"]
        bad = conn.ask(b"{nope\n")
        assert bad["ok"] is False and "not valid JSON" in bad["error"]
        assert "JSON object" in conn.ask(b"[]\n")["error"]
        assert '"cmd"' in conn.ask(b'{"symbol":"BTC"}\n')["error"]
        assert conn.ask(b'{"cmd":"teleport"}\n') == {"ok": False, "error": "unknown command 'teleport'"}
        assert conn.ask(b'\n{"cmd":"ping"}\n')["ok"]  # blank lines are skipped
    finally:
        conn.close()
    assert request(sock_path, "ping")["ok"]


def test_handler_exception_is_an_internal_error(server: StateServer, sock_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="perpbot.ipc.server"):
        reply = request(sock_path, "boom")
    assert reply == {"ok": False, "error": "internal error: KeyError"}  # no details leak to the client
    assert any(r.exc_info for r in caplog.records)
    assert request(sock_path, "ping")["ok"]


def test_unserializable_reply_is_an_internal_error(sock_path: Path) -> None:
    with StateServer(sock_path, lambda cmd, args: ok({"x": object()})):
        assert request(sock_path, "snapshot") == {"ok": False, "error": "internal error: TypeError"}


def test_oversized_line_gets_error_and_hangup(server: StateServer, sock_path: Path) -> None:
    conn = Conn(sock_path)
    try:
        reply = conn.ask(b'{"cmd":"ping","pad":"' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
        assert reply["ok"] is False and "longer than" in reply["error"]
        assert conn.reader.readline() == b""  # the server hung up
    finally:
        conn.close()
    assert request(sock_path, "ping")["ok"]


def test_a_full_server_closes_the_longest_idle_client_to_answer_a_new_one(sock_path: Path) -> None:
    with StateServer(sock_path, ToyEngine().handle, max_clients=2):
        oldest, newer = Conn(sock_path), Conn(sock_path)
        try:
            assert oldest.ask(b'{"cmd":"ping"}\n')["ok"] and newer.ask(b'{"cmd":"ping"}\n')["ok"]
            assert request(sock_path, "ping")["ok"] is True  # takes the slot of the one idle longest
            assert oldest.reader.readline() == b""  # closed to make room
            assert newer.ask(b'{"cmd":"ping"}\n')["ok"]  # the other keeps its connection
        finally:
            oldest.close()
            newer.close()


def test_a_client_in_the_middle_of_a_request_is_never_evicted(sock_path: Path) -> None:
    entered, gate = threading.Event(), threading.Event()

    def slow(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        gate.wait(5)
        return ok({"cmd": cmd})

    with StateServer(sock_path, slow, max_clients=1):
        busy = Conn(sock_path)
        try:
            busy.sock.sendall(b'{"cmd":"snapshot"}\n')
            assert entered.wait(2)
            reply = request(sock_path, "ping")
            assert reply["ok"] is False and "too many clients busy" in reply["error"]
            gate.set()
            assert json.loads(busy.reader.readline())["data"] == {"cmd": "snapshot"}
        finally:
            gate.set()
            busy.close()


def _idle(sock_path: Path, n: int) -> list[socket.socket]:
    conns = []
    for _ in range(n):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(sock_path))
        conns.append(conn)
    return conns


def test_status_answers_within_2_s_with_50_idle_connections_open(sock_path: Path) -> None:
    with StateServer(sock_path, ToyEngine().handle):
        idle = _idle(sock_path, 50)
        try:
            started = time.monotonic()
            reply = request(sock_path, "snapshot", timeout_s=2.0)
            assert reply["ok"] and time.monotonic() - started < 2.0
        finally:
            for conn in idle:
                conn.close()


def test_status_answers_within_2_s_during_a_burst_of_50_connects(sock_path: Path) -> None:
    with StateServer(sock_path, ToyEngine().handle):
        start = threading.Barrier(51)
        replies: list[dict[str, Any]] = []

        def client() -> None:
            start.wait()
            replies.append(request(sock_path, "ping", timeout_s=2.0))

        burst = [threading.Thread(target=client) for _ in range(50)]
        for t in burst:
            t.start()
        start.wait()
        started = time.monotonic()
        status = request(sock_path, "snapshot", timeout_s=2.0)
        took = time.monotonic() - started
        for t in burst:
            t.join(5)
    assert status["ok"] and took < 2.0
    assert len(replies) == 50 and all(r["ok"] for r in replies)


@pytest.mark.parametrize("depth", [17, 1000, 30_000])
def test_a_deeply_nested_request_gets_an_error_and_the_connection_lives(sock_path: Path, depth: int) -> None:
    with StateServer(sock_path, ToyEngine().handle):
        conn = Conn(sock_path)
        try:
            body = b'{"cmd":"ping","x":' + b"[" * depth + b"]" * depth + b"}\n"
            reply = conn.ask(body)
            assert reply == {"ok": False, "error": "request nested deeper than 16 levels"}
            assert conn.ask(b'{"cmd":"ping"}\n')["ok"]
        finally:
            conn.close()


def test_idle_client_is_dropped(sock_path: Path) -> None:
    with StateServer(sock_path, ToyEngine().handle, idle_timeout_s=0.1):
        conn = Conn(sock_path)
        try:
            assert conn.reader.readline() == b""
        finally:
            conn.close()


def test_stale_socket_file_is_replaced(sock_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()  # the file stays, nobody listens: what a kill -9'd daemon leaves
    assert sock_path.exists()
    with StateServer(sock_path, ToyEngine().handle):
        assert request(sock_path, "ping")["ok"]
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600


def test_second_server_on_same_path_refuses(server: StateServer, sock_path: Path) -> None:
    with pytest.raises(DaemonRunning, match=f"already running \\(socket {sock_path}\\)") as info:
        StateServer(sock_path, ToyEngine().handle).start()
    assert "data.db_path" in info.value.hint
    assert request(sock_path, "ping")["ok"]  # the first one is untouched


def test_a_regular_file_is_not_replaced(sock_path: Path) -> None:
    sock_path.write_text("not a socket")
    with pytest.raises(SocketPathError, match="not a socket"):
        StateServer(sock_path, ToyEngine().handle).start()
    assert sock_path.read_text() == "not a socket"


def test_stop_unlinks_and_closes_clients(sock_path: Path) -> None:
    srv = StateServer(sock_path, ToyEngine().handle)
    srv.start()
    conn = Conn(sock_path)
    try:
        assert conn.ask(b'{"cmd":"ping"}\n')["ok"]
        srv.stop()
        assert not sock_path.exists()
        assert conn.reader.readline() == b""
    finally:
        conn.close()
    srv.stop()  # idempotent


def test_stop_leaves_a_newer_daemons_socket(sock_path: Path) -> None:
    old = StateServer(sock_path, ToyEngine().handle)
    old.start()
    sock_path.unlink()  # someone removed ours and a new daemon took the path
    with StateServer(sock_path, ToyEngine().handle):
        old.stop()
        assert sock_path.exists()
        assert request(sock_path, "ping")["ok"]
