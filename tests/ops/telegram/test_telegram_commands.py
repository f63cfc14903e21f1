"""Every Telegram command against the fake Bot API and a paper engine on the simulator: the readings,
the actions through the engine's own command path, the reports, and the audit trail."""

from __future__ import annotations

import pytest

from perpbot.clock import DAY_MS
from perpbot.models import Side, Trade
from perpbot.ops.telegram.api import ALLOWED_UPDATES

from telegram_harness import OWNER, wait_for




def ask(bot_api, text: str, **kw) -> str:
    """Send a command as the owner and return the bot's reply text (all its parts, joined)."""
    before = len(bot_api.shown(OWNER))
    update_id = bot_api.push_message(text, **kw)
    wait_for(lambda: bot_api.confirmed(update_id))
    return "\n".join(bot_api.shown(OWNER)[before:])


def shown(bot_api, message_id: int) -> str:
    return bot_api.messages[(str(OWNER), message_id)]["text"]


def test_status_polls_as_telegram_asks_and_answers_in_html(start, bot_api, engine):
    control = start()
    reply = ask(bot_api, "/status")
    assert "perp-bot PAPER: running" in reply
    for line in ("paused", "regime", "equity", "today", "2 open, 0 pending", "last tick"):
        assert line in reply
    assert "BTC" in reply and "feed" in reply
    assert bot_api.allowed_updates == ALLOWED_UPDATES
    polls = bot_api.method_calls("getUpdates")
    assert all(p["allowed_updates"] == ["message", "callback_query"] and p["timeout"] == 1 for p in polls)
    sent = bot_api.sent(OWNER)[-1]
    assert sent["parse_mode"] == "HTML" and "<pre>" in sent["text"]
    assert control.username == "PerpTestBot"
    assert [c["command"] for c in bot_api.menu] == ["status", "positions", "signals", "profit", "daily", "weekly",
                                                   "pause", "resume", "close", "flatten", "help"]


def test_positions_show_entry_mark_pnl_stop_and_age(start, bot_api, engine):
    start()
    reply = ask(bot_api, "/positions")
    snap = engine.state.snapshot()
    assert reply.startswith("2 open positions")
    for p in snap["positions"]:
        assert f"{p['symbol']} {p['side']}" in reply
        assert f"{p['entry_price']:,.6g}" in reply and f"{p['stop']:,.6g}" in reply
    assert "age    10 min" in reply  # opened 600 engine-seconds before the snapshot
    assert "PnL" in reply and "unrealized total" in reply


def test_signals_show_recent_signals_and_the_decision_table_when_present(start, bot_api, engine):
    engine.state.add_signal(START := engine.clock.now_ms(), "BTC", "LONG", "z<=-2.0")
    engine.state.add_signal(START + 1, "BTC", "CLOSE", "z>=-0.5")

    def before_first_bar():  # the decision table is empty until the first bar close
        return {**engine.state.snapshot(), "signals": []}

    control = start(snapshot=before_first_bar)
    reply = ask(bot_api, "/signals")
    assert "Latest signal per symbol" in reply and "BTC    CLOSE  z>=-0.5" in reply and "LONG" not in reply
    control.stop()

    def with_table():
        snap = engine.state.snapshot()
        snap["signals"] = [{"symbol": "ETH", "bar_time": START, "close": 2301.5, "z": -0.41, "bb_lower": 2250.0,
                            "bb_upper": 2350.0, "rsi": 48.2, "adx": 21.0, "hurst": 0.44, "decision": "NONE",
                            "reason": "flat", "risk": None},
                           {"symbol": "SOL", "bar_time": START, "z": -2.3, "decision": "LONG", "reason": "z<=-2.0",
                            "risk": "cooldown"},
                           {"symbol": "BTC", "bar_time": START, "close": 68712.3, "z": -1.97, "bb_lower": 68701.9,
                            "bb_upper": 69950.0, "decision": "NONE", "reason": "blocked:bollinger", "risk": None},
                           {"symbol": "kPEPE", "bar_time": START, "close": 0.0000123456, "bb_lower": 0.0000123401,
                            "decision": "NONE", "reason": "flat", "risk": None}]
        return snap

    start(snapshot=with_table)
    reply = ask(bot_api, "/signals")
    assert "Latest decision per symbol" in reply
    assert "ETH NONE flat" in reply and "z -0.41" in reply and "hurst 0.44" in reply
    assert "SOL LONG z&lt;=-2.0" not in reply and "SOL LONG z<=-2.0 (risk: cooldown)" in reply
    # prices with enough digits to tell the close from its band, never in scientific notation
    assert "close 68,712.3  z -1.97  bb_lower 68,701.9  bb_upper 69,950.0" in reply
    assert "close 0.0000123456  bb_lower 0.0000123401" in reply and "e+" not in reply and "e-0" not in reply


def _trade(symbol: str, pnl: float, exit_ms: int) -> Trade:
    return Trade(symbol=symbol, side=Side.LONG, size=1.0, entry_time=exit_ms - 3_600_000, entry_price=100.0,
                 exit_time=exit_ms, exit_price=100.0 + pnl, pnl=pnl, exit_reason="signal", mode="paper")


def test_profit_daily_and_weekly_use_the_reviews_figures(start, bot_api, engine):
    now = engine.clock.now_ms()
    for symbol, pnl, days_ago in (("BTC", 30.0, 0.5), ("ETH", -10.0, 1.5), ("SOL", 5.0, 20)):
        engine.store.insert_trade(_trade(symbol, pnl, now - int(days_ago * DAY_MS)))
    start()
    everything = ask(bot_api, "/profit")
    assert "Profit, all time" in everything and "+25.00" in everything and "2 open, unrealized" in everything
    recent = ask(bot_api, "/profit 1")
    assert "last 1 day" in recent and "+30.00" in recent
    assert "Usage: /profit [days]" in ask(bot_api, "/profit lots")
    daily = ask(bot_api, "/daily 3")
    assert "Daily PnL, last 3 UTC days" in daily and daily.count("\n") >= 5
    assert "total" in daily and "+20.00" in daily
    weekly = ask(bot_api, "/weekly")
    assert "Weekly review" in weekly and "losing-week streak 0" in weekly and "by symbol" in weekly
    assert "+30.00" in weekly


def test_help_start_and_unknown_commands(start, bot_api):
    start()
    help_text = ask(bot_api, "/help")
    for name in ("/status", "/positions", "/signals", "/profit", "/daily", "/weekly", "/pause", "/resume", "/close",
                 "/flatten", "/help"):
        assert name in help_text
    assert ask(bot_api, "/start") == help_text
    assert "Unknown command /moon" in ask(bot_api, "/moon")


def test_pause_and_resume_go_through_the_engine(start, bot_api, engine):
    start()
    assert "Paused" in ask(bot_api, "/pause")
    assert engine.state.snapshot()["paused"] is True
    assert "paused by operator" in engine.state.snapshot()["risk_blocks"]
    assert "Resumed" in ask(bot_api, "/resume")
    assert engine.state.snapshot()["paused"] is False


def test_commands_addressed_to_this_bot_by_name_work_others_are_ignored(start, bot_api, engine):
    start()
    assert "Paused" in ask(bot_api, "/pause@PerpTestBot")
    assert ask(bot_api, "/resume@SomeOtherBot") == ""
    assert engine.state.snapshot()["paused"] is True


def test_close_asks_and_closes_only_after_the_button(start, bot_api, engine):
    start()
    question = ask(bot_api, "/close btc")
    assert question.startswith("Close BTC long 0.02 at market?") and "60 s" in question
    sent = bot_api.sent(OWNER)[-1]
    buttons = sent["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["y:n0001", "n:n0001"]
    assert {p["symbol"] for p in engine.state.snapshot()["positions"]} == {"BTC", "ETH"}  # nothing yet
    message_id = max(m for _, m in bot_api.messages)
    update_id = bot_api.press("y:n0001", message_id)
    wait_for(lambda: bot_api.confirmed(update_id))
    assert {p["symbol"] for p in engine.state.snapshot()["positions"]} == {"ETH"}
    assert "BTC long closed at" in bot_api.shown(OWNER)[-1]
    assert shown(bot_api, message_id).endswith("Confirmed by User.")
    assert list(bot_api.answers.values()) == ["Done."]
    trade = [t for t in engine.store.closed_trades(mode="paper") if t.symbol == "BTC"][0]
    assert trade.exit_reason == "manual"  # the engine's own close path


def test_close_refuses_bad_or_absent_symbols_without_asking(start, bot_api):
    start()
    assert "Usage: /close SYMBOL" in ask(bot_api, "/close")
    assert "Usage: /close SYMBOL" in ask(bot_api, "/close BTC ETH")
    assert "Usage: /close SYMBOL" in ask(bot_api, "/close <b>")
    assert "No open position on SOL" in ask(bot_api, "/close SOL")
    assert all("reply_markup" not in m for m in bot_api.sent(OWNER))


def test_flatten_asks_then_closes_everything(start, bot_api, engine):
    start()
    question = ask(bot_api, "/flatten")
    assert "Flatten: close every position at market (BTC long, ETH short)" in question
    message_id = max(m for _, m in bot_api.messages)
    update_id = bot_api.press("y:n0001", message_id)
    wait_for(lambda: bot_api.confirmed(update_id))
    assert engine.state.snapshot()["positions"] == []
    assert "Flatten done" in bot_api.shown(OWNER)[-1]
    assert "Nothing to flatten" in ask(bot_api, "/flatten")


def test_cancel_button_does_nothing_and_says_so(start, bot_api, engine):
    start()
    ask(bot_api, "/flatten")
    message_id = max(m for _, m in bot_api.messages)
    update_id = bot_api.press("n:n0001", message_id)
    wait_for(lambda: bot_api.confirmed(update_id))
    assert len(engine.state.snapshot()["positions"]) == 2
    assert shown(bot_api, message_id).endswith("Cancelled: nothing was done.")
    assert bot_api.shown(OWNER)[-1].startswith("Flatten:")  # no result message


def test_every_command_is_audited_with_who_what_when_and_result(start, bot_api, engine, wall):
    start()
    ask(bot_api, "/pause")
    ask(bot_api, "/close BTC")
    message_id = max(m for _, m in bot_api.messages)
    update_id = bot_api.press("y:n0001", message_id)
    wait_for(lambda: bot_api.confirmed(update_id))
    ask(bot_api, "/profit x")
    records = list(reversed(engine.store.remote_commands()))
    assert [(r["command"], r["result"]) for r in records] == [
        ("/pause", "ok"), ("/close BTC", "asked"), ("/close BTC (confirmed)", "ok"), ("/profit x", "refused")]
    first = records[0]
    assert first["channel"] == "telegram" and first["user_id"] == str(OWNER) and first["user_name"] == "ann"
    assert first["chat_id"] == str(OWNER) and first["at_ms"] == wall.now_ms() and first["finished_ms"] is not None
    assert '"paused": true' in first["detail"]
    assert '"symbol": "BTC"' in records[2]["detail"]


@pytest.mark.parametrize("count", [60])
def test_long_replies_are_split_below_telegrams_limit(start, bot_api, engine, count):
    def many_positions():
        snap = engine.state.snapshot()
        template = snap["positions"][0]
        snap["positions"] = [{**template, "symbol": f"C{i:03d}&<x>"} for i in range(count)]
        return snap

    start(snapshot=many_positions)
    before = len(bot_api.sent(OWNER))
    update_id = bot_api.push_message("/positions")
    wait_for(lambda: bot_api.confirmed(update_id))
    parts = bot_api.sent(OWNER)[before:]
    assert len(parts) >= 2
    shown_texts = bot_api.shown(OWNER)[before:]
    assert all(len(t) <= 4096 for t in shown_texts)
    joined = "\n".join(shown_texts)
    assert all(f"C{i:03d}&<x>" in joined for i in range(count))  # escaped on the wire, intact on the phone
    assert "reply_parameters" in parts[0] and all("reply_parameters" not in p for p in parts[1:])
