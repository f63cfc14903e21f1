"""The compiled account loop (backtest/fastaccount.py) against the Python event loop, trade for trade.

Several symbols on one shared account (max positions, a global cooldown and the daily loss cap
bind across symbols), regimes replayed from stored snapshots (crisis spells, stale markets, held
values), entry delays: every draw is run by both loops and compared bit for bit (trades,
blocked entries, equity curve, metrics). The regime's tables are also checked against the
classifier itself at adversarial call times.
"""

from __future__ import annotations


import numpy as np
import pytest
from bt_data import START_MS, cut_outages, insert_walk
from test_backtest_fastloop import STEP, _compare, _random_config

from perpbot.backtest.engine import load_market, simulate
from perpbot.backtest.risk_adapter import REGIMES, RegimeReplay
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.models import PredictionSnapshot

SYMBOLS = ["BTC", "ETH", "SOL"]
MARKETS = [{"source": "polymarket", "id": "m1", "weight": 1.0, "direction": "risk_up"},
           {"source": "kalshi", "id": "k1", "weight": 0.5, "direction": "risk_down"}]


@pytest.fixture(scope="module", params=[(5, 0.0001, False), (9, -0.0002, True)], ids=["funding+", "funding-gaps"])
def store(request, tmp_path_factory):
    seed, funding, gaps = request.param
    path = tmp_path_factory.mktemp("fastaccount") / "d.db"
    st = Store(path)
    st.migrate()
    for i, sym in enumerate(SYMBOLS):
        insert_walk(st, sym, 4000 - 300 * i, seed=seed + i, funding=funding)  # different lengths
    if gaps:  # outages: stretches missing on one symbol only, so the frames do not line up
        cut_outages(path, step_ms=STEP)
    yield st
    st.close()


def _both_loops(store, settings, symbols: list[str], rng: np.random.Generator, replay: bool):
    """One draw on both loops (a replayed regime gets ~1000 h of snapshots): the compiled result, after
    checking it equals the event loop's bit for bit."""
    data = load_market(settings, store, symbols, START_MS + 200 * STEP, None, None)
    snaps = _snapshots(rng, 1000) if replay else []
    compiled = simulate(data, settings, snapshots=snaps, loop="compiled")
    _compare(compiled, simulate(data, settings, snapshots=snaps, loop="events"))
    return compiled

def _snapshots(rng: np.random.Generator, hours: int) -> list[PredictionSnapshot]:
    """Polls every 1-4 h with a few gaps long enough to go stale, and the odd error or closed market."""
    snaps, t = [], START_MS
    while t < START_MS + hours * 3_600_000:
        t += int(rng.integers(1, 5)) * 3_600_000 + int(rng.integers(0, 60)) * 60_000
        if rng.random() < 0.1:
            t += 12 * 3_600_000  # a long silence: readings age out
        for m in MARKETS:
            status = "ok" if rng.random() < 0.85 else str(rng.choice(["error", "closed"]))
            p = float(rng.choice([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95]))
            snaps.append(PredictionSnapshot(m["source"], m["id"], "q?", p, status, t))
    return snaps


def _account_config(rng: np.random.Generator, db_path: str, replay: bool) -> dict:
    cfg = _random_config(rng, db_path)
    cfg["risk"] |= {"max_positions": int(rng.integers(1, 4)), "global_cooldown": bool(rng.integers(2))}
    if replay:
        del cfg["backtest"]["regime"]
        cfg["prediction"] = {"enabled": True, "max_age_minutes": float(rng.choice([120, 360, 600])),
                             "hysteresis": float(rng.choice([0.0, 0.1])), "markets": MARKETS}
    return cfg


@pytest.mark.parametrize("replay", [False, True], ids=["fixed-regime", "replayed-regime"])
def test_compiled_account_loop_equals_event_loop(store, replay):
    rng = np.random.default_rng(20261207 + replay)
    seen_blocks: set[str] = set()
    symbol_sets = [SYMBOLS, SYMBOLS[:2], ["SOL", "BTC"], ["ETH"]]
    for draw in range(16):
        settings = build_settings(_account_config(rng, str(store.path), replay), source="test")
        compiled = _both_loops(store, settings, symbol_sets[draw % len(symbol_sets)], rng, replay)
        seen_blocks |= set(compiled.metrics["entries_blocked"])
    assert seen_blocks >= {"max_positions", "cooldown", "daily_loss_cap"}
    if replay:
        assert "regime_crisis" in seen_blocks


def test_the_regime_timeline_answers_as_the_classifier_does():
    """The tables give RegimeReplay.at's regime at any call times, whatever came before."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        cfg = _account_config(rng, ":memory:", True)
        settings = build_settings(cfg, source="test")
        snaps = _snapshots(rng, 300)
        line = RegimeReplay(settings, snaps).timeline()
        replay = RegimeReplay(settings, snaps)
        calls = np.sort(rng.integers(START_MS - 3_600_000, START_MS + 320 * 3_600_000, 60))
        # Adversarial times too: exactly at polls and at the edges where readings age out.
        edges = np.concatenate([line.starts[1:], line.starts[1:] - 1])
        calls = np.unique(np.concatenate([calls, rng.choice(edges, 40)]))
        fed, cur = 0, line.start
        for now in calls.tolist():
            while fed < len(line.polls) and line.starts[line.polls[fed]] <= now:
                cur = line.step[line.polls[fed], cur]
                fed += 1
            cur = line.step[np.searchsorted(line.starts, now, side="right") - 1, cur]
            assert REGIMES[cur] is replay.at(now).regime


def test_auto_takes_a_compiled_loop_for_every_run_once_it_is_loaded(store, monkeypatch):
    import perpbot.backtest.fastaccount as fastaccount
    import perpbot.backtest.fastloop as fastloop

    calls = []
    for mod, name in ((fastloop, "run_symbol"), (fastaccount, "run_account")):
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    settings = build_settings(_account_config(np.random.default_rng(1), str(store.path), False), source="test")
    one = load_market(settings, store, ["BTC"], START_MS + 200 * STEP, None, None)
    three = load_market(settings, store, SYMBOLS, START_MS + 200 * STEP, None, None)
    simulate(one, settings)
    simulate(three, settings)
    simulate(three, settings, loop="events")
    assert calls == ["run_symbol", "run_account"]


def test_maker_orders_take_the_compiled_loop_beyond_one_symbol(store, monkeypatch):
    """Issue 20: the account loop models maker orders too (fastmaker.py), so every run may take a
    compiled loop: a maker run of several symbols or a replayed regime included."""
    import perpbot.backtest.fastaccount as fastaccount
    import perpbot.backtest.fastloop  # noqa: F401  (loaded: `auto` takes a compiled loop)

    calls = []
    real = fastaccount.run_account
    monkeypatch.setattr(fastaccount, "run_account", lambda *a: calls.append(len(a[0])) or real(*a))
    rng = np.random.default_rng(2)
    for replay, symbols in ((False, SYMBOLS), (True, ["BTC"])):
        settings = build_settings(_maker_config(rng, str(store.path), replay, ("maker", "taker")), source="test")
        data = load_market(settings, store, symbols, START_MS + 200 * STEP, None, None)
        simulate(data, settings, snapshots=_snapshots(rng, 1000) if replay else [])
    assert calls == [len(SYMBOLS), 1]


def _maker_config(rng: np.random.Generator, db_path: str, replay: bool, orders: tuple[str, str]) -> dict:
    """An account config with maker entries and/or exits (test_backtest_fastloop.py's maker draws)."""
    cfg = _account_config(rng, db_path, replay)
    pick = lambda *values: values[int(rng.integers(len(values)))]  # noqa: E731
    cfg["execution"] |= {"entry_order": orders[0], "exit_order": orders[1], "maker_timeout_bars": pick(1, 3),
                         "maker_fallback": pick("cancel", "taker"), "maker_fill_ticks": pick(0, 1, 3),
                         "maker_fee": pick(0.00015, -0.00002)}
    if orders[0] == "maker":
        cfg["execution"]["entry_delay_bars"] = 0  # config.py: a maker entry takes no delay
    return cfg


@pytest.mark.parametrize("orders", [("maker", "taker"), ("taker", "maker"), ("maker", "maker")],
                         ids=["maker-entries", "maker-exits", "maker-both"])
@pytest.mark.parametrize("replay", [False, True], ids=["fixed-regime", "replayed-regime"])
def test_compiled_account_loop_equals_event_loop_with_maker_orders(store, replay, orders):
    """Resting entries hold a slot (max positions, their own coin) until they fill or go; a cancel or
    expiry frees it at its close, ahead of that close's decisions; a maker exit fills inside its bar:
    trades, blocked entries, maker counts, fees by kind and equity the same, bit for bit."""
    rng = np.random.default_rng(20261208 + 2 * replay + len(orders[0]) + 3 * len(orders[1]))
    store.save_sz_decimals({"BTC": 4, "ETH": 3, "SOL": 2})
    seen_orders: set[str] = set()
    seen_blocks: set[str] = set()
    symbol_sets = [SYMBOLS, SYMBOLS[:2], ["SOL", "BTC"], ["ETH"]]
    for draw in range(10):
        settings = build_settings(_maker_config(rng, str(store.path), replay, orders), source="test")
        compiled = _both_loops(store, settings, symbol_sets[draw % len(symbol_sets)], rng, replay)
        made = compiled.metrics["maker_orders"]
        seen_orders |= {k for k in ("filled", "cancelled", "expired", "reprices") if made[k]}
        seen_blocks |= set(compiled.metrics["entries_blocked"])
    assert seen_orders == {"filled", "cancelled", "expired", "reprices"}
    assert "max_positions" in seen_blocks
