"""Signing edge: our signed /exchange bodies are byte-identical to the SDK's; key, nonces, rounding, cloids."""

from __future__ import annotations

import itertools
import json
import pickle
import threading

import eth_account
import hyperliquid.exchange
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.utils.types import Cloid

from perpbot.clock import FakeClock
from perpbot.errors import ConfigError
from perpbot.execution.cloids import derive_cloid, is_own_cloid
from perpbot.execution.live.exchange_api import ActionNotSent, ExchangeTransport, encode_body, statuses
from perpbot.execution.live.signing import (
    NonceManager,
    OrderIntent,
    Signer,
    cancel_action,
    cancel_by_cloid_action,
    check_address,
    order_action,
    resolve_account,
    round_price,
    round_size,
    update_leverage_action,
)
from perpbot.risk.state import MemoryState
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000
KEY = "0x" + "5a" * 32
ADDRESS = eth_account.Account.from_key(KEY).address.lower()
ASSET = {"BTC": 0, "ETH": 1, "SOL": 2}
CLOID = "0x" + "0123456789abcdef" * 2


@pytest.fixture(scope="module")
def sim():
    opts = SimOptions(seed=6, history_days=0.2, start_ms=START_MS, funds={ADDRESS: 100_000.0})
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        yield server


@pytest.fixture(scope="module")
def sdk(sim):
    """The SDK's Exchange, its nonces (wall time) pinned to a counter near the simulator's clock."""
    nonces = itertools.count(START_MS)
    original = hyperliquid.exchange.get_timestamp_ms
    hyperliquid.exchange.get_timestamp_ms = lambda: next(nonces)
    try:
        yield Exchange(eth_account.Account.from_key(KEY), sim.url)
    finally:
        hyperliquid.exchange.get_timestamp_ms = original


def _ours(sim, action: dict) -> bytes:
    """Our body for `action`, signed with the nonce of the body the SDK just sent."""
    nonce = json.loads(sim.exchange.raw_bodies[-1])["nonce"]
    return encode_body(action, nonce, Signer(KEY).sign(action, nonce, is_mainnet=False))


def _ok(answer: dict) -> dict:
    assert answer["status"] == "ok", answer
    return answer


LIMIT = {"limit": {"tif": "Gtc"}}
CASES = [
    ("gtc with cloid", ("ETH", True, 0.1, 1500.0, LIMIT, False, CLOID)),
    ("ioc", ("BTC", False, 0.002, 30000.0, {"limit": {"tif": "Ioc"}}, False, None)),
    ("alo", ("SOL", True, 1.5, 100.05, {"limit": {"tif": "Alo"}}, False, None)),
    ("stop market", ("BTC", True, 0.002, 90000.0, {"trigger": {"triggerPx": 80000.0, "isMarket": True, "tpsl": "sl"}},
                     True, "0x" + "ff" * 16)),
    ("take profit limit", ("BTC", True, 0.002, 20001.0, {"trigger": {"triggerPx": 20000.0, "isMarket": False, "tpsl": "tp"}},
                           True, None)),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_order_bodies_are_byte_identical_to_the_sdks_and_accepted(sim, sdk, case):
    coin, is_buy, sz, px, order_type, reduce_only, cloid = case[1]
    _ok(sdk.order(coin, is_buy, sz, px, order_type, reduce_only, Cloid.from_str(cloid) if cloid else None))
    ours = order_action([OrderIntent(ASSET[coin], is_buy, sz, px, order_type, reduce_only, cloid)])
    assert _ours(sim, ours) == sim.exchange.raw_bodies[-1]


def test_grouped_cancel_and_leverage_bodies_are_byte_identical(sim, sdk):
    entry = {"coin": "ETH", "is_buy": True, "sz": 0.1, "limit_px": 1400.0, "order_type": LIMIT, "reduce_only": False}
    stop = {"coin": "ETH", "is_buy": False, "sz": 0.1, "limit_px": 1000.0, "reduce_only": True,
            "order_type": {"trigger": {"triggerPx": 1100.0, "isMarket": True, "tpsl": "sl"}}}
    placed = _ok(sdk.bulk_orders([entry, stop], grouping="normalTpsl"))
    ours = order_action([OrderIntent(1, True, 0.1, 1400.0, LIMIT, False, None),
                         OrderIntent(1, False, 0.1, 1000.0, stop["order_type"], True, None)], grouping="normalTpsl")
    assert _ours(sim, ours) == sim.exchange.raw_bodies[-1]
    oid = statuses(placed["response"])[0]["resting"]["oid"]
    assert statuses(_ok(sdk.cancel("ETH", oid))["response"]) == ["success"]
    assert _ours(sim, cancel_action(1, oid)) == sim.exchange.raw_bodies[-1]
    resting = "0x" + "fedcba9876543210" * 2  # its own order: tests of a module may run on different workers
    _ok(sdk.order("ETH", True, 0.1, 1500.0, LIMIT, False, Cloid.from_str(resting)))
    assert statuses(_ok(sdk.cancel_by_cloid("ETH", Cloid.from_str(resting)))["response"]) == ["success"]
    assert _ours(sim, cancel_by_cloid_action(1, resting)) == sim.exchange.raw_bodies[-1]
    _ok(sdk.update_leverage(3, "SOL", is_cross=False))
    assert _ours(sim, update_leverage_action(2, 3, is_cross=False)) == sim.exchange.raw_bodies[-1]


def test_our_transport_is_accepted_and_a_used_nonce_is_refused_unexecuted(sim, sdk):
    used = NonceManager(MemoryState(), FakeClock(START_MS), ADDRESS)  # START_MS: the SDK's first nonce
    fresh = NonceManager(MemoryState(), FakeClock(START_MS + 60_000), ADDRESS)
    with ExchangeTransport(sim.url, Signer(KEY), used, False, 5.0) as stale, \
            ExchangeTransport(sim.url, Signer(KEY), fresh, False, 5.0) as transport:
        with pytest.raises(ActionNotSent, match="Invalid nonce: duplicate nonce"):
            stale.send(update_leverage_action(0, 9))
        assert transport.send(update_leverage_action(0, 7)) == {"type": "default"}
    assert sim.ledger.leverage(ADDRESS, "BTC") == (True, 7)


def test_the_key_never_shows_and_bad_keys_are_refused_without_echo():
    signer = Signer(KEY)
    assert signer.address == ADDRESS and "5a5a" not in repr(signer) and "5a5a" not in str(signer)
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    for bad in ("0x1234", "zz" * 32, "0x" + "00" * 32):
        with pytest.raises(ConfigError) as err:
            Signer(bad)
        assert bad not in str(err.value) and bad[2:] not in str(err.value)
    assert Signer(KEY[2:]).address == ADDRESS  # the 0x is optional


def test_the_account_is_resolved_from_the_keys_role():
    me, other = ADDRESS, "0x" + "ab" * 20
    assert resolve_account(me, None, {"role": "user"}, "testnet") == me
    assert resolve_account(me, me, {"role": "user"}, "testnet") == me
    assert resolve_account(me, other, {"role": "agent", "data": {"user": other}}, "testnet") == other
    assert resolve_account(me, None, {"role": "agent", "data": {"user": other}}, "testnet") == other
    for configured, role in ((other, {"role": "user"}), (other, {"role": "missing"}), (None, {"role": "missing"}),
                             ("0x" + "cd" * 20, {"role": "agent", "data": {"user": other}})):
        with pytest.raises(ConfigError):
            resolve_account(me, configured, role, "testnet")
    assert check_address(" 0x" + "AB" * 20 + " ") == "0x" + "ab" * 20 and check_address(None) is None
    with pytest.raises(ConfigError):
        check_address("0xabc")


def test_nonces_strictly_increase_across_threads_and_restarts():
    state, clock = MemoryState(), FakeClock(START_MS)
    manager = NonceManager(state, clock, ADDRESS)
    seen: list[list[int]] = [[] for _ in range(8)]

    def worker(out: list[int]) -> None:
        other = NonceManager(state, clock, ADDRESS)  # a second instance shares the signer's lock
        for _ in range(200):
            out.append(other.next())

    threads = [threading.Thread(target=worker, args=(out,)) for out in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [n for out in seen for n in out]
    assert len(set(everything)) == 1600 and all(out == sorted(out) for out in seen)
    assert min(everything) == START_MS and max(everything) == START_MS + 1599  # the clock stood still
    clock.set(START_MS - 3_600_000)  # a restart with the wall clock stepped back an hour
    assert NonceManager(state, clock, ADDRESS).next() == START_MS + 1600
    clock.set(START_MS + 10_000_000)
    assert manager.next() == START_MS + 10_000_000


@pytest.mark.parametrize("px, sz_decimals, nearest, up, down", [
    (60123.456, 5, 60123.0, 60124.0, 60123.0),
    (3001.234, 4, 3001.2, 3001.3, 3001.2),
    (150.1234, 2, 150.12, 150.13, 150.12),
    (0.151234, 0, 0.15123, 0.15124, 0.15123),
    (123456.7, 5, 123457.0, 123457.0, 123456.0),  # integers are always allowed
    (0.00123456, 0, 0.001235, 0.001235, 0.001234),  # 6 decimals at most
    (2.5, 4, 2.5, 2.5, 2.5),
])
def test_prices_round_to_5_significant_figures_and_the_assets_decimals(px, sz_decimals, nearest, up, down):
    assert (round_price(px, sz_decimals), round_price(px, sz_decimals, 1), round_price(px, sz_decimals, -1)) == (
        nearest, up, down)


def test_sizes_round_down_and_cloids_are_stable():
    assert round_size(0.30000000000000004, 4) == 0.3 and round_size(1.239, 2) == 1.23 and round_size(7.9, 0) == 7.0
    first = derive_cloid("entry", "ETH", "long", 1_704_067_200_000)
    assert first == derive_cloid("entry", "ETH", "long", 1_704_067_200_000)
    assert first != derive_cloid("entry", "ETH", "long", 1_704_067_260_000)
    assert len(first) == 34 and Cloid.from_str(first).to_raw() == first and is_own_cloid(first)
    assert not is_own_cloid(CLOID) and not is_own_cloid(None)
    with pytest.raises(ValueError):
        round_price(0.0, 2)
