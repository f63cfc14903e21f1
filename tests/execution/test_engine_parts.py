"""The engine's regime source: a poll's snapshots count in the tick that polled, as in the backtest."""

from __future__ import annotations

from perpbot.backtest.risk_adapter import RegimeReplay
from perpbot.clock import FakeClock
from perpbot.config import build_settings
from perpbot.data.db import Store
from perpbot.data.prediction_client import PredictionPoller
from perpbot.execution.engine_parts import RegimeSource

from fakes.prediction_servers import FakeGamma

NOW_MS = 1_704_067_200_000


class _SlowClock(FakeClock):
    """Every reading is 600 ms later: a fetch ends after the tick's time, as on a 120x simulator."""

    def now_ms(self) -> int:
        self.advance(0.6)
        return super().now_ms()


def test_a_tick_uses_what_it_polled_and_the_backtest_replays_the_same(tmp_path):
    with FakeGamma() as gamma:
        gamma.add("recession", "1", "Recession?", 0.55)
        settings = build_settings({
            "data": {"db_path": str(tmp_path / "bot.db")},
            "prediction": {"enabled": True, "polymarket_url": gamma.url, "max_retries": 0, "poll_minutes": 15,
                           "markets": [{"source": "polymarket", "id": "recession"}]},
        }, source="test")
        store = Store(settings.db_path)
        poller = PredictionPoller(settings, store, _SlowClock(NOW_MS))
        try:
            regime = RegimeSource(settings, store, poller)
            live = [regime.update(NOW_MS)]  # the first tick polls
            gamma.set_yes("recession", 0.2)
            live.append(regime.update(NOW_MS + 15 * 60_000))  # the next poll, 15 minutes on
            stored = store.latest_snapshots(NOW_MS + 10**9)
            history = store.snapshots_between(NOW_MS - 1, NOW_MS + 10**9)
        finally:
            poller.close()
            store.close()
    # Stamped with the tick's time, not the fetch's end: the first tick starts with a score.
    assert [s.fetched_at for s in stored] == [NOW_MS + 15 * 60_000]
    assert live[0].score == 0.55 and not live[0].stale and live[0].regime.value == "ELEVATED"
    assert live[1].score == 0.2 and live[1].regime.value == "NORMAL"
    # The backtest replaying the stored snapshots sees the same regimes at the same bars.
    replay = RegimeReplay(settings, history)
    assert [replay.at(NOW_MS), replay.at(NOW_MS + 15 * 60_000)] == live


def test_a_position_opened_by_hand_shows_no_timeout():
    from perpbot.execution.engine_parts import position_view
    from perpbot.models import Side, Trade

    bot = Trade(symbol="BTC", side=Side.LONG, size=0.1, entry_time=1_000, entry_price=100.0, entry_reason="entry:z")
    hand = Trade(symbol="ETH", side=Side.SHORT, size=1.0, entry_time=1_000, entry_price=50.0, entry_reason="manual")
    assert position_view(bot, {}, 86_400_000)["timeout_at"] == 86_401_000
    assert position_view(hand, {}, 86_400_000)["timeout_at"] is None  # the owner's: never timed out
