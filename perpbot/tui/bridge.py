"""Provides the bridge from the engine to the UI: the only code that posts engine state to the app.

The engine (on its own thread, or in a daemon behind a socket) never touches widgets. The bridge
polls the link for snapshots on its own thread and posts them as messages, which is thread-safe;
the app's reactives then flow down to the screens on the UI thread.
"""

from __future__ import annotations

import logging
import threading

from textual.app import App

from perpbot.errors import PerpbotError
from perpbot.tui.messages import CommandFinished, EngineStopped, LinkFailed, SnapshotReceived
from perpbot.tui.session import EngineLink
from perpbot.tui.state import EngineView

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
"""Snapshot polling period: fast enough for a live-looking mark, slow enough to cost nothing."""


class EngineBridge:
    """Relays engine events to `app` as messages, and polls the link for snapshots once attached.

    Args:
        app: the dashboard; only its `post_message` is called, from any thread.
        interval_s: snapshot polling period.
    """

    def __init__(self, app: App[object], interval_s: float = POLL_INTERVAL_S) -> None:
        self.app = app
        self.interval_s = interval_s
        self.link: EngineLink | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, link: EngineLink) -> None:
        """Start polling `link` (LocalLink in-process, or SocketLink to a daemon)."""
        self.link = link
        self._thread = threading.Thread(target=self._run, name="perpbot-ui-bridge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval_s)

    def poll_once(self) -> None:
        """Ask for one snapshot and post it (or why it failed)."""
        if self.link is None:
            return
        try:
            reply = self.link.request("snapshot")
        except (OSError, PerpbotError) as exc:  # a socket link to a daemon that went away
            self.app.post_message(LinkFailed(str(exc) or type(exc).__name__))
            return
        if not reply.get("ok"):
            self.app.post_message(LinkFailed(str(reply.get("error") or "the engine refused the snapshot")))
            return
        try:
            view = EngineView.from_snapshot(reply.get("data") or {})
        except ValueError as exc:
            log.warning("bad snapshot", extra={"error": str(exc)})
            self.app.post_message(LinkFailed(str(exc)))
            return
        self.app.post_message(SnapshotReceived(view))

    def send(self, command: str, **args: object) -> None:
        """Send pause/resume/close/flatten and post the answer (call from a worker thread)."""
        if self.link is None:
            self.app.post_message(CommandFinished(command, False, "the engine is not running"))
            return
        try:
            reply = self.link.request(command, **args)
        except (OSError, PerpbotError) as exc:
            self.app.post_message(CommandFinished(command, False, str(exc)))
            return
        ok = bool(reply.get("ok"))
        detail = "" if ok else str(reply.get("error") or "refused")
        self.app.post_message(CommandFinished(command, ok, detail))
        # Show the effect at once rather than at the next poll.
        self.poll_once()

    def engine_stopped(self, error: str | None) -> None:
        """The hosted engine's thread calls this as it ends."""
        self.app.post_message(EngineStopped(error))
