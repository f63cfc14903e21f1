"""Tests for the alert sink against loopback fake Discord and Telegram servers.

Retry waits and rate-limit spacing run on a FakeClock (sleeping advances it), so a 3 s
retry_after costs no wall time; only the timeout cases wait for real (a fraction of a second).
"""

from __future__ import annotations

import dataclasses
import logging
import time

import pytest
from fakes.chat_servers import FakeDiscord, FakeTelegram

from perpbot.config import AlertsConfig, load_settings
from perpbot.ops.alert_channels import DiscordChannel, TelegramChannel
from perpbot.ops.alerts import AlertSink, format_alert

T0 = 1_704_067_200_000


@pytest.fixture
def discord():
    with FakeDiscord() as server:
        yield server


@pytest.fixture
def telegram():
    with FakeTelegram() as server:
        yield server


def config(**changes) -> AlertsConfig:
    base = AlertsConfig(min_interval_s=0.0, dedupe_window_s=300.0, timeout_s=2.0, max_retries=3)
    return dataclasses.replace(base, **changes)


def discord_sink(server: FakeDiscord, clock, **changes) -> AlertSink:
    return AlertSink([DiscordChannel(server.url)], config(**changes), clock)


def telegram_sink(server: FakeTelegram, clock, **changes) -> AlertSink:
    return AlertSink([TelegramChannel(server.url, server.token, server.chat_id)], config(**changes), clock)


# --- delivery and formats ----------------------------------------------------------------------


def test_both_channels_receive_the_alert_in_their_wire_format(discord, telegram, clock):
    channels = [DiscordChannel(discord.url), TelegramChannel(telegram.url, telegram.token, telegram.chat_id)]
    sink = AlertSink(channels, config(), clock)
    assert sink.send("trade_open", "BTC long 0.01 @ 42000", symbol="BTC", price=42000.5, size=0.01)
    assert sink.close(timeout_s=5)
    text = "perp-bot TRADE OPEN: BTC long 0.01 @ 42000\nsymbol: BTC\nprice: 42000.5\nsize: 0.01"
    assert discord.received == [{"content": text, "allowed_mentions": {"parse": []}}]
    assert telegram.received == [{"chat_id": telegram.chat_id, "text": text}]
    assert sink.stats() == {
        "discord": {"queued": 1, "sent": 1, "failed": 0, "dropped": 0, "retries": 0},
        "telegram": {"queued": 1, "sent": 1, "failed": 0, "dropped": 0, "retries": 0},
    }


def test_format_alert_rounds_floats_and_keeps_field_order():
    assert format_alert("stop_loss", "ETH stopped", {"pnl": -12.345678, "reason": "stop_loss"}) == (
        "perp-bot STOP LOSS: ETH stopped\npnl: -12.3457\nreason: stop_loss"
    )


def test_long_messages_are_cut_to_each_services_limit(discord, telegram, clock):
    channels = [DiscordChannel(discord.url), TelegramChannel(telegram.url, telegram.token, telegram.chat_id)]
    sink = AlertSink(channels, config(), clock)
    sink.send("error", "x" * 5000)
    assert sink.close(timeout_s=5)
    assert len(discord.contents[0]) == 2000 and discord.contents[0].endswith("…")
    assert len(telegram.texts[0]) == 4096


def test_from_settings_builds_channels_from_the_environment(tmp_path, discord, telegram, caplog):
    env = {"DISCORD_WEBHOOK_URL": discord.url, "TELEGRAM_BOT_TOKEN": telegram.token,
           "TELEGRAM_CHAT_ID": telegram.chat_id}
    settings = load_settings(env=env, cwd=tmp_path, overrides=[f"alerts.telegram_api_url={telegram.url}"])
    sink = AlertSink.from_settings(settings)
    assert sink.channels == ["discord", "telegram"]
    assert sink.send("halt", "3 losing weeks")
    assert sink.close(timeout_s=5)
    assert len(discord.received) == len(telegram.received) == 1

    only_token = load_settings(env={"TELEGRAM_BOT_TOKEN": telegram.token}, cwd=tmp_path)
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.alerts"):
        sink = AlertSink.from_settings(only_token)
    assert sink.channels == []
    assert "TELEGRAM_CHAT_ID" in caplog.text
    assert not sink.send("halt", "nobody hears this")

    disabled = load_settings(env=env, cwd=tmp_path, overrides=["alerts.enabled=false"])
    sink = AlertSink.from_settings(disabled)
    assert sink.channels == [] and not sink.send("halt", "off")


def test_switched_off_and_unknown_events_are_not_sent(discord, clock, caplog):
    sink = discord_sink(discord, clock, events=["trade_close"])
    assert not sink.send("trade_open", "BTC long")
    with caplog.at_level(logging.ERROR, logger="perpbot.ops.alerts"):
        assert not sink.send("trade_opened", "typo")
    assert "unknown alert event" in caplog.text
    assert sink.send("trade_close", "BTC closed")
    assert sink.close(timeout_s=5)
    assert discord.contents == ["perp-bot TRADE CLOSE: BTC closed"]


def test_every_alert_is_a_log_line_even_with_no_channel_or_switched_off(clock, caplog):
    """QA finding 3: with no channel configured (the default) an error alert still reaches the log."""
    sink = AlertSink([], config(events=["trade_close"]), clock)
    with caplog.at_level(logging.INFO, logger="perpbot.ops.alerts"):
        assert not sink.send("error", "ETH exit not done (halted)", cloid="0xab", name="clash")
        assert not sink.send("trade_open", "BTC long")
    [error, opened] = [r for r in caplog.records if r.msg == "alert"]
    assert error.levelno == logging.WARNING and error.alert_event == "error" and error.text.startswith("ETH exit")
    assert error.cloid == "0xab" and error.alert_name == "clash"  # a field named like a LogRecord attribute
    assert opened.levelno == logging.INFO and opened.text == "BTC long"


# --- dedupe and rate limit ---------------------------------------------------------------------


def test_identical_alerts_within_the_window_are_dropped(discord, clock):
    sink = discord_sink(discord, clock, dedupe_window_s=300)
    assert sink.send("stale_feed", "BTC feed stale", age_s=65)
    assert not sink.send("stale_feed", "BTC feed stale", age_s=65)
    assert sink.send("stale_feed", "BTC feed stale", age_s=70)  # different fields: a new alert
    clock.advance(301)
    assert sink.send("stale_feed", "BTC feed stale", age_s=65)  # the window has passed
    assert sink.close(timeout_s=5)
    assert len(discord.received) == 3


def test_messages_on_one_channel_are_spaced_by_min_interval(discord, clock):
    sink = discord_sink(discord, clock, min_interval_s=2.0)
    for i in range(4):
        sink.send("trade_close", f"trade {i}")
    assert sink.close(timeout_s=5)
    sent = sink.sent_at_ms("discord")
    assert len(sent) == 4 and sent[0] == T0
    assert [b - a for a, b in zip(sent, sent[1:])] == [2000, 2000, 2000]
    assert discord.contents == [f"perp-bot TRADE CLOSE: trade {i}" for i in range(4)]


# --- failures ----------------------------------------------------------------------------------


def test_discord_429_waits_the_bodys_retry_after_then_delivers(discord, clock):
    discord.rate_limit_next(1.5)
    sink = discord_sink(discord, clock)
    sink.send("regime_change", "NORMAL -> ELEVATED")
    assert sink.close(timeout_s=5)
    assert len(discord.requests) == 2 and len(discord.received) == 1
    assert sink.sent_at_ms("discord") == [T0 + 1500]  # the body's 1.5 s, not the header's rounded 2 s
    assert sink.stats()["discord"]["retries"] == 1


def test_discord_429_without_a_json_body_falls_back_to_the_retry_after_header(discord, clock):
    discord.fail_next(429, "<html>rate limited</html>", headers={"Retry-After": "3"})
    sink = discord_sink(discord, clock)
    sink.send("regime_change", "ELEVATED -> CRISIS")
    assert sink.close(timeout_s=5)
    assert sink.sent_at_ms("discord") == [T0 + 3000]


def test_telegram_429_waits_parameters_retry_after(telegram, clock):
    telegram.rate_limit_next(4)
    sink = telegram_sink(telegram, clock)
    sink.send("daily_loss_cap", "daily loss cap hit")
    assert sink.close(timeout_s=5)
    assert len(telegram.requests) == 2
    assert sink.sent_at_ms("telegram") == [T0 + 4000]


def test_a_retry_after_beyond_the_cap_gives_the_alert_up(telegram, clock, caplog):
    telegram.rate_limit_next(600)
    sink = telegram_sink(telegram, clock)
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.alerts"):
        sink.send("error", "boom")
        assert sink.close(timeout_s=5)
    assert len(telegram.requests) == 1 and telegram.received == []
    assert sink.stats()["telegram"]["failed"] == 1
    assert "Too Many Requests: retry after 600" in caplog.records[-1].detail


def test_500_is_retried_with_doubling_backoff(discord, clock):
    discord.fail_next(500, {"message": "500: Internal Server Error", "code": 0}, count=2)
    sink = discord_sink(discord, clock)
    sink.send("reconciliation", "position mismatch BTC")
    assert sink.close(timeout_s=5)
    assert len(discord.requests) == 3 and len(discord.received) == 1
    assert sink.sent_at_ms("discord") == [T0 + 1000 + 2000]
    assert sink.stats()["discord"]["retries"] == 2


def test_a_channel_failing_every_time_is_logged_after_bounded_retries(telegram, clock, caplog):
    telegram.fail_next(502, "<html>Bad Gateway</html>", count=10)
    sink = telegram_sink(telegram, clock, max_retries=2)
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.alerts"):
        assert sink.send("error", "engine error")
        assert sink.close(timeout_s=5)
    assert len(telegram.requests) == 3
    assert sink.stats()["telegram"] == {"queued": 1, "sent": 0, "failed": 1, "dropped": 0, "retries": 2}
    assert caplog.records[-1].reason == "retries exhausted" and caplog.records[-1].status == 502


def test_client_errors_are_not_retried(discord, telegram, clock, caplog):
    wrong_hook = f"{discord.origin}/api/webhooks/{discord.webhook_id}/wrong-token"
    channels = [DiscordChannel(wrong_hook), TelegramChannel(telegram.url, telegram.token, "-42")]
    sink = AlertSink(channels, config(), clock)
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.alerts"):
        sink.send("halt", "halted")
        assert sink.close(timeout_s=5)
    assert len(discord.requests) == len(telegram.requests) == 1
    details = sorted(r.detail for r in caplog.records if r.msg == "alert not delivered")
    assert details == ["Bad Request: chat not found", "Unknown Webhook (code 10015)"]


def test_a_slow_answer_times_out_and_the_retry_delivers(discord, clock):
    discord.delay_next(1.0)
    sink = discord_sink(discord, clock, timeout_s=0.2)
    sink.send("trade_open", "SOL short")
    assert sink.close(timeout_s=5)
    # The timed-out request reached the server too: like the real service, a timeout can
    # mean a duplicate message, which beats a lost stop-loss alert.
    assert len(discord.requests) == 2
    assert sink.stats()["discord"] == {"queued": 1, "sent": 1, "failed": 0, "dropped": 0, "retries": 1}


def test_an_unreachable_server_is_logged_not_raised(clock, caplog):
    with FakeDiscord() as server:
        url = server.url  # the port is closed once the server is gone
    sink = AlertSink([DiscordChannel(url)], config(max_retries=1), clock)
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.alerts"):
        assert sink.send("error", "nobody listens")
        assert sink.close(timeout_s=5)
    assert sink.stats()["discord"]["failed"] == 1
    assert "ConnectError" in caplog.records[-1].getMessage() + str(caplog.records[-1].__dict__)


# --- never blocking, never leaking --------------------------------------------------------------


def test_send_returns_at_once_while_a_channel_hangs_and_close_gives_up_in_time(discord, clock):
    discord.delay_next(3.0, count=50)
    sink = AlertSink([DiscordChannel(discord.url)], config(timeout_s=2.0), clock, queue_size=5)
    started = time.perf_counter()
    results = [sink.send("trade_close", f"trade {i}") for i in range(40)]
    assert time.perf_counter() - started < 2.0  # far below one 3 s hang: send never waits on the channel
    assert results[:5] == [True] * 5 and not all(results)  # the queue is bounded
    assert sink.stats()["discord"]["dropped"] >= 30
    started = time.perf_counter()
    assert sink.close(timeout_s=0.3) is False
    assert time.perf_counter() - started < 2.5  # gave up before the 3 s hang ended (slack for loaded CI)
    assert not sink.send("trade_close", "after close")


def test_secrets_never_reach_logs_or_reprs(telegram, clock, caplog):
    with FakeDiscord() as discord:
        discord.fail_next(500, {"message": "500: Internal Server Error", "code": 0})
        discord.fail_next(404, {"message": "Unknown Webhook", "code": 10015})
        telegram.fail_next(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        channels = [DiscordChannel(discord.url), TelegramChannel(telegram.url, telegram.token, telegram.chat_id)]
        sink = AlertSink(channels, config(max_retries=1), clock)
        # httpx's own level too: a command run earlier in this worker (setup_logging) quiets it to WARNING.
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="httpx"):
            sink.send("error", "first")
            assert sink.close(timeout_s=5)
        secrets = [discord.url, discord.token, telegram.token]
    dumped = caplog.text + "".join(str(r.__dict__) for r in caplog.records) + repr(channels) + repr(sink)
    assert not [s for s in secrets if s in dumped]
    assert any("HTTP Request" in r.getMessage() and "[REDACTED]" in r.getMessage() for r in caplog.records)
    assert {r.status for r in caplog.records if hasattr(r, "status")} >= {500, 404, 401}
