"""`perpbot preflight` against the simulator: every check passes for a funded API wallet, and fails clearly otherwise."""

from __future__ import annotations

import eth_account
import pytest

from perpbot.cli import main
from perpbot.clock import MINUTE_MS, ScaledClock, WallClock, floor_ms
from perpbot.sim.server import SimOptions, SimServer

ACCOUNT = eth_account.Account.from_key("0x" + "81" * 32)
AGENT_KEY = "0x" + "82" * 32
AGENT = eth_account.Account.from_key(AGENT_KEY)


@pytest.fixture(scope="module")
def sim():
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    opts = SimOptions(seed=41, history_days=2, start_ms=start, funds={ACCOUNT.address.lower(): 5_000.0},
                      agents={AGENT.address.lower(): ACCOUNT.address.lower()})
    with SimServer(opts, port=0, clock=ScaledClock(start, 1.0)) as server:
        yield server


def _config(tmp_path, sim, **extra) -> str:
    path = tmp_path / "config.yaml"
    lines = [f"exchange:\n  base_url: {sim.url}\n  network: testnet",
             f"data:\n  db_path: {tmp_path / 'bot.db'}\n  symbols: [BTC, ETH]",
             f"risk:\n  leverage: {extra.get('leverage', 3)}"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_preflight_passes_for_a_funded_api_wallet_and_places_and_cancels_one_order(tmp_path, sim, capsys, monkeypatch):
    monkeypatch.setenv("HL_PRIVATE_KEY", AGENT_KEY)
    monkeypatch.setenv("HL_ACCOUNT_ADDRESS", ACCOUNT.address)
    assert main(["--config", _config(tmp_path, sim), "preflight"]) == 0
    out = capsys.readouterr().out
    assert "preflight: all checks passed" in out and "FAIL" not in out
    assert f"an API wallet of {ACCOUNT.address.lower()}" in out and "ms past the hour" in out
    assert "rested" in out and "canceled" in out
    assert AGENT_KEY[2:] not in out  # the key never shows
    order = [o for o in sim.ledger.orders.values() if o.user == ACCOUNT.address.lower()][-1]
    assert order.status == "canceled" and order.cloid


def test_preflight_fails_with_one_line_per_problem(tmp_path, sim, capsys, monkeypatch):
    monkeypatch.delenv("HL_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("HL_ACCOUNT_ADDRESS", raising=False)
    assert main(["--config", _config(tmp_path, sim, leverage=45), "preflight"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  leverage limit: risk.leverage 45 is above BTC, ETH's limit" in out
    assert "FAIL  key and role: HL_PRIVATE_KEY is not set" in out
    assert "ok    symbols listed" in out and "preflight: 4 check(s) failed" in out


def test_preflight_signs_on_the_clock_the_daemon_would_use(tmp_path, capsys, monkeypatch):
    """An accelerated simulator far ahead of the wall clock: with execution.clock: exchange the test order's
    nonce follows the exchange's time, as the daemon's would (wall-clock nonces are "too low" there)."""
    start = floor_ms(WallClock().now_ms(), MINUTE_MS) + 3 * 86_400_000  # three simulated days ahead
    opts = SimOptions(seed=41, history_days=2, start_ms=start, speed=60, funds={ACCOUNT.address.lower(): 5_000.0},
                      agents={AGENT.address.lower(): ACCOUNT.address.lower()})
    monkeypatch.setenv("HL_PRIVATE_KEY", AGENT_KEY)
    monkeypatch.setenv("HL_ACCOUNT_ADDRESS", ACCOUNT.address)
    with SimServer(opts, port=0, clock=ScaledClock(start, 60.0)) as server:
        config = _config(tmp_path, server)
        assert main(["--config", config, "preflight", "--set", "execution.clock=wall"]) == 1
        assert "nonce too low" in capsys.readouterr().out  # what QA saw: the wall clock's nonces
        assert main(["--config", config, "preflight", "--set", "execution.clock=exchange"]) == 0
        out = capsys.readouterr().out
    assert "preflight: all checks passed" in out and "rested" in out
