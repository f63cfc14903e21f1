"""End to end (issue 21): `perpbot sim` and `perpbot --headless trade` as subprocesses, Telegram commands on,
the bot token and chat in .env, the Bot API a loopback fake. /pause from the allowed chat pauses the
daemon (`perpbot status` shows it); a stranger's /resume changes nothing and gets no answer."""

from __future__ import annotations

import signal

import pytest
from fakes.telegram_bot_api import OWNER_ID, FakeBotApi

from perpbot.data.db import Store

from daemon_procs import start_daemon, start_sim, status, stop, wait_for, write_config

pytestmark = pytest.mark.e2e
STRANGER = 424242424


@pytest.fixture
def sim():
    proc, url = start_sim(seed=5, speed=600)
    yield url
    stop(proc, signal.SIGINT)


def test_pause_from_the_allowed_chat_and_a_strangers_resume(sim, tmp_path):
    with FakeBotApi() as bot_api:
        config = write_config(tmp_path, sim, alerts={"heartbeat_minutes": 0, "telegram_commands": True,
                                                    "telegram_api_url": bot_api.url, "min_interval_s": 0})
        (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={bot_api.token}\nTELEGRAM_CHAT_ID={bot_api.chat_id}\n")
        daemon = start_daemon(config)
        try:
            wait_for(lambda: status(config), 30, "the socket", daemon)
            wait_for(lambda: bot_api.method_calls("getUpdates"), 30, "the first getUpdates", daemon)
            pause = bot_api.push_message("/pause")
            wait_for(lambda: bot_api.confirmed(pause), 30, "/pause handled", daemon)
            assert status(config)["paused"] is True
            assert any(text.startswith("Paused") for text in bot_api.shown(OWNER_ID))

            resume = bot_api.push_message("/resume", user_id=STRANGER, chat_id=STRANGER, username="mallory")
            wait_for(lambda: bot_api.confirmed(resume), 30, "the stranger's /resume read", daemon)
            assert status(config)["paused"] is True
            assert bot_api.sent(STRANGER) == []
            assert stop(daemon) == 0
            out, err = daemon.communicate(timeout=10)
        finally:
            stop(daemon, signal.SIGKILL)
    assert "perpbot: stopped" in out
    store = Store(tmp_path / "bot.db")
    try:
        audit = [(r["command"], r["result"], r["user_id"]) for r in reversed(store.remote_commands())]
    finally:
        store.close()
    assert audit == [("/pause", "ok", str(OWNER_ID)), ("/resume", "unauthorized", str(STRANGER))]
    secret = bot_api.token.split(":")[1]
    log_text = (tmp_path / "perp-bot.log").read_text()
    assert "telegram_commands_ready" in log_text and "telegram_sender_ignored" in log_text
    assert secret not in log_text + out + err
