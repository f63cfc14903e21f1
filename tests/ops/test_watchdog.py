"""Tests for the watchdog: the no-tick alarm and its all-clear, heartbeats on schedule, and the
thread firing while the tick loop is blocked. Alerts go through a real AlertSink to a fake Discord."""

from __future__ import annotations

import logging
import threading

import pytest
from fakes.chat_servers import FakeDiscord

from perpbot.clock import MINUTE_MS
from perpbot.config import AlertsConfig, build_settings
from perpbot.ops.alert_channels import DiscordChannel
from perpbot.ops.alerts import AlertSink
from perpbot.ops.watchdog import Watchdog

T0 = 1_704_067_200_000  # 2024-01-01T00:00Z


@pytest.fixture
def discord():
    with FakeDiscord() as server:
        yield server


@pytest.fixture
def sink(discord, clock):
    cfg = AlertsConfig(min_interval_s=0.0, timeout_s=2.0)
    sink = AlertSink([DiscordChannel(discord.url)], cfg, clock)
    yield sink
    sink.close(timeout_s=5)


def wait_for(predicate, timeout_s: float = 5.0) -> bool:
    """Poll a condition another thread makes true (bounded; returns as soon as it holds)."""
    pause = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if predicate():
            return True
        pause.wait(0.01)
    return predicate()


def test_no_tick_alarm_fires_once_per_stall_and_announces_the_recovery(sink, discord, clock):
    ticks = [T0]
    dog = Watchdog(sink, lambda: ticks[-1], clock, no_tick_minutes=10)
    clock.set(T0 + 9 * MINUTE_MS)
    assert dog.check() == []
    clock.set(T0 + 10 * MINUTE_MS)
    assert dog.check() == ["no_tick"] and dog.stalled
    clock.set(T0 + 25 * MINUTE_MS)
    assert dog.check() == []  # still stalled: no repeat
    ticks.append(T0 + 26 * MINUTE_MS)
    clock.set(T0 + 26 * MINUTE_MS)
    assert dog.check() == ["resumed"] and not dog.stalled
    assert sink.close(timeout_s=5)
    assert discord.contents == [
        "perp-bot ERROR: no tick for 10 min: the tick loop is stuck or dead\nlast_tick: 2024-01-01 00:00:00Z",
        "perp-bot ERROR: tick loop resumed after 26 min",
    ]


def test_before_the_first_tick_silence_counts_from_start(sink, discord, clock):
    dog = Watchdog(sink, lambda: None, clock, no_tick_minutes=5)
    clock.advance(5 * 60)
    assert dog.check() == ["no_tick"]
    assert sink.close(timeout_s=5)
    assert discord.contents == ["perp-bot ERROR: no tick for 5 min: the tick loop is stuck or dead\n"
                                "last_tick: start (2024-01-01 00:00:00Z)"]


def test_heartbeats_keep_their_schedule_and_carry_the_engines_status(sink, discord, clock):
    ticks = [T0]
    status = {"equity": 10012.5, "positions": 2}
    dog = Watchdog(sink, lambda: ticks[-1], clock, no_tick_minutes=10, heartbeat_minutes=60,
                   status=lambda: status)
    seen = []
    for minute in (59, 60, 61, 185, 239, 240):
        clock.set(T0 + minute * MINUTE_MS)
        ticks.append(clock.now_ms())  # the engine keeps ticking
        seen.append(dog.check())
    # After a 2-hour gap one heartbeat goes out, not a burst, and the schedule stays on the hour.
    assert seen == [[], ["heartbeat"], [], ["heartbeat"], [], ["heartbeat"]]
    assert sink.close(timeout_s=5)
    assert discord.contents == [
        "perp-bot HEARTBEAT: running, up 60 min\nlast_tick: 0 s ago\nequity: 10012.5\npositions: 2",
        "perp-bot HEARTBEAT: running, up 3 h 05 min\nlast_tick: 0 s ago\nequity: 10012.5\npositions: 2",
        "perp-bot HEARTBEAT: running, up 4 h 00 min\nlast_tick: 0 s ago\nequity: 10012.5\npositions: 2",
    ]


def test_from_settings_reads_the_schedule_and_zero_turns_heartbeats_off(sink, discord, clock, tmp_path):
    settings = build_settings({"alerts": {"heartbeat_minutes": 0, "no_tick_minutes": 3}})
    dog = Watchdog.from_settings(settings, sink, lambda: T0, clock)
    clock.set(T0 + 2 * MINUTE_MS)
    assert dog.check() == []
    clock.set(T0 + 24 * 60 * MINUTE_MS)
    assert dog.check() == ["no_tick"]  # a day later: the alarm, but never a heartbeat


def test_the_thread_raises_the_alarm_while_the_tick_loop_is_blocked(sink, discord, clock):
    engine = {"last_tick": None}
    blocked = threading.Event()

    def tick_loop() -> None:
        engine["last_tick"] = clock.now_ms()
        blocked.wait(10)  # stuck in a call that never returns (released at the end of the test)

    loop = threading.Thread(target=tick_loop, daemon=True)
    loop.start()
    dog = Watchdog(sink, lambda: engine["last_tick"], clock, no_tick_minutes=10, poll_s=0.01)
    dog.start()
    try:
        assert wait_for(lambda: engine["last_tick"] is not None)
        clock.advance(11 * 60)
        assert wait_for(lambda: dog.stalled)
        assert loop.is_alive()  # the loop is still stuck: the alarm did not depend on it
    finally:
        dog.stop()
        blocked.set()
    assert sink.close(timeout_s=5)
    assert discord.contents[0].startswith("perp-bot ERROR: no tick for 11 min")


def test_a_failing_status_callback_is_logged_and_the_heartbeat_still_goes_out(sink, discord, clock, caplog):
    calls = []

    def status() -> dict:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("snapshot failed")
        return {"equity": 1.5}

    dog = Watchdog(sink, lambda: clock.now_ms(), clock, no_tick_minutes=10, heartbeat_minutes=1,
                   status=status, poll_s=0.01)
    with caplog.at_level(logging.ERROR, logger="perpbot.ops.watchdog"):
        dog.start()
        try:
            clock.advance(60)
            assert wait_for(lambda: len(calls) >= 1)
            clock.advance(60)
            assert wait_for(lambda: len(calls) >= 2)
        finally:
            dog.stop()
    assert "heartbeat status failed" in caplog.text
    assert sink.close(timeout_s=5)
    assert discord.contents == [
        "perp-bot HEARTBEAT: running, up 60 s\nlast_tick: 0 s ago\nstatus: unavailable",
        "perp-bot HEARTBEAT: running, up 2 min\nlast_tick: 0 s ago\nequity: 1.5",
    ]


def test_daemon_watchdog_counts_polls_between_bar_ticks_not_only_bar_closes(sink, discord, clock):
    # A 1h bar ticks once an hour, but the loop polls (and stamps heartbeat_at) every few seconds:
    # 20 minutes after a bar close with a poll a second ago, the loop is alive and must not alarm.
    from perpbot.cli.host import last_pass_ms
    from perpbot.execution.state import EngineState

    state = EngineState()
    dog = Watchdog(sink, lambda: last_pass_ms(state), clock, no_tick_minutes=10)
    assert last_pass_ms(state) is None
    state.update(last_tick=clock.now_ms(), heartbeat_at=clock.now_ms())
    clock.advance(20 * 60)
    state.update(heartbeat_at=clock.now_ms() - 1000)
    assert dog.check() == []
    clock.advance(11 * 60)  # now the polls stopped too: a stuck loop
    assert dog.check() == ["no_tick"]
