"""The daemon as an operator meets it (issue 15), as subprocesses: JSON log lines on stdout, private
files and a daily backup, `status`/`control` reaching it with --set from anywhere, `review` on the
daemon's clock, a damaged database refused with the way back, and a disk that fills mid-run."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from daemon_procs import start_sim, stop, wait_for, write_config
from fakes.chat_servers import FakeDiscord
from fakes.storage_faults import can_mount, fill, small_disk
from perpbot.ipc.client import DaemonUnavailable, request

pytestmark = pytest.mark.e2e
PY = sys.executable
FUTURE_MS = 1_893_974_400_000  # 2030-01-07T00:00Z, a Monday: years ahead of the wall clock


def _perpbot(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "DISCORD", "TELEGRAM"))}
    return subprocess.run([PY, "-m", "perpbot.cli", *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env=env)


def _daemon(config: Path, out: Path) -> subprocess.Popen:
    """The daemon with stdout in a file (not a terminal): logging.stdout auto writes JSON lines there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "DISCORD", "TELEGRAM"))}
    with open(out, "w") as stdout:
        return subprocess.Popen([PY, "-m", "perpbot.cli", "--config", str(config), "--headless", "trade"],
                                stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)


def _status(db: Path, cwd: Path) -> dict | None:
    """`perpbot status --set data.db_path=...` from `cwd`, as an operator types it."""
    done = _perpbot("status", "--set", f"data.db_path={db}", cwd=cwd)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _snapshot(db: Path) -> dict | None:
    """The daemon's state straight off its socket: cheap enough to poll (a CLI process per look is not)."""
    try:
        reply = request(db.parent / "perp-bot.sock", "snapshot", timeout_s=2.0)
    except DaemonUnavailable:
        return None
    return reply.get("data") if reply.get("ok") else None


def _corrupt_middle(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 2 - (size // 2) % 4096)
        f.write(os.urandom(16_384))


def test_the_daemon_as_an_operator_meets_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    sim, url = start_sim(5, 600, "--start", str(FUTURE_MS))
    try:
        config = write_config(tmp_path, url, data={"symbols": ["BTC", "ETH"], "timeframes": ["15m"]},
                              logging={"stdout": "auto"})
        db = tmp_path / "bot.db"
        daemon = _daemon(config, tmp_path / "daemon.out")
        try:
            wait_for(lambda: _snapshot(db), 30, "the socket", daemon)
            first = _status(db, elsewhere)
            assert first["mode"] == "paper" and first["started_at"] >= FUTURE_MS
            # --set reaches the daemon from a folder with no config.yaml.
            paused = _perpbot("control", "pause", "--set", f"data.db_path={db}", cwd=elsewhere)
            assert paused.returncode == 0 and json.loads(paused.stdout) == {"paused": True}
            assert "paused by operator" in _status(db, elsewhere)["risk_blocks"]
            assert _perpbot("control", "resume", "--set", f"data.db_path={db}", cwd=elsewhere).returncode == 0
            # review's "now" is the daemon's, years ahead of the wall clock.
            review = _perpbot("--config", str(config), "review", "--json")
            assert review.returncode == 0, review.stderr
            assert json.loads(review.stdout)["now_ms"] >= FUTURE_MS
            wait_for(lambda: list((tmp_path / "backups").glob("bot-*.db")), 15, "the daily backup", daemon)
            assert stop(daemon) == 0
        finally:
            stop(daemon, signal.SIGKILL)
        lines = [json.loads(line) for line in (tmp_path / "daemon.out").read_text().splitlines()]
        events = [line["event"] for line in lines]
        assert events[-1] == "stopped" and "trading" in events and "engine_started" in events
        assert "backup_written" in events
        for name in ("bot.db", "bot.db.lock", "perp-bot.log", "backups"):
            expected = 0o700 if name == "backups" else 0o600
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
        # With the daemon gone, review asks the exchange for the time...
        review = _perpbot("--config", str(config), "review", "--json")
        assert review.returncode == 0 and json.loads(review.stdout)["now_ms"] >= FUTURE_MS
    finally:
        stop(sim, signal.SIGINT)
    # ...and with nothing to ask, says so in one line.
    review = _perpbot("--config", str(config), "review", "--json")
    assert review.returncode == 2 and len(review.stderr.splitlines()) == 1
    assert "cannot tell the time" in review.stderr and "--at" in review.stderr
    # A damaged database is refused before anything trades, with the way back; then restored.
    _corrupt_middle(db)
    refused = _perpbot("--config", str(config), "--headless", "trade")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.splitlines()
    assert "is damaged (quick_check:" in line and "perpbot db restore" in line and "backups/bot-" in line
    restored = _perpbot("--config", str(config), "db", "restore")
    assert restored.returncode == 0 and "the previous database is kept as" in restored.stdout
    assert _perpbot("--config", str(config), "db", "check").returncode == 0


@pytest.mark.skipif(not can_mount(), reason="a size-capped tmpfs needs root and a sandbox that allows mounting")
def test_a_disk_that_fills_mid_run_holds_entries_alerts_and_recovers(tmp_path):
    sim, url = start_sim(6, 600)
    try:
        with FakeDiscord() as discord, small_disk(tmp_path / "disk", 40) as disk:
            config = write_config(tmp_path, url, data={"db_path": str(disk / "bot.db"), "symbols": ["BTC", "ETH"],
                                                       "timeframes": ["15m"]},
                                  alerts={"min_interval_s": 0}, logging={"stdout": "json"})
            (tmp_path / ".env").write_text(f"DISCORD_WEBHOOK_URL={discord.url}\n")
            daemon = _daemon(config, tmp_path / "daemon.out")
            try:
                wait_for(lambda: _snapshot(disk / "bot.db"), 30, "the socket", daemon)
                filler = fill(disk)

                def faulted() -> bool:
                    snap = _snapshot(disk / "bot.db") or {}
                    return any(b.startswith("storage fault: the disk holding") for b in snap.get("risk_blocks", []))

                wait_for(faulted, 30, "the storage fault in risk_blocks", daemon)
                time.sleep(3)  # several more failing passes: still one alert, and still running
                assert daemon.poll() is None
                full = [c for c in discord.contents if "cannot write the database" in c]
                assert len(full) == 1 and "New entries are stopped" in full[0]
                filler.unlink()
                wait_for(lambda: not faulted(), 30, "the recovery", daemon)
                wait_for(lambda: any("takes writes again" in c for c in discord.contents), 10, "the all-clear",
                         daemon)
                assert stop(daemon) == 0
            finally:
                stop(daemon, signal.SIGKILL)
            assert "Traceback" not in daemon.stderr.read()
    finally:
        stop(sim, signal.SIGINT)
