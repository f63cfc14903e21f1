"""Provides the daemon's Unix socket server: newline-delimited JSON requests answered by a handler.

The socket file is created with mode 0600 (local user only). One daemon thread per connection;
a connection may send several requests, each answered in order. Nothing a client sends can stop
the server: bad lines (too long, too deep, not JSON) get an error reply, handler failures get
"internal error: <type>". Idle connections cannot crowd out `perpbot status`: when every slot is
taken, the connection idle the longest is closed to make room, and the listen backlog is deep
enough for a burst of connects.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import stat
import threading
import time
from pathlib import Path

from perpbot.errors import PerpbotError
from perpbot.ipc.protocol import MAX_LINE_BYTES, Handler, ProtocolError, encode, error, parse_request

log = logging.getLogger(__name__)


_PROBE_TIMEOUT_S = 1.0  # how long a live daemon gets to accept our probe connection
_ACCEPT_POLL_S = 0.5  # backstop: accept() wakes this often to notice stop() on any platform
_IDLE_TIMEOUT_S = 60.0  # a client silent this long is dropped, so dead clients cannot pin all slots
_BACKLOG = 128  # connects waiting for accept(); a full backlog refuses at once (EAGAIN) on Unix sockets
_BUSY = math.inf  # the "last active" stamp of a connection in the middle of a request: never evicted


class DaemonRunning(PerpbotError):
    """Another daemon owns this socket or database."""

    def __init__(self, message: str,
                 hint: str = "stop it first (`perpbot control ...` / kill), or use another data.db_path") -> None:
        super().__init__(message, hint)


class SocketPathError(PerpbotError):
    """The socket path cannot be used (not a socket, too long, not writable)."""


class StateServer:
    """Serves `handler` on a Unix socket at `path`; `start()`/`stop()` or use it as a context manager.

    Args:
        path: the socket file, normally `<db dir>/perp-bot.sock`.
        handler: answers each request; it must be thread-safe (connections run in parallel).
        max_clients: connections served at once; a new one beyond it takes the slot of the connection
            idle the longest (one in the middle of a request is never closed; if all are, the
            newcomer is answered with an error).
        idle_timeout_s: a connection silent this long is closed.
    """

    def __init__(self, path: Path, handler: Handler, max_clients: int = 64,
                 idle_timeout_s: float = _IDLE_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.handler = handler
        self.max_clients = max_clients
        self.idle_timeout_s = idle_timeout_s
        self._sock: socket.socket | None = None
        self._inode: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we bound
        self._clients: dict[socket.socket, float] = {}  # connection -> when it was last active (monotonic)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and serve in the background.

        Raises:
            DaemonRunning: a live server already answers on `path`.
            SocketPathError: `path` exists but is not a socket, or cannot be bound.
        """
        if self._thread is not None:
            return
        self._clear_stale()
        self._sock = self._bind()
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name="perpbot-ipc-accept", daemon=True)
        self._thread.start()
        log.info("control socket listening", extra={"path": str(self.path)})

    def stop(self) -> None:
        """Stop accepting, close every client, and remove the socket file if it is still ours."""
        self._stopping.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            _shutdown(sock)  # wakes accept() at once on Linux; _ACCEPT_POLL_S covers the rest
            sock.close()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            _shutdown(conn)  # the connection thread then sees EOF, closes and forgets it
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * _ACCEPT_POLL_S)
        self._thread = None
        self._unlink_if_ours()

    def __enter__(self) -> StateServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- socket file ---------------------------------------------------------------------

    def _clear_stale(self) -> None:
        """Remove a socket file no process answers on; refuse if one does.

        Racy on its own (two daemons probing at once); the daemon holds DbLock first, so only one
        daemon per database ever gets here.
        """
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise SocketPathError(f"{self.path} exists and is not a socket",
                                  "move that file away, or use another data.db_path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(_PROBE_TIMEOUT_S)
        try:
            probe.connect(str(self.path))
        except (ConnectionRefusedError, FileNotFoundError):
            log.warning("removing stale control socket", extra={"path": str(self.path)})
            self.path.unlink(missing_ok=True)
            return
        except OSError as exc:  # a timeout means a live but busy daemon: treat as running
            if not isinstance(exc, (TimeoutError, socket.timeout)):
                raise SocketPathError(f"cannot probe the socket {self.path}: {exc.strerror or exc}",
                                      "check the permissions of the data directory") from exc
        finally:
            probe.close()
        raise DaemonRunning(f"another perp-bot daemon is already running (socket {self.path})")

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # bind() creates the file with 0777 & ~umask: a restrictive umask means it is never readable by
        # others, not even between bind() and chmod(). umask is process-wide; for this instant other
        # threads' new files get stricter modes, never looser ones.
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        except OSError as exc:
            sock.close()
            raise _bind_error(self.path, exc) from exc
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(max(_BACKLOG, self.max_clients))
        sock.settimeout(_ACCEPT_POLL_S)
        return sock

    def _unlink_if_ours(self) -> None:
        # A newer daemon may have replaced the file (after deciding ours was stale): leave its socket alone.
        if self._inode is None:
            return
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:
                self.path.unlink()
        except FileNotFoundError:
            pass
        self._inode = None

    # --- serving -------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        sock = self._sock
        while sock is not None and not self._stopping.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    return
                log.warning("control socket accept failed", extra={"error": str(exc)})
                self._stopping.wait(_ACCEPT_POLL_S)  # e.g. EMFILE: back off instead of spinning
                continue
            self._admit(conn)

    def _admit(self, conn: socket.socket) -> None:
        evicted = None
        with self._lock:
            if len(self._clients) >= self.max_clients:
                evicted = min(self._clients, key=self._clients.__getitem__)
                if self._clients[evicted] == _BUSY:
                    evicted = None
                else:
                    del self._clients[evicted]
            full = len(self._clients) >= self.max_clients
            if not full:
                self._clients[conn] = time.monotonic()
        if evicted is not None:
            log.debug("control client evicted: idle the longest while every slot was taken")
            _shutdown(evicted)  # its thread sees EOF, closes it and ends
        if full:
            _send_quietly(conn, encode(error(f"too many clients busy at once (max {self.max_clients}); try again")))
            conn.close()
            return
        threading.Thread(target=self._serve_client, args=(conn,), name="perpbot-ipc-client", daemon=True).start()

    def _serve_client(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(self.idle_timeout_s)
            with conn.makefile("rb") as reader:
                while not self._stopping.is_set():
                    line = reader.readline(MAX_LINE_BYTES + 1)
                    if not line:
                        return
                    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                        # We cannot find the next request's start without reading the rest: answer and hang up.
                        conn.sendall(encode(error(f"request line longer than {MAX_LINE_BYTES} bytes")))
                        return
                    if line.strip():
                        self._mark(conn, _BUSY)
                        reply = self._reply_bytes(line)
                        self._mark(conn, time.monotonic())  # before the reply: the client may act on it at once
                        conn.sendall(reply)
        except (TimeoutError, socket.timeout):
            log.debug("control client idle, closing")
        except OSError as exc:  # the client went away mid-reply, or stop() shut us down
            log.debug("control client connection ended", extra={"error": str(exc)})
        finally:
            with self._lock:
                self._clients.pop(conn, None)
            conn.close()

    def _mark(self, conn: socket.socket, stamp: float) -> None:
        with self._lock:
            if conn in self._clients:
                self._clients[conn] = stamp

    def _reply_bytes(self, line: bytes) -> bytes:
        try:
            cmd, args = parse_request(line)
        except ProtocolError as exc:
            return encode(error(str(exc)))
        try:
            reply = self.handler(cmd, args)
            return encode(reply)
        except Exception as exc:  # noqa: BLE001 - the daemon boundary: one bad command must not kill the server
            log.exception("control command failed", extra={"cmd": cmd})
            return encode(error(f"internal error: {type(exc).__name__}"))


def _bind_error(path: Path, exc: OSError) -> SocketPathError:
    if exc.errno == errno.EADDRINUSE:
        return SocketPathError(f"{path} appeared while starting (another daemon starting?)", "retry in a moment")
    if "too long" in str(exc):
        return SocketPathError(f"socket path {path} is too long for a Unix socket ({len(str(path))} chars)",
                               "use a data.db_path in a shorter directory")
    return SocketPathError(f"cannot create the control socket {path}: {exc.strerror or exc}",
                           "check that the data directory exists and is writable")


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already disconnected: nothing left to wake


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    try:
        conn.sendall(data)
    except OSError as exc:
        log.debug("could not tell a client the server is full", extra={"error": str(exc)})
