"""The poller and the replies against a misbehaving Bot API: 409 (another poller, a webhook), 429 with
retry_after, 5xx, timeouts, a server that goes away and comes back; secrets stay out of logs;
and the engine's ticks keep their latency while Telegram hangs."""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time

from perpbot.ops.telegram.api import BotApi, BotApiError

from telegram_harness import OWNER, Waits, wait_for

CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


def status_answered(bot_api) -> bool:
    before = len(bot_api.shown(OWNER))
    update_id = bot_api.push_message("/status")
    wait_for(lambda: bot_api.confirmed(update_id))
    return len(bot_api.shown(OWNER)) > before and "perp-bot PAPER" in bot_api.shown(OWNER)[-1]


def test_a_lasting_409_conflict_backs_off_and_alerts_once_then_announces_the_end(start, bot_api, wall, alerts):
    waits = Waits(wall)
    bot_api.fail_method("getUpdates", 409, CONFLICT, count=8)
    start(waits=waits)
    wait_for(lambda: len(waits.seconds) == 8)
    assert status_answered(bot_api)
    assert waits.seconds == [1, 2, 4, 8, 16, 32, 60, 60]
    texts = [f["text"] for e, f in alerts if e == "error"]
    assert len(texts) == 1 and "409 Conflict for 63 s" in texts[0] and "one bot per token" in texts[0]
    wall.advance(121)  # two minutes without a conflict
    assert status_answered(bot_api)
    assert len(alerts) == 2 and "polling works again" in alerts[-1][1]["text"]


def test_a_short_conflict_raises_no_alert(start, bot_api, wall, alerts):
    bot_api.fail_method("getUpdates", 409, CONFLICT, count=3)
    start(waits=Waits(wall))
    assert status_answered(bot_api)
    assert alerts == []


def test_a_webhook_on_the_token_is_deleted_so_polling_works(start, bot_api):
    bot_api.webhook_url = "https://example.invalid/hook"
    start()
    assert status_answered(bot_api)
    assert bot_api.method_calls("deleteWebhook") == [{"drop_pending_updates": False}]
    assert bot_api.webhook_url == ""


def test_429_waits_retry_after_and_5xx_backs_off_then_recovers(start, bot_api, wall):
    waits = Waits(wall)
    bot_api.fail_method("getUpdates", 429, "Too Many Requests: retry after 7", retry_after=7)
    bot_api.fail_method("getUpdates", 502, "Bad Gateway", count=3)
    bot_api.fail_method("sendMessage", 500, "Internal Server Error")
    bot_api.fail_method("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    start(waits=waits)
    assert status_answered(bot_api)
    assert waits.seconds == [7, 2, 4, 8, 1, 3]  # getUpdates: 429, then 5xx x3 (the backoff counts on); the reply: 500, 429


def test_markup_telegram_refuses_is_sent_again_as_plain_text(start, bot_api):
    bot_api.fail_method("sendMessage", 400, "Bad Request: can't parse entities: Unsupported start tag \"x\"")
    start()
    assert status_answered(bot_api)
    refused, plain = bot_api.method_calls("sendMessage")[-2:]
    assert refused["parse_mode"] == "HTML" and "<pre>" in refused["text"]
    assert "parse_mode" not in plain and "<" not in plain["text"] and "paused" in plain["text"]


def test_a_proxy_error_page_and_a_rejected_token_are_survived(start, bot_api, wall, alerts):
    waits = Waits(wall)
    bot_api.fail_next(502, "<html><body>502 Bad Gateway</body></html>")  # getMe, as a proxy answers
    bot_api.fail_method("getMe", 401, "Unauthorized")
    start(waits=waits)
    wait_for(lambda: len(waits.seconds) == 2)
    assert status_answered(bot_api)
    assert waits.seconds == [1, 300]
    assert len(alerts) == 1 and "rejects TELEGRAM_BOT_TOKEN" in alerts[0][1]["text"]
    assert bot_api.token not in alerts[0][1]["text"]


def test_timeouts_back_off_and_recover_when_the_server_answers_again(start, bot_api, engine, wall):
    waits = Waits(wall, advance=False)  # a loaded machine may time out more often: keep the message fresh
    settings = engine.settings.replace(alerts=dataclasses.replace(engine.settings.alerts, timeout_s=0.5))
    start(settings=settings, waits=waits)
    bot_api.hang("getUpdates")
    wait_for(lambda: len(waits.seconds) >= 2)  # two getUpdates timed out (1.5 s each)
    bot_api.release()
    assert status_answered(bot_api)
    assert waits.seconds[:2] == [1, 2]


def test_a_reply_that_times_out_is_given_up_and_polling_goes_on(start, bot_api, engine, wall):
    settings = engine.settings.replace(alerts=dataclasses.replace(engine.settings.alerts, timeout_s=1.0))
    start(settings=settings, waits=Waits(wall, advance=False))
    bot_api.hang("sendMessage")
    update_id = bot_api.push_message("/pause")
    # A loaded machine can time out a getUpdates or two as well (each with its back-off): allow it.
    wait_for(lambda: bot_api.confirmed(update_id), timeout_s=45)
    assert engine.state.snapshot()["paused"] is True  # the command ran; only its reply was lost
    bot_api.release()
    assert status_answered(bot_api)


def test_the_network_going_away_and_coming_back(start, bot_api, wall):
    waits = Waits(wall, advance=False, real_s=0.02)
    start(waits=waits)
    bot_api.down.set()  # every request now ends in a dropped connection
    wait_for(lambda: len(waits.seconds) >= 3)
    assert waits.seconds[:3] == [1, 2, 4]
    bot_api.down.clear()
    assert status_answered(bot_api)


def test_the_token_never_reaches_a_log_line_an_error_or_a_reply(start, bot_api, wall, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # as if a user turned everything on
    try:
        bot_api.fail_method("getUpdates", 500, f"echoing the path /bot{bot_api.token}/getUpdates")
        control = start(waits=Waits(wall))
        assert status_answered(bot_api)
    finally:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    assert bot_api.token not in caplog.text
    secret = bot_api.token.split(":")[1]
    everything = caplog.text + repr(control.__dict__) + "".join(bot_api.shown(OWNER))
    assert secret not in everything
    api = BotApi("http://127.0.0.1:9", bot_api.token, timeout_s=0.5)
    try:
        api.get_me()
    except BotApiError as exc:
        assert secret not in str(exc) and exc.kind == "network"
    finally:
        api.close()
    assert repr(api) == "BotApi()"


def test_ticks_keep_their_latency_while_the_bot_api_hangs(start, bot_api, engine):
    def tick_times(n: int) -> list[float]:
        out = []
        for _ in range(n):
            engine.clock.advance(300)
            began = time.perf_counter()
            engine.tick(engine.clock.now_ms())
            out.append(time.perf_counter() - began)
        return out

    baseline = tick_times(12)
    settings = engine.settings.replace(alerts=dataclasses.replace(engine.settings.alerts, timeout_s=5.0))
    start(settings=settings)
    bot_api.hang("sendMessage", "editMessageText", "answerCallbackQuery")
    update_id = bot_api.push_message("/pause")
    wait_for(lambda: engine.state.snapshot()["paused"])
    bot_api.hang("getUpdates")
    wait_for(lambda: len(bot_api.method_calls("sendMessage")) >= 1)
    hung = tick_times(12)  # the poller is inside a hanging sendMessage, after the engine command
    assert not bot_api.confirmed(update_id)
    bot_api.release()
    assert max(hung) < 2.0  # far below the 5 s each hanging request takes
    assert statistics.median(hung) <= 3 * statistics.median(baseline) + 0.1  # noise on a shared machine, not seconds
