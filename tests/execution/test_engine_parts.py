"""The engine's regime source: a poll's snapshots count in the tick that polled."""

from __future__ import annotations

from perpbot.config import build_settings
from perpbot.data.db import PredictionSnapshot, Store
from perpbot.execution.engine_parts import RegimeSource

NOW_MS = 1_704_067_200_000


class _LatePoller:
    """Stamps its snapshots `latency_ms` after the tick's time, as a real fetch does."""

    def __init__(self, store: Store, latency_ms: int) -> None:
        self.store = store
        self.latency_ms = latency_ms

    def poll_if_due(self, now_ms: int) -> list[PredictionSnapshot]:
        snaps = [PredictionSnapshot("polymarket", "recession", "Recession?", 0.55, "ok", now_ms + self.latency_ms)]
        self.store.insert_snapshots(snaps)
        return snaps

    def close(self) -> None:
        return None


def test_the_first_tick_uses_the_snapshots_it_just_polled(tmp_path):
    settings = build_settings({
        "data": {"db_path": str(tmp_path / "bot.db")},
        "prediction": {"enabled": True, "markets": [{"source": "polymarket", "id": "recession"}]},
    }, source="test")
    store = Store(settings.db_path)
    try:
        # 5 wall ms of request latency on a 120x simulator: 600 simulated ms after the tick's time.
        regime = RegimeSource(settings, store, _LatePoller(store, latency_ms=600))
        state = regime.update(NOW_MS)
    finally:
        store.close()
    assert state.score == 0.55 and not state.stale and state.regime.value == "ELEVATED"
