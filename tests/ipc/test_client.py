"""The socket client's failures: no daemon, a stale socket file, a daemon that hangs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from perpbot.errors import DaemonNotRunning, PerpbotError
from perpbot.ipc.client import DaemonUnavailable, request


def test_no_socket(sock_path: Path) -> None:
    with pytest.raises(DaemonUnavailable) as info:
        request(sock_path, "ping")
    assert info.value.message == f"no perp-bot daemon is running (no socket at {sock_path})"
    assert info.value.hint == "start it with `perpbot --headless trade`"
    assert isinstance(info.value, DaemonNotRunning) and isinstance(info.value, PerpbotError)
    assert info.value.exit_code == 1


def test_stale_socket(sock_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()
    with pytest.raises(DaemonUnavailable, match=f"connection refused: stale socket {sock_path}"):
        request(sock_path, "ping")


def test_daemon_that_never_answers(sock_path: Path) -> None:
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(sock_path))
    mute.listen(1)
    try:
        with pytest.raises(DaemonUnavailable, match="did not answer within 0.2 s"):
            request(sock_path, "ping", timeout_s=0.2)
    finally:
        mute.close()


@contextmanager
def one_shot_daemon(path: Path, answer: bytes) -> Iterator[None]:
    """A fake daemon that reads one request, sends `answer` and hangs up."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        conn.recv(100)
        conn.sendall(answer)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=2)
        listener.close()


def test_daemon_that_hangs_up_mid_reply(sock_path: Path) -> None:
    with one_shot_daemon(sock_path, b'{"ok": tr'), pytest.raises(DaemonUnavailable, match="dropped the connection"):
        request(sock_path, "ping", timeout_s=2.0)


def test_garbage_reply(sock_path: Path) -> None:
    with one_shot_daemon(sock_path, b"HTTP/1.1 400 Bad Request\n"), pytest.raises(DaemonUnavailable, match="unreadable reply"):
        request(sock_path, "ping", timeout_s=2.0)
