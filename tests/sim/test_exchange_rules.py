"""The simulator's /exchange rules over real HTTP: signatures, nonces, order rules, and their exact errors."""

from __future__ import annotations

import eth_account
import pytest
from exchange_signer import TRADER, Signer

from perpbot.clock import FakeClock
from perpbot.errors import ConfigError
from perpbot.sim.exchange_options import parse_agent, parse_fund
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000


@pytest.fixture(scope="module")
def sim():
    opts = SimOptions(seed=4, history_days=0.5, start_ms=START_MS, funds={TRADER.address: 20_000.0})
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        yield server


@pytest.fixture
def signer(sim):
    s = Signer(sim)
    yield s
    s.http.close()


def _mid(sim, coin: str) -> float:
    return sim.universe[coin].mid(sim.now_ms())


def test_a_tampered_action_recovers_a_stranger_and_never_trades(sim, signer):
    body = signer.body({"type": "order", "orders": [{"a": 1, "b": True, "p": "4000", "s": "0.01", "r": False,
                                                     "t": {"limit": {"tif": "Ioc"}}}], "grouping": "na"})
    body["action"]["orders"][0]["s"] = "0.5"  # changed after signing
    answer = signer.post(body)
    assert answer["status"] == "err" and answer["response"].startswith("User or API Wallet 0x")
    assert answer["response"].endswith(" does not exist.") and TRADER.address.lower() not in answer["response"]
    assert sim.ledger.accounts[TRADER.address.lower()].positions.get("ETH") is None


def test_a_mainnet_signature_is_refused_by_a_testnet_exchange(sim):
    mainnet = Signer(sim, is_mainnet=True)
    answer = mainnet.post(mainnet.body({"type": "noop"}))
    assert answer["status"] == "err" and "does not exist" in answer["response"]


def test_mainnet_mode_verifies_mainnet_signatures():
    opts = SimOptions(seed=4, history_days=0.1, start_ms=START_MS, funds={TRADER.address: 100.0}, network="mainnet")
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        assert Signer(server, is_mainnet=True).post(Signer(server, is_mainnet=True).body({"type": "noop"}))["status"] == "ok"
        testnet = Signer(server)
        assert testnet.post(testnet.body({"type": "noop"}))["status"] == "err"


def test_nonces_are_unique_recent_and_above_the_100_kept(sim, signer):
    now = sim.now_ms()
    first = signer.body({"type": "noop"}, nonce=now - 5_000)
    assert signer.post(first) == {"status": "ok", "response": {"type": "default"}}
    assert signer.post(first) == {"status": "err", "response": f"Invalid nonce: duplicate nonce {now - 5_000}"}
    for k in range(100):
        assert signer.post(signer.body({"type": "noop"}, nonce=now + k))["status"] == "ok"
    stale = signer.post(signer.body({"type": "noop"}, nonce=now - 4_000))
    assert stale == {"status": "err", "response": f"Invalid nonce: nonce too low {now - 4_000} < {now}"}
    old = now - 2 * 86_400_000
    assert signer.post(signer.body({"type": "noop"}, nonce=old))["response"] == f"Invalid nonce: nonce too low {old} < {old}"
    late = now + 86_400_000
    assert signer.post(signer.body({"type": "noop"}, nonce=late))["response"] == f"Invalid nonce: nonce too high {late} > {late}"


@pytest.mark.parametrize("coin, px, sz, error", [
    ("ETH", "{mid}.123", "0.1", "Order has invalid price. asset=1"),           # 3 decimals > 6 - szDecimals 4
    ("SOL", "{mid5}", "1", "Price must be divisible by tick size. asset=2"),   # 6 significant figures
    ("ETH", "{mid}", "0.00001", "Order has invalid size. asset=1"),            # 5 decimals > szDecimals 4
    ("ETH", "{mid}", "0.001", "Order must have minimum value of $10. asset=1"),
    ("ETH", "{far}", "0.1", "Order could not immediately match against any resting orders. asset=1"),
    ("ETH", "{mid}", "500", "Insufficient margin to place order. asset=1"),
])
def test_order_rules_answer_with_the_exchanges_errors(sim, signer, coin, px, sz, error):
    mid = _mid(sim, coin)
    text = px.format(mid=int(mid), mid5=f"{mid + 0.0012:.4f}", far=int(mid * 0.5))
    assert signer.order(coin, True, text, sz) == {"error": error}


def test_unknown_asset_reduce_only_and_post_only_are_refused(sim, signer):
    wire = {"a": 9, "b": True, "p": "1", "s": "1", "r": False, "t": {"limit": {"tif": "Gtc"}}}
    answer = signer.post(signer.body({"type": "order", "orders": [wire], "grouping": "na"}))
    assert answer["response"]["data"]["statuses"] == [{"error": "Invalid asset. asset=9"}]
    mid = _mid(sim, "SOL")
    assert signer.order("SOL", False, f"{mid * 0.9:.2f}", "1", reduce_only=True) == {
        "error": "Reduce only order would increase position. asset=2"}
    post_only = signer.order("SOL", True, f"{mid * 1.01:.2f}", "1", tif="Alo")
    assert post_only["error"].startswith("Post only order would have immediately matched, bbo was ")


def test_malformed_bodies_get_422_and_the_exchange_keeps_serving(sim, signer):
    good = signer.body({"type": "noop"})
    for bad in ({**good, "nonce": "soon"}, {**good, "signature": {"r": "0x1", "s": "zz", "v": 27}},
                {**good, "action": {"type": "teleport"}}, {"nonce": 1}):
        response = signer.http.post("/exchange", json=bad)
        assert response.status_code == 422
        assert response.text.startswith("Failed to deserialize the JSON body into the target type: ")
    assert signer.http.post("/exchange", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert signer.post(good)["status"] == "ok"


def test_fund_flags_are_checked():
    assert parse_fund("0x" + "Ab" * 20 + "=2500") == ("0x" + "ab" * 20, 2500.0)
    for bad in ("0x12=100", "0x" + "ab" * 20, "0x" + "ab" * 20 + "=-5", "0x" + "ab" * 20 + "=lots"):
        with pytest.raises(ConfigError):
            parse_fund(bad)
    with pytest.raises(ConfigError):
        SimOptions(network="devnet").validate()
    account, agent = "0x" + "12" * 20, "0x" + "34" * 20
    assert parse_agent(f"{account} = 0x{agent[2:].upper()}") == (account, agent)
    with pytest.raises(ConfigError, match="not funded"):
        SimOptions(agents={agent: account}).validate()


def test_an_agent_approved_by_flag_signs_for_its_account():
    agent = eth_account.Account.from_key("0x" + "35" * 32)
    opts = SimOptions(seed=4, history_days=0.1, start_ms=START_MS, funds={TRADER.address: 100.0},
                      agents={agent.address.lower(): TRADER.address.lower()})
    with SimServer(opts, port=0, clock=FakeClock(START_MS)) as server:
        as_agent = Signer(server, wallet=agent)
        assert as_agent.post(as_agent.body({"type": "noop"})) == {"status": "ok", "response": {"type": "default"}}
        assert as_agent.info({"type": "userRole", "user": agent.address}) == {
            "role": "agent", "data": {"user": TRADER.address.lower()}}


@pytest.mark.parametrize("r, s", [("0x" + "ff" * 32, "0x01"), ("0x0", "0x0"), ("0x" + "0" * 63 + "1", "0x" + "ff" * 32)])
def test_a_well_formed_signature_that_recovers_nobody_is_a_422(sim, signer, caplog, r, s):
    good = signer.body({"type": "noop"})
    for action in (good["action"], {"type": "approveAgent", "agentAddress": "0x" + "34" * 20, "nonce": good["nonce"]}):
        response = signer.http.post("/exchange", json={**good, "action": action, "signature": {"r": r, "s": s, "v": 27}})
        assert response.status_code == 422, response.text
        assert response.text.startswith("Failed to deserialize the JSON body into the target type: ")
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]  # no server traceback
    assert signer.post(signer.body({"type": "noop"}))["status"] == "ok"


@pytest.mark.parametrize("path", ["/exchange", "/info"])
def test_json_nested_too_deep_is_a_400_with_the_exchanges_text(sim, signer, caplog, path):
    deep = b"[" * 50_000 + b"]" * 50_000
    response = signer.http.post(path, content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.text == "Failed to parse the request body as JSON: recursion limit exceeded"
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert signer.post(signer.body({"type": "noop"}))["status"] == "ok"
