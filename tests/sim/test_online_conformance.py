"""The bridge to the real exchange (`pytest -m online`): the simulator's answers against Hyperliquid's own.

Public /info on mainnet needs no key: each request is asked of mainnet and of the simulator and
the answers must have the same shape. With HL_TESTNET_PRIVATE_KEY set (a testnet account's or
API wallet's key, with HL_TESTNET_ACCOUNT for an API wallet), one tiny order far from the market
is placed on testnet with our own transport and cancelled, as against the simulator. Without
network every test is skipped, cleanly.
"""

from __future__ import annotations

import os

import httpx
import pytest
from shapes import shape_problems

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS, FakeClock, WallClock, floor_ms
from perpbot.config import build_settings
from perpbot.data.client import HyperliquidClient
from perpbot.cli.preflight import Preflight
from perpbot.sim.server import SimOptions, SimServer

pytestmark = pytest.mark.online
MAINNET = "https://api.hyperliquid.xyz"
TESTNET = "https://api.hyperliquid-testnet.xyz"


def _reachable(url: str) -> None:
    try:
        httpx.post(url + "/info", json={"type": "exchangeStatus"}, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"{url} not reachable ({type(exc).__name__}): online tests need the internet")


@pytest.fixture(scope="module")
def mainnet():
    _reachable(MAINNET)
    with httpx.Client(base_url=MAINNET, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def sim():
    start = floor_ms(WallClock().now_ms(), MINUTE_MS)
    with SimServer(SimOptions(seed=3, history_days=2, start_ms=start), port=0, clock=FakeClock(start)) as server:
        yield server


def _both(mainnet: httpx.Client, sim: SimServer, body: dict) -> tuple:
    ours = httpx.post(sim.url + "/info", json=body, timeout=10).json()
    theirs = mainnet.post("/info", json=body).json()
    return ours, theirs


@pytest.mark.parametrize("body", [
    {"type": "meta"}, {"type": "metaAndAssetCtxs"}, {"type": "allMids"}, {"type": "l2Book", "coin": "BTC"},
    {"type": "spotMeta"}, {"type": "perpDexs"}, {"type": "exchangeStatus"},
    {"type": "clearinghouseState", "user": "0x" + "00" * 20}, {"type": "userFills", "user": "0x" + "00" * 20},
], ids=lambda b: b["type"])
def test_public_answers_have_mainnets_shape(mainnet, sim, body):
    ours, theirs = _both(mainnet, sim, body)
    assert shape_problems(ours, theirs, body["type"], set(), set()) == []


def test_candles_and_funding_have_mainnets_shape_and_funding_its_jitter(mainnet, sim):
    now = WallClock().now_ms()
    candles = {"type": "candleSnapshot", "req": {"coin": "ETH", "interval": "1h", "startTime": now - DAY_MS}}
    assert shape_problems(*_both(mainnet, sim, candles), "candles", set(), set()) == []
    funding = {"type": "fundingHistory", "coin": "ETH", "startTime": now - DAY_MS}
    ours, theirs = _both(mainnet, sim, funding)
    assert shape_problems(ours, theirs, "funding", set(), set()) == []
    # Mainnet's times sit a little past the hour, like ours: nothing may assume exact hours.
    assert all(0 <= r["time"] % HOUR_MS < 10 * MINUTE_MS for r in theirs + ours)


def test_preflight_checks_pass_against_mainnet_without_a_key(mainnet):
    settings = build_settings({"exchange": {"network": "mainnet"}, "data": {"symbols": ["BTC", "ETH"]}}, source="test")
    with HyperliquidClient.from_settings(settings) as client:
        checks = {c.name: c for c in Preflight(settings, client).run()}
    public = ("exchange reachable", "symbols listed", "price and size rules", "leverage limit", "funding hourly",
              "market answers parse")
    assert all(checks[name].ok for name in public), checks
    assert not checks["key and role"].ok and "place and cancel a far order" not in checks  # never trades on mainnet


def test_an_order_far_from_the_market_rests_and_cancels_on_testnet(tmp_path):
    key = os.environ.get("HL_TESTNET_PRIVATE_KEY")
    if not key:
        pytest.skip("set HL_TESTNET_PRIVATE_KEY (and HL_TESTNET_ACCOUNT for an API wallet) to trade on testnet")
    _reachable(TESTNET)
    settings = build_settings({"exchange": {"network": "testnet"}, "data": {"symbols": ["ETH"],
                               "db_path": str(tmp_path / "bot.db")}}, source="test")
    settings.secrets.hl_private_key = key
    settings.secrets.hl_account_address = os.environ.get("HL_TESTNET_ACCOUNT")
    with HyperliquidClient.from_settings(settings) as client:
        checks = Preflight(settings, client).run()
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert "rested" in checks[-1].detail and "canceled" in checks[-1].detail
