"""Run as a user would (issue 10): `perpbot sim` at high speed and `perpbot --headless trade` as
subprocesses for two simulated weeks with Discord alerts going to a loopback fake webhook, then
`perpbot review` and `perpbot compare` (tables and --json) on what the daemon left in SQLite."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter

from fakes.chat_servers import FakeDiscord
from perpbot.clock import DAY_MS
from perpbot.data.db import Store
from perpbot.ipc.client import DaemonUnavailable, request
from perpbot.risk.halt import WEEK_MS, week_start_ms

from daemon_procs import cli, start_daemon, start_sim, stop, wait_for, write_config

SPEED = 36_000  # 1h bars are 100 wall ms apart, so 14 simulated days take ~34 wall s
START = "2024-01-01T00:00:00Z"  # a Monday; the daemon starts a few simulated days in (its start-up)
START_MS = 1_704_067_200_000
SIM_DAYS = 14


def _snapshot(config) -> dict:
    """The daemon's snapshot over its socket, in-process: a `perpbot status` subprocess every
    poll would take a core from the daemon, whose ticks are only 100 wall ms apart."""
    try:
        reply = request(config.parent / "perp-bot.sock", "snapshot", 2.0)
    except DaemonUnavailable:
        return {}
    return reply.get("data") or {}


def _run_daemon(tmp_path, url, discord):
    """Paper-trade on 1h bars until the daemon's last tick is >= 14 simulated days after its start."""
    config = write_config(
        tmp_path, url,
        data={"symbols": ["BTC", "ETH", "SOL"], "timeframes": ["1h"]},
        strategy={"timeframe": "1h"},
        risk={"stop_loss_pct": 0.015},
        execution={"clock": "exchange", "tick_seconds": 300},
        # No spacing and no dedupe window, so every trade event reaches the webhook exactly once.
        # no_tick_minutes: 600 simulated minutes are 1 wall second at this speed, so the alarm means
        # a stuck loop, not a busy machine (at 50 minutes, 83 wall ms, a loaded CI core raised it).
        # That polls between hourly bars count as passes is test_watchdog.py's subject.
        alerts={"heartbeat_minutes": 0, "min_interval_s": 0, "dedupe_window_s": 0, "no_tick_minutes": 600},
    )
    # As a user would: the webhook URL lives in .env next to config.yaml (start_daemon drops
    # DISCORD_* from the inherited environment, so this is the only place it comes from).
    (tmp_path / ".env").write_text(f"DISCORD_WEBHOOK_URL={discord.url}\n")
    daemon = start_daemon(config)
    try:
        first = wait_for(lambda: _snapshot(config), 30, "the socket", daemon)
        started = first["started_at"]

        def two_weeks() -> int:
            last_tick = _snapshot(config).get("last_tick") or 0
            return last_tick if last_tick >= started + SIM_DAYS * DAY_MS else 0

        last = wait_for(two_weeks, 60, "two simulated weeks", daemon)
        assert cli(config, "status").returncode == 0  # and `perpbot status` answers as for a user
        assert stop(daemon, signal.SIGINT) == 0
        out, err = daemon.communicate(timeout=10)
    finally:
        stop(daemon, signal.SIGKILL)
    assert "perpbot: stopped" in out, err
    return config, started, last, out + err


def _table(config, *args):
    """A report command as a user at a 120-column terminal runs it (rich reads COLUMNS)."""
    return subprocess.run([sys.executable, "-m", "perpbot.cli", "--config", str(config), *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "120"})


def _alerts_from(contents, event_title):
    """(first line, {key: value}) of each accepted message with this title, e.g. "TRADE OPEN"."""
    found = []
    for content in contents:
        head, *rest = content.split("\n")
        if head.startswith(f"perp-bot {event_title}: "):
            found.append((head, dict(line.split(": ", 1) for line in rest)))
    return found


def test_two_simulated_weeks_then_review_compare_and_alerts(tmp_path):
    sim, url = start_sim(7, SPEED, "--start", START, "--history-days", "5")
    try:
        with FakeDiscord() as discord:
            config, started, last_tick, console = _run_daemon(tmp_path, url, discord)
            received = list(discord.contents)
    finally:
        stop(sim, signal.SIGINT)
    assert last_tick - started >= SIM_DAYS * DAY_MS
    assert started >= START_MS

    store = Store(tmp_path / "bot.db")
    closed = store.closed_trades(mode="paper")
    every = store.recent_trades(100_000, mode="paper")
    store.close()
    assert len(closed) >= 20, f"only {len(closed)} trades in two weeks: the test proves little"
    assert len({t.entry_cloid for t in every}) == len(every)
    assert all(t.exit_time >= t.entry_time for t in closed)  # a stop seen by a bar's low/high included

    # --- review: the weeks traded, and the figures SQLite holds ---------------------------------
    at = max(max(t.exit_time or t.entry_time for t in every), last_tick) + 1
    first_week = week_start_ms(started)  # e.g. 2024-W01, then a whole W02, and W03 running
    weeks = (week_start_ms(at) - first_week) // WEEK_MS + 1
    assert weeks == 3
    done = cli(config, "review", "--json", "--weeks", str(weeks), "--at", str(at))
    assert done.returncode == 0, done.stderr
    review = json.loads(done.stdout)
    assert review["mode"] == "paper"
    assert [w["start_ms"] for w in review["weeks"]] == [first_week + k * WEEK_MS for k in range(weeks)]
    assert [w["complete"] for w in review["weeks"]] == [True, True, False]
    assert review["weeks"][0]["trades"] > 0 and review["weeks"][1]["trades"] > 0  # the middle one Mon to Sun
    total = review["total"]
    assert total["trades"] == len(closed)
    assert sum(w["trades"] for w in review["weeks"]) == len(closed)
    assert abs(total["pnl"] - sum(t.pnl for t in closed)) < 1e-6
    assert abs(total["fees"] - sum(t.fees for t in closed)) < 1e-6
    assert total["wins"] + total["losses"] <= total["trades"]
    by_week = Counter(week_start_ms(t.exit_time) for t in closed)
    assert {w["start_ms"]: w["trades"] for w in review["weeks"] if w["trades"]} == dict(by_week)
    assert sum(b["trades"] for b in review["by_symbol"].values()) == len(closed)
    assert Counter({k: v["trades"] for k, v in review["by_exit_reason"].items()}) == Counter(
        t.exit_reason for t in closed)
    initial = review["initial_equity"]
    assert abs(review["end_equity"] - (initial + total["pnl"])) < 1e-6
    assert 0 <= total["max_drawdown"] <= initial

    table = _table(config, "review", "--weeks", str(weeks), "--at", str(at), "--markdown", str(tmp_path / "review.md"))
    assert table.returncode == 0, table.stderr
    assert all(w["week"] in table.stdout for w in review["weeks"]) and "Total" in table.stdout
    assert f"{total['pnl']:+,.2f}" in table.stdout
    markdown = (tmp_path / "review.md").read_text()
    assert markdown.startswith("# perp-bot weekly review") and "| **Total** |" in markdown

    # --- compare: the backtest over the period the daemon traded ----------------------------------
    done = cli(config, "compare", "--json")
    assert done.returncode == 0, done.stderr
    comparison = json.loads(done.stdout)
    n_matched, n_missed, n_extra = comparison["matched"], comparison["missed"], comparison["extra"]
    assert n_matched + n_extra == len(every)  # every paper trade, open ones included, is accounted for
    # The daemon and the backtest share one brain (decide/signal_arrays, RiskManager) and read the
    # same candles, which the daemon itself stored, so the entries should be the same decisions.
    # What may differ is bounded (docs/design.md, "Paper vs backtest"): fills at the sampled mid vs
    # the bar open, a stop seen within its bar vs at the open, sizes rounded at the mid. A stop
    # that fires on one side only shifts a cooldown and can change a later entry, and the first
    # bars after start-up and the positions open at SIGINT sit at the period's edges, so allow a
    # few strays rather than demand the parity test's exact equality: >= 80 % each way.
    assert n_matched >= 0.8 * len(every), comparison
    assert comparison["match_rate"] >= 0.8, comparison
    assert n_missed <= 0.2 * (n_matched + n_missed)
    assert abs(comparison["actual_pnl"] - sum(t.pnl for t in closed if t.entry_time >= comparison["start_ms"])) < 1e-6
    causes = comparison["causes"]
    assert abs(sum(causes.values()) - comparison["pnl_gap"]) < 1e-6  # the causes explain the whole gap
    # Most matched entries are the same bar's decision (entered within one bar). Their prices differ
    # more than on mainnet: the exchange clock trails the simulator by 20 wall ms, which at 36000x is
    # ~12 simulated minutes of price move between the bar's open (the backtest's fill) and the mid
    # the daemon fills at, and a tick a few wall ms late is minutes more; hence a loose bound.
    same_bar = [p for p in comparison["pairs"] if abs(p["entry_delay_ms"]) < 3_600_000]
    assert len(same_bar) >= 0.8 * n_matched
    assert abs(comparison["mean_entry_diff_bps"]) < 150
    assert comparison["exit_reason_mismatches"] <= 0.2 * n_matched

    table = _table(config, "compare")
    assert table.returncode == 0, table.stderr
    rate = re.search(r"match rate (\d+) %", table.stdout)
    assert rate and int(rate.group(1)) == round(comparison["match_rate"] * 100), table.stdout
    assert f"matched {n_matched}, missed {n_missed}" in table.stdout

    # --- alerts: one per trade open and close, and the secret stayed out of every log ------------
    opens = _alerts_from(received, "TRADE OPEN")
    closes = _alerts_from(received, "TRADE CLOSE") + _alerts_from(received, "STOP LOSS")
    assert len(opens) == len(every), (len(opens), len(every))
    assert len(closes) == len(closed), (len(closes), len(closed))
    assert Counter((f["symbol"], f["side"]) for _, f in opens) == Counter((t.symbol, t.side.value) for t in every)
    assert Counter((f["symbol"], f["reason"]) for _, f in closes) == Counter(
        (t.symbol, t.exit_reason) for t in closed)
    # Nothing else but, at most, one "price feed stale" from start-up (the first pass can come
    # before the websocket's first allMids; a known wrinkle, not this test's subject). Above all no
    # "no tick" alarm: the loop ran throughout (hourly ticks, polls every 300 s in between).
    others = [m for m in received if not m.startswith(("perp-bot TRADE OPEN:", "perp-bot TRADE CLOSE:",
                                                        "perp-bot STOP LOSS:"))]
    assert len(others) <= 1 and all(m.startswith("perp-bot STALE FEED:") for m in others), others
    log_text = (tmp_path / "perp-bot.log").read_text()
    assert "engine_started" in log_text
    print(f"started {(started - START_MS) / DAY_MS:.1f} days in, simulated {(last_tick - started) / DAY_MS:.1f} days, weeks {[w['week'] for w in review['weeks']]}, "
          f"trades {len(every)} ({len(closed)} closed), pnl {total['pnl']:+.2f}, matched {n_matched} missed "
          f"{n_missed} extra {n_extra}, match rate {comparison['match_rate']:.2f}, gap {comparison['pnl_gap']:+.2f}, "
          f"alerts {len(received)} ({len(opens)} open, {len(closes)} close)")
    for text in (log_text, console):
        assert discord.token not in text
