"""Tests for the RiskManager: each control on a FakeClock, and restart persistence."""

from __future__ import annotations

import pytest

from perpbot.clock import DAY_MS, HOUR_MS, MINUTE_MS, FakeClock
from perpbot.config import PredictionConfig, RiskConfig
from perpbot.data.db import Store
from perpbot.errors import StrategyError
from perpbot.models import Side
from perpbot.risk.manager import GLOBAL, MemoryState, RiskCheck, RiskManager
from perpbot.signals.prediction import fixed_regime

T0 = 1_704_067_200_000  # 2024-01-01T00:00Z
NORMAL = fixed_regime("NORMAL", PredictionConfig())
CRISIS = fixed_regime("CRISIS", PredictionConfig())


def make(clock: FakeClock, state=None, **risk) -> RiskManager:
    return RiskManager(RiskConfig(**risk), state if state is not None else MemoryState(), clock)


def test_fresh_manager_allows_an_entry(clock):
    rm = make(clock)
    assert rm.check_entry("BTC", [], NORMAL, T0) == RiskCheck(True, "ok")
    assert rm.blocks(T0) == []


def test_max_positions_counts_open_symbols_across_the_book(clock):
    rm = make(clock, max_positions=2)
    assert rm.check_entry("SOL", ["BTC"], NORMAL, T0).allowed
    assert rm.check_entry("SOL", ["BTC", "ETH"], NORMAL, T0) == RiskCheck(False, "max_positions")
    assert rm.check_entry("BTC", ["BTC"], NORMAL, T0) == RiskCheck(False, "already_open")


def test_daily_loss_cap_blocks_until_next_utc_midnight(clock):
    rm = make(clock, daily_loss_limit_pct=0.05)
    rm.note_equity(10_000.0, T0 + HOUR_MS)
    rm.record_exit("BTC", -300.0, "signal", T0 + 2 * HOUR_MS)
    assert rm.check_entry("ETH", [], NORMAL, T0 + 2 * HOUR_MS).allowed  # -300 > -500
    rm.record_exit("ETH", -200.0, "signal", T0 + 3 * HOUR_MS)  # exactly -5 %
    assert rm.pnl_today(T0 + 3 * HOUR_MS) == -500.0
    assert rm.check_entry("SOL", [], NORMAL, T0 + 3 * HOUR_MS) == RiskCheck(False, "daily_loss_cap")
    assert rm.check_entry("SOL", [], NORMAL, T0 + DAY_MS - 1).reason == "daily_loss_cap"
    assert any(b.startswith("daily loss cap") for b in rm.blocks(T0 + 4 * HOUR_MS))
    # Midnight: a new day with a clean ledger, measured from the last equity seen.
    assert rm.check_entry("SOL", [], NORMAL, T0 + DAY_MS).allowed
    assert rm.pnl_today(T0 + DAY_MS) == 0.0
    assert rm.start_equity(T0 + DAY_MS) == 10_000.0


def test_start_equity_backs_out_exits_booked_before_the_first_equity(clock):
    rm = make(clock, daily_loss_limit_pct=0.05)
    rm.record_exit("BTC", -400.0, "signal", T0 + MINUTE_MS)
    rm.note_equity(9_600.0, T0 + 2 * MINUTE_MS)  # equity already includes the loss
    assert rm.start_equity(T0 + 2 * MINUTE_MS) == 10_000.0
    rm.record_exit("BTC", -100.0, "signal", T0 + 3 * MINUTE_MS)
    assert rm.check_entry("ETH", [], NORMAL, T0 + 3 * MINUTE_MS).reason == "daily_loss_cap"


def test_profits_offset_losses_within_the_day(clock):
    rm = make(clock, daily_loss_limit_pct=0.05)
    rm.note_equity(10_000.0, T0)
    rm.record_exit("BTC", -450.0, "signal", T0 + 1)
    rm.record_exit("ETH", 100.0, "signal", T0 + 2)
    rm.record_exit("SOL", -100.0, "signal", T0 + 3)
    assert rm.pnl_today(T0 + 3) == pytest.approx(-450.0)
    assert rm.check_entry("BTC", [], NORMAL, T0 + 4).allowed


def test_stop_loss_cools_down_only_its_symbol(clock):
    rm = make(clock, cooldown_minutes=60)
    rm.record_exit("BTC", -10.0, "stop_loss", T0)
    assert rm.check_entry("BTC", [], NORMAL, T0 + 59 * MINUTE_MS) == RiskCheck(False, "cooldown")
    assert rm.check_entry("ETH", [], NORMAL, T0 + MINUTE_MS).allowed
    assert rm.cooldowns(T0 + MINUTE_MS) == {"BTC": T0 + HOUR_MS}
    assert rm.blocks(T0 + MINUTE_MS) == ["cooldown BTC until 2024-01-01 01:00 UTC"]
    assert rm.check_entry("BTC", [], NORMAL, T0 + HOUR_MS).allowed
    assert rm.cooldowns(T0 + HOUR_MS) == {}


def test_other_exit_reasons_start_no_cooldown(clock):
    rm = make(clock, cooldown_minutes=60)
    for reason in ("signal", "timeout", "manual", "flatten", "end", "reconcile"):
        rm.record_exit("BTC", -10.0, reason, T0)
    assert rm.cooldowns(T0) == {}
    assert rm.check_entry("BTC", [], NORMAL, T0).allowed


def test_global_cooldown_blocks_every_symbol(clock):
    rm = make(clock, cooldown_minutes=30, global_cooldown=True)
    rm.record_exit("BTC", -10.0, "stop_loss", T0)
    assert rm.check_entry("ETH", [], NORMAL, T0 + 10 * MINUTE_MS) == RiskCheck(False, "cooldown")
    assert rm.cooldowns(T0) == {"BTC": T0 + 30 * MINUTE_MS, GLOBAL: T0 + 30 * MINUTE_MS}
    assert "cooldown all symbols until 2024-01-01 00:30 UTC" in rm.blocks(T0)
    assert rm.check_entry("ETH", [], NORMAL, T0 + 30 * MINUTE_MS).allowed


def test_zero_cooldown_minutes_disables_cooldowns(clock):
    rm = make(clock, cooldown_minutes=0)
    rm.record_exit("BTC", -10.0, "stop_loss", T0)
    assert rm.check_entry("BTC", [], NORMAL, T0).allowed


def test_crisis_regime_blocks_entries(clock):
    rm = make(clock)
    assert rm.check_entry("BTC", [], CRISIS, T0) == RiskCheck(False, "regime_crisis")
    assert rm.check_entry("BTC", [], fixed_regime("ELEVATED", PredictionConfig()), T0).allowed


def test_pause_and_halt_deny_with_their_reasons(clock):
    rm = make(clock)
    rm.set_paused(True, T0)
    assert rm.check_entry("BTC", [], NORMAL, T0) == RiskCheck(False, "paused")
    rm.set_halt("3 losing weeks", T0)
    assert rm.check_entry("BTC", [], NORMAL, T0) == RiskCheck(False, "halted")
    assert rm.blocks(T0) == ["halted: 3 losing weeks", "paused by operator"]
    rm.set_halt(None, T0)
    rm.set_paused(False, T0)
    assert rm.check_entry("BTC", [], NORMAL, T0).allowed


def test_blocks_reads_the_injected_clock_when_given_no_time():
    clock = FakeClock(T0)
    rm = make(clock, cooldown_minutes=60)
    rm.record_exit("BTC", -1.0, "stop_loss", T0)
    assert rm.blocks() == ["cooldown BTC until 2024-01-01 01:00 UTC"]
    clock.advance(3600)
    assert rm.blocks() == []


def test_fraction_sizing_uses_equity_fraction_and_leverage(clock):
    rm = make(clock, sizing="fraction", position_fraction=0.1, leverage=3)
    assert rm.position_size(10_000.0, 50_000.0) == pytest.approx(0.06)  # 3000 notional
    assert rm.position_size(10_000.0, 50_000.0, size_factor=0.5) == pytest.approx(0.03)


def test_fixed_sizing_is_capped_by_leverage(clock):
    rm = make(clock, sizing="fixed", notional_usd=1_000.0, leverage=2)
    assert rm.position_size(10_000.0, 100.0) == pytest.approx(10.0)
    assert rm.position_size(300.0, 100.0) == pytest.approx(6.0)  # capped at 600 notional


def test_size_rounds_down_to_sz_decimals(clock):
    rm = make(clock, sizing="fixed", notional_usd=1_000.0, leverage=5, min_order_usd=10)
    assert rm.position_size(10_000.0, 3.0, sz_decimals=1) == 333.3
    assert rm.position_size(10_000.0, 3.0, sz_decimals=0) == 333.0
    # 0.3 / 0.1 style float error must not floor a whole step away.
    rm2 = make(clock, sizing="fixed", notional_usd=30.0, leverage=5, min_order_usd=1)
    assert rm2.position_size(10_000.0, 0.1, sz_decimals=0) == 300.0


def test_below_min_order_sizes_to_zero_and_denies(clock):
    rm = make(clock, sizing="fixed", notional_usd=50.0, min_order_usd=10.0)
    assert rm.position_size(1_000.0, 100.0, size_factor=0.1) == 0.0  # 5 USD notional
    assert rm.size_check(0.0) == RiskCheck(False, "below_min_order")
    assert rm.position_size(1_000.0, 100.0, size_factor=0.0) == 0.0  # CRISIS factor 0
    assert rm.position_size(0.0, 100.0) == 0.0
    # Rounding down to 0 decimals can push a valid budget below the minimum.
    assert rm.position_size(1_000.0, 45.0, sz_decimals=0) == 1.0  # 50 USD budget -> 1 coin
    assert rm.position_size(1_000.0, 90.0, size_factor=0.2, sz_decimals=0) == 0.0
    assert rm.size_check(0.5).allowed


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_price_is_one_clear_error(clock, price):
    with pytest.raises(StrategyError, match="positive price"):
        make(clock).position_size(1_000.0, price)


def test_bad_size_factor_is_one_clear_error(clock):
    with pytest.raises(StrategyError, match="size_factor"):
        make(clock).position_size(1_000.0, 10.0, size_factor=-0.5)


def test_stop_price_is_against_the_position(clock):
    rm = make(clock, stop_loss_pct=0.02)
    assert rm.stop_price(Side.LONG, 100.0) == pytest.approx(98.0)
    assert rm.stop_price(Side.SHORT, 100.0) == pytest.approx(102.0)


def test_position_timeout(clock):
    rm = make(clock, position_timeout_hours=24)
    assert not rm.is_timed_out(T0, T0 + 24 * HOUR_MS - 1)
    assert rm.is_timed_out(T0, T0 + 24 * HOUR_MS)
    assert rm.timeout_ms == 24 * HOUR_MS


def test_state_survives_a_restart_on_the_same_store(tmp_path):
    clock = FakeClock(T0)
    cfg = dict(cooldown_minutes=120, daily_loss_limit_pct=0.05)
    store = Store(tmp_path / "bot.db")
    rm = make(clock, store, **cfg)
    rm.note_equity(10_000.0, T0 + HOUR_MS)
    rm.record_exit("BTC", -600.0, "stop_loss", T0 + HOUR_MS)
    rm.set_paused(True, T0 + HOUR_MS)
    store.close()

    reopened = Store(tmp_path / "bot.db")
    again = make(clock, reopened, **cfg)
    now = T0 + 2 * HOUR_MS
    assert again.pnl_today(now) == -600.0
    assert again.start_equity(now) == 10_000.0
    assert again.cooldowns(now) == {"BTC": T0 + 3 * HOUR_MS}
    assert again.paused
    assert again.check_entry("ETH", [], NORMAL, now).reason == "paused"
    again.set_paused(False, now)
    assert again.check_entry("ETH", [], NORMAL, now).reason == "daily_loss_cap"
    assert again.check_entry("ETH", [], NORMAL, T0 + DAY_MS).allowed
    assert reopened.get_state("risk:day")["day_ms"] == T0 + DAY_MS
    reopened.close()


def test_halt_survives_a_restart(tmp_path):
    clock = FakeClock(T0)
    store = Store(tmp_path / "bot.db")
    make(clock, store).set_halt("losing_weeks", T0)
    assert make(clock, store).check_entry("BTC", [], NORMAL, T0).reason == "halted"
    store.close()


def test_damaged_day_state_starts_a_fresh_day(clock):
    state = MemoryState()
    state.set_state("risk:day", "garbage")
    state.set_state("risk:cooldowns", {"BTC": T0 + MINUTE_MS})
    rm = make(clock, state)
    assert rm.pnl_today(T0) == 0.0
    assert rm.check_entry("BTC", [], NORMAL, T0).reason == "cooldown"


def test_memory_state_round_trips_through_json():
    state = MemoryState()
    state.set_state("k", (1, 2), now_ms=5)
    assert state.get_state("k") == [1, 2]
    assert state.get_state("missing", 7) == 7
    assert state.keys() == ["k"] and state.updated_at["k"] == 5
    state.delete_state("k")
    assert state.get_state("k") is None
