"""The live executor against the simulator on loopback: startup gate, entries, stops, exits, partial fills, rejections, timeouts."""

from __future__ import annotations

import eth_account
import httpx
import pytest

from perpbot.clock import FakeClock
from perpbot.config import TESTNET_URL, Secrets, build_settings
from perpbot.data.client import HyperliquidClient
from perpbot.data.db import Store
from perpbot.errors import ConfigError
from perpbot.execution.live.exchange_api import encode_body, frontend_open_orders
from perpbot.cli.compose import connect_live
from perpbot.execution.live.signing import update_leverage_action
from perpbot.models import Side
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000 + 7 * 60_000
MAIN_KEY = "0x" + "61" * 32
MAIN = eth_account.Account.from_key(MAIN_KEY).address.lower()
AGENT_KEY = "0x" + "62" * 32
AGENT = eth_account.Account.from_key(AGENT_KEY).address.lower()
POOR_KEY = "0x" + "63" * 32
POOR = eth_account.Account.from_key(POOR_KEY).address.lower()


@pytest.fixture
def sim():
    clock = FakeClock(START_MS)
    opts = SimOptions(seed=11, history_days=0.2, start_ms=START_MS, funds={MAIN: 100_000.0, POOR: 50.0})
    with SimServer(opts, port=0, clock=clock) as server:
        server.fake_clock = clock
        yield server


def make_settings(sim, tmp_path, key=MAIN_KEY, account=None, **risk):
    settings = build_settings({
        "exchange": {"base_url": sim.url, "timeout_s": 1.0, "retry_backoff_s": 0.05},
        "data": {"db_path": str(tmp_path / "live.db"), "symbols": ["BTC", "ETH", "SOL"]},
        "execution": {"mode": "live", "max_slippage_bps": 50},
        "risk": {"leverage": 3, "stop_loss_pct": 0.02, **risk},
    }, source="test")
    settings.secrets = Secrets(hl_private_key=key, hl_account_address=account)
    return settings


@pytest.fixture
def live(sim, tmp_path):
    alerts: list[tuple] = []
    store = Store(tmp_path / "live.db")
    ex = connect_live(make_settings(sim, tmp_path), store, sim.fake_clock,
                              alert=lambda event, text, **f: alerts.append((event, text)))
    ex.alerts = alerts
    ex.start(sim.now_ms())
    yield ex
    ex.close_connections()
    store.close()


def _fills(sim, user=MAIN):
    return sim.ledger.accounts[user].fills


def test_connect_validates_the_key_and_the_account(sim, tmp_path):
    store = Store(tmp_path / "gate.db")
    clock = sim.fake_clock
    for key, account, message in [
        (None, None, "HL_PRIVATE_KEY is not set"),
        ("0xnot-a-key", None, "HL_PRIVATE_KEY is not a private key"),
        ("0x" + "64" * 32, None, "does not exist"),
        (AGENT_KEY, MAIN, "neither HL_ACCOUNT_ADDRESS"),
        (MAIN_KEY, "0x" + "ab" * 20, "neither HL_ACCOUNT_ADDRESS"),
        (MAIN_KEY, "0xabc", "HL_ACCOUNT_ADDRESS must be 0x"),
    ]:
        with pytest.raises(ConfigError, match=message) as err:
            connect_live(make_settings(sim, tmp_path, key, account), store, clock)
        assert (key or "")[4:] not in str(err.value) or not key
    sim.ledger.approve_agent(MAIN, AGENT, "perpbot")
    agent = connect_live(make_settings(sim, tmp_path, AGENT_KEY, MAIN), store, clock)
    assert (agent.account, agent.signer_address) == (MAIN, AGENT) and AGENT_KEY[2:] not in repr(agent.describe())
    with pytest.raises(ConfigError, match="API wallet of"):
        connect_live(make_settings(sim, tmp_path, AGENT_KEY, POOR), store, clock)
    agent.close_connections()
    store.close()


def test_entry_is_an_ioc_inside_the_cap_with_a_stop_and_real_costs(sim, live):
    assert sim.ledger.leverage(MAIN, "ETH") == (True, 3)
    mid = sim.universe["ETH"].mid(sim.now_ms())
    trade = live.open("ETH", Side.LONG, 1.2345, "z=-2.3", key=1, now_ms=sim.now_ms())
    assert trade is not None and trade.size == 1.2345 and trade.mode == "live" and trade.entry_reason == "z=-2.3"
    assert trade.expected_entry_price == mid and mid < trade.entry_price <= mid * 1.005
    [fill] = _fills(sim)
    assert float(fill["px"]) == trade.entry_price and trade.fees == pytest.approx(float(fill["fee"]))
    assert fill["cloid"] == trade.entry_cloid
    [stop] = frontend_open_orders(live.trader.client, MAIN)
    assert stop.is_trigger and stop.reduce_only and stop.side is Side.SHORT and stop.sz == trade.size
    assert stop.trigger_px == trade.stop_price == pytest.approx(trade.entry_price * 0.98, rel=1e-4)
    assert live.open("ETH", Side.LONG, 1.2345, "z=-2.3", key=1, now_ms=sim.now_ms()) is None  # same decision
    assert len(_fills(sim)) == 1 and live.open_trades() == [trade]


def test_signal_exit_closes_cancels_the_stop_and_books_net_pnl(sim, live):
    trade = live.open("SOL", Side.SHORT, 40, "z=2.1", key="bar-1", now_ms=sim.now_ms())
    sim.fake_clock.advance(600)
    closed = live.close(trade, "signal", sim.now_ms())
    assert closed is not None and closed.exit_reason == "signal" and not closed.is_open
    entry_fill, exit_fill = _fills(sim)
    assert closed.exit_price == float(exit_fill["px"]) and closed.exit_cloid == exit_fill["cloid"]
    assert closed.fees == pytest.approx(float(entry_fill["fee"]) + float(exit_fill["fee"]))
    assert closed.pnl == pytest.approx(float(exit_fill["closedPnl"]) - closed.fees - closed.funding)
    assert frontend_open_orders(live.trader.client, MAIN) == [] and sim.ledger.open_orders(MAIN) == []
    assert live.trader.store.closed_trades(mode="live")[0].id == trade.id


def _run_past_stop(sim, symbol: str, stop: float) -> None:
    """Move the exchange's clock a minute past the first time the mid falls to `stop`."""
    market, t = sim.universe[symbol], sim.now_ms()
    while market.mid(t) > stop:
        t += 60_000
        market.ensure(t)
        assert t < START_MS + 30 * 86_400_000, "the seeded path never reaches the stop"
    sim.fake_clock.set(t + 60_000)


def test_a_stop_hit_on_the_exchange_is_booked_as_stop_loss(sim, live):
    trade = live.open("BTC", Side.LONG, 0.05, "z=-2", key=7, now_ms=sim.now_ms())
    _run_past_stop(sim, "BTC", trade.stop_price)
    [closed] = live.sync(sim.now_ms())
    assert closed.exit_reason == "stop_loss" and closed.exit_price == pytest.approx(trade.stop_price, rel=0.003)
    assert closed == live.trader.store.closed_trades(mode="live")[0] and closed.pnl < 0
    assert ("reconciliation" in {a[0] for a in live.alerts}) and live.open_trades() == []
    assert live.sync(sim.now_ms()) == []  # not due again yet


def test_an_exit_after_the_stop_fired_books_the_stop_not_a_second_order(sim, live):
    trade = live.open("BTC", Side.LONG, 0.05, "z=-2", key=8, now_ms=sim.now_ms())
    _run_past_stop(sim, "BTC", trade.stop_price)
    closed = live.close(trade, "signal", sim.now_ms())
    assert closed is not None and closed.exit_reason == "stop_loss"
    assert [f["dir"] for f in _fills(sim)] == ["Open Long", "Close Long"]


def test_a_partial_fill_becomes_a_smaller_trade_with_a_matching_stop(sim, live):
    book = live.trader.client.l2_book("SOL")
    depth = sum(level.sz for level in book.asks)
    sim.ledger.fund(MAIN, 10_000_000.0)
    trade = live.open("SOL", Side.LONG, depth * 4, "z=-3", key=2, now_ms=sim.now_ms())
    assert trade is not None and 0 < trade.size < depth * 4
    [stop] = frontend_open_orders(live.trader.client, MAIN)
    assert stop.sz == trade.size == sim.ledger.position(MAIN, "SOL").szi


def test_an_entry_beyond_the_free_margin_records_nothing_and_alerts(sim, live):
    """Skipped before it is sent (the exchange would refuse it: perpMarginRejected)."""
    assert live.open("BTC", Side.LONG, 1_000, "z=-2", key=3, now_ms=sim.now_ms()) is None
    assert live.open_trades() == [] and sim.ledger.open_orders(MAIN) == [] and not sim.ledger.orders
    assert any(event == "error" and "entry skipped: it needs" in text for event, text in live.alerts)
    assert live.trader.book.intents() == {}


def test_a_timed_out_entry_that_reached_the_exchange_is_not_sent_again(sim, live):
    sim.exchange.reply_delay_ms = 1500  # longer than the 1 s client timeout; the order runs first
    trade = live.open("ETH", Side.SHORT, 2, "z=2.4", key=4, now_ms=sim.now_ms())
    sim.exchange.reply_delay_ms = 0
    assert trade is not None and trade.size == 2
    assert len([f for f in _fills(sim) if f["dir"] == "Open Short"]) == 1
    assert sim.ledger.position(MAIN, "ETH").szi == -2


def test_an_entry_that_never_arrived_is_sent_again_once(sim, live):
    sim.exchange.fail_next = 2  # two 502s before the exchange sees anything
    trade = live.open("ETH", Side.LONG, 1, "z=-2", key=5, now_ms=sim.now_ms())
    assert trade is not None and len(_fills(sim)) == 1 and sim.ledger.position(MAIN, "ETH").szi == 1


def test_testnet_is_chosen_by_config_alone(sim, tmp_path):
    settings = make_settings(sim, tmp_path)
    settings.exchange.base_url = None
    settings.exchange.network = "testnet"
    # Only the startup look-ups go to the simulator here: no test ever reaches the real testnet.
    store = Store(tmp_path / "t.db")
    with HyperliquidClient(sim.url) as lookups:
        ex = connect_live(settings, store, sim.fake_clock, client=lookups)
        assert ex.transport.base_url == TESTNET_URL and ex.transport.is_mainnet is False
        nonce = ex.transport.nonces.next()
        action = update_leverage_action(1, 2)
        body = encode_body(action, nonce, ex.transport.signer.sign(action, nonce, ex.transport.is_mainnet))
        answer = httpx.post(sim.url + "/exchange", content=body, headers={"content-type": "application/json"}).json()
        assert answer == {"status": "ok", "response": {"type": "default"}}  # a testnet signature, accepted
        ex.transport.close()
    store.close()
