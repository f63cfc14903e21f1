"""Live end to end with real kill -9s: `perpbot sim` and `perpbot --headless trade` (live, an API wallet)
as subprocesses; the daemon is killed with SIGKILL while it trades, the owner trades by hand with the
official SDK while it is down, and every restart must start, protect each position with exactly one
stop of its whole size, and hold exactly the exchange's positions; at the end the ledger's realized pnl
and fees are the exchange's fills."""

from __future__ import annotations

import random
import signal
import time

import eth_account
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info

from perpbot.data.db import Store

from daemon_procs import start_daemon, start_sim, status, stop, wait_for, write_config

pytestmark = pytest.mark.e2e
OWNER_KEY = "0x" + "81" * 32
OWNER = eth_account.Account.from_key(OWNER_KEY)
AGENT_KEY = "0x" + "82" * 32
AGENT = eth_account.Account.from_key(AGENT_KEY).address.lower()
SPEED = 120


@pytest.fixture
def sim():
    proc, url = start_sim(7, SPEED, "--fund", f"{OWNER.address.lower()}=100000", "--agent",
                          f"{OWNER.address.lower()}={AGENT}")
    yield url
    stop(proc, signal.SIGINT)


def _config(tmp_path, url):
    config = write_config(tmp_path, url, strategy={"timeframe": "5m", "entry_z": 1.2},
                          data={"timeframes": ["5m"]}, execution={"mode": "live", "clock": "exchange", "tick_seconds": 30,
                                                                   "reconcile_minutes": 2},
                          risk={"stop_loss_pct": 0.004, "cooldown_minutes": 10})
    (tmp_path / ".env").write_text(f"HL_PRIVATE_KEY={AGENT_KEY}\nHL_ACCOUNT_ADDRESS={OWNER.address.lower()}\n")
    return config


def _exchange_state(info: Info) -> tuple[dict[str, float], list[dict]]:
    positions = {p["position"]["coin"]: float(p["position"]["szi"]) for p in info.user_state(OWNER.address)["assetPositions"]}
    return positions, info.frontend_open_orders(OWNER.address)


def _protected_and_matching(config, info: Info) -> bool:
    """Every position under exactly one reduce-only stop of its size, and the daemon holds exactly them."""
    snap = status(config)
    positions, orders = _exchange_state(info)
    if snap is None or snap.get("unresolved"):
        return False
    held = {p["symbol"]: p["size"] * (1 if p["side"] == "long" else -1) for p in snap["positions"]}
    stops = {c: [o for o in orders if o["coin"] == c and o["isTrigger"] and o["reduceOnly"]] for c in positions}
    return held == positions and all(len(s) == 1 and float(s[0]["sz"]) == abs(positions[c]) for c, s in stops.items())


def _by_hand(url: str, rng: random.Random) -> None:
    ex = Exchange(OWNER, url)
    positions, _ = _exchange_state(ex.info)
    if positions and rng.random() < 0.6:
        coin = rng.choice(sorted(positions))
        ex.market_close(coin) if rng.random() < 0.5 else ex.market_open(coin, positions[coin] > 0, round(
            abs(positions[coin]) / 2, ex.info.asset_to_sz_decimals[ex.info.name_to_asset(coin)]) or 0.01)
        return
    coin = rng.choice([c for c in ("BTC", "ETH", "SOL") if c not in positions] or ["ETH"])
    mid = float(ex.info.all_mids()[coin])
    ex.market_open(coin, rng.random() < 0.5, round(1500 / mid, ex.info.asset_to_sz_decimals[ex.info.name_to_asset(coin)]))


def test_kill_9_while_trading_live_with_hand_trades_between(sim, tmp_path):
    config = _config(tmp_path, sim)
    info = Info(sim, skip_ws=True)
    rng = random.Random(7)
    daemon = start_daemon(config)
    try:
        for _ in range(2):
            wait_for(lambda: (status(config) or {}).get("positions"), 90, "an open position", daemon)
            time.sleep(rng.uniform(0.0, 2.0))  # somewhere in its loop: maybe mid-order
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
            _by_hand(sim, rng)
            daemon = start_daemon(config)
            wait_for(lambda: _protected_and_matching(config, info), 60, "a protected, matching restart", daemon)
        assert stop(daemon) == 0
    finally:
        stop(daemon, signal.SIGKILL)
    store = Store(tmp_path / "bot.db")
    try:
        # The simulator runs on after the daemon stopped (a stop may fire): compare up to the last fill it
        # booked, and require every exchange fill until then to be booked.
        booked = {r[0]: r[1] for r in store.conn.execute("SELECT tid, time FROM fills")}
        fills = [f for f in info.user_fills(OWNER.address) if f["time"] <= max(booked.values())]
        assert {f["tid"] for f in fills} == set(booked)
        trades = store.recent_trades(100_000, mode="live")
        gross = sum(t.pnl + t.fees + t.funding for t in trades if not t.is_open)
        gross += sum(store.close_legs(t.id).closed_pnl for t in trades if t.is_open)
        assert gross == pytest.approx(sum(float(f["closedPnl"]) for f in fills), abs=1e-6)
        assert sum(t.fees for t in trades) == pytest.approx(sum(float(f["fee"]) for f in fills), abs=1e-6)
    finally:
        store.close()
