"""The dashboard hosts Telegram control too: EngineSession starts it beside the engine and stops it with it."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from perpbot.sim.server import SimOptions, SimServer
from perpbot.cli.sessions import EngineSession

from telegram_harness import telegram_settings, wait_for


def test_the_dashboards_engine_session_obeys_telegram_and_stops_it(bot_api):
    folder = Path(tempfile.mkdtemp(prefix="pb-tg-", dir="/tmp"))  # short: the control socket lives here
    bot_api.now_s = lambda: int(time.time())  # the session's controller runs on the real wall clock
    try:
        with SimServer(SimOptions(seed=3, history_days=2, speed=60), port=0) as sim:
            settings = telegram_settings(sim.url, folder / "bot.db", bot_api)
            session = EngineSession(settings, clock=sim.clock)
            session.start(lambda error: None)
            try:
                wait_for(lambda: bot_api.method_calls("getUpdates"))
                update_id = bot_api.push_message("/pause")
                wait_for(lambda: bot_api.confirmed(update_id))
                assert session.engine.state.snapshot()["paused"] is True
                assert bot_api.shown(bot_api.chat_id)[-1].startswith("Paused")
            finally:
                session.stop()
            late = bot_api.push_message("/resume")
            polls = len(bot_api.method_calls("getUpdates"))
            wait_for(lambda: bot_api.offsets)
            assert not bot_api.confirmed(late) and len(bot_api.method_calls("getUpdates")) <= polls + 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)
