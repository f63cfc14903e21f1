"""Helpers to run `perpbot sim` and `perpbot --headless trade` as subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

PY = sys.executable


def start_sim(seed: int, speed: float, *extra: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([PY, "-m", "perpbot.cli", "sim", "--port", "0", "--seed", str(seed), "--speed", str(speed),
                             "--history-days", "3", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"serving (http://\S+)", line)
    assert match, line
    return proc, match.group(1)


def write_config(tmp_path: Path, url: str, **sections: dict[str, Any]) -> Path:
    raw: dict[str, Any] = {
        "exchange": {"base_url": url, "timeout_s": 2.0, "retry_backoff_s": 0.01, "max_retries": 8},
        "data": {"db_path": str(tmp_path / "bot.db"), "symbols": ["BTC", "ETH", "SOL"], "timeframes": ["15m"]},
        "strategy": {"timeframe": "15m", "entry_z": 1.5, "exit_z": 0.3, "use_adx": False, "use_hurst": False,
                     "use_rsi": False},
        "risk": {"sizing": "fixed", "notional_usd": 1000, "stop_loss_pct": 0.006, "cooldown_minutes": 60},
        "execution": {"clock": "exchange", "tick_seconds": 60},
        "alerts": {"heartbeat_minutes": 0},
        # start_daemon reads the daemon's stdout only at the end: JSON log lines there would fill the pipe.
        "logging": {"stdout": "off"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def start_daemon(config: Path, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HL_", "DISCORD", "TELEGRAM"))}
    return subprocess.Popen([PY, "-m", "perpbot.cli", "--config", str(config), "--headless", "trade", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "perpbot.cli", "--config", str(config), *args], capture_output=True, text=True,
                          timeout=60)


def status(config: Path) -> dict[str, Any] | None:
    done = cli(config, "status")
    return json.loads(done.stdout) if done.returncode == 0 else None


def wait_for(predicate: Any, timeout_s: float, what: str, proc: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon exited ({proc.returncode}) waiting for {what}: {proc.stderr.read()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout=timeout_s)
