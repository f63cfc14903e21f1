"""Telegram control's safety rules: who is obeyed, what a stranger gets (nothing), confirmations that
expire or belong to someone else, stale commands, and no command run twice across a restart."""

from __future__ import annotations

import dataclasses
import logging
import threading

import pytest

from perpbot.config import Secrets
from perpbot.data.db import Store
from perpbot.errors import ConfigError, StorageError
from perpbot.ops.telegram import NoControl, telegram_control
from perpbot.ops.telegram.poller import STATE_KEY
from perpbot.ipc.commands import answer, handler

from telegram_harness import OWNER, Waits, nonces, wait_for

STRANGER = 424242424
GROUP = -1001234567890
MEMBER, OTHER_MEMBER = 5550001, 5550002


def settle(bot_api, update_id: int) -> None:
    wait_for(lambda: bot_api.confirmed(update_id))


def open_symbols(engine) -> set[str]:
    return {p["symbol"] for p in engine.state.snapshot()["positions"]}


def test_a_strangers_flatten_does_nothing_and_gets_no_answer(start, bot_api, engine, caplog):
    start()
    with caplog.at_level(logging.WARNING, logger="perpbot.ops.telegram.auth"):
        settle(bot_api, bot_api.push_message("/flatten", user_id=STRANGER, chat_id=STRANGER, username="mallory"))
        settle(bot_api, bot_api.push_message("/pause", user_id=STRANGER, chat_id=STRANGER, username="mallory"))
        # A stranger pressing a button with a guessed nonce gets nothing either.
        settle(bot_api, bot_api.press("y:n0001", 1, user_id=STRANGER, chat_id=STRANGER))
    assert open_symbols(engine) == {"BTC", "ETH"}
    assert engine.state.snapshot()["paused"] is False
    assert bot_api.sent(STRANGER) == [] and bot_api.answers == {}
    ignored = [r for r in caplog.records if r.getMessage() == "telegram_sender_ignored"]
    assert len(ignored) == 1 and ignored[0].user_id == STRANGER  # logged once per sender
    records = engine.store.remote_commands()
    assert [(r["command"], r["result"], r["user_id"]) for r in records] == [("/flatten", "unauthorized", str(STRANGER))]


def test_the_owner_in_another_chat_and_messages_on_behalf_of_a_chat_are_ignored(start, bot_api, engine):
    start()
    settle(bot_api, bot_api.push_message("/pause", chat_id=GROUP))  # the owner, but in a group
    settle(bot_api, bot_api.push_message("/pause", sender_chat=True))  # an anonymous admin / channel
    assert engine.state.snapshot()["paused"] is False
    assert bot_api.sent(GROUP) == [] and bot_api.sent(OWNER) == []


def group_settings(engine, bot_api, allowed):
    settings = engine.settings.replace(alerts=dataclasses.replace(engine.settings.alerts, telegram_allowed_users=allowed))
    settings.secrets = Secrets(telegram_bot_token=bot_api.token, telegram_chat_id=str(GROUP))
    return settings


def test_a_group_chat_needs_allowed_users(engine, bot_api):
    with pytest.raises(ConfigError, match="telegram_allowed_users"):
        telegram_control(group_settings(engine, bot_api, []), handler(engine), engine.state.snapshot,
                         engine.clock.now_ms, engine.store)


def test_in_a_group_only_allowed_users_are_obeyed(start, bot_api, engine):
    start(settings=group_settings(engine, bot_api, [MEMBER, OTHER_MEMBER]))
    settle(bot_api, bot_api.push_message("/pause", user_id=STRANGER, chat_id=GROUP))
    assert engine.state.snapshot()["paused"] is False and bot_api.sent(GROUP) == []
    settle(bot_api, bot_api.push_message("/pause@PerpTestBot", user_id=MEMBER, chat_id=GROUP))
    assert engine.state.snapshot()["paused"] is True


def test_a_confirmation_by_another_allowed_user_does_nothing(start, bot_api, engine):
    start(settings=group_settings(engine, bot_api, [MEMBER, OTHER_MEMBER]))
    settle(bot_api, bot_api.push_message("/close BTC", user_id=MEMBER, chat_id=GROUP))
    question = max(m for _, m in bot_api.messages)
    settle(bot_api, bot_api.press("y:n0001", question, user_id=OTHER_MEMBER, chat_id=GROUP))
    assert open_symbols(engine) == {"BTC", "ETH"}
    assert list(bot_api.answers.values()) == ["Only the user who asked can answer this."]
    settle(bot_api, bot_api.press("y:n0001", question, user_id=MEMBER, chat_id=GROUP))  # still open for the asker
    assert open_symbols(engine) == {"ETH"}


def test_a_confirmation_after_60_seconds_does_nothing(start, bot_api, engine, wall):
    start()
    settle(bot_api, bot_api.push_message("/flatten"))
    question = max(m for _, m in bot_api.messages)
    wall.advance(61)
    settle(bot_api, bot_api.press("y:n0001", question))
    assert open_symbols(engine) == {"BTC", "ETH"}
    assert list(bot_api.answers.values()) == ["Expired: nothing was done."]
    assert bot_api.messages[(str(OWNER), question)]["text"].endswith("Expired: nothing was done.")
    assert bot_api.messages[(str(OWNER), question)]["reply_markup"] == {"inline_keyboard": []}
    settle(bot_api, bot_api.press("y:n0001", question))  # pressed again: the nonce is spent
    assert open_symbols(engine) == {"BTC", "ETH"}
    assert list(bot_api.answers.values())[-1] == "This button is no longer valid: nothing was done."


def test_unanswered_questions_lose_their_buttons_after_60_seconds(start, bot_api, engine, wall):
    control = start()
    settle(bot_api, bot_api.push_message("/close ETH"))
    question = max(m for _, m in bot_api.messages)
    wall.advance(59)
    settle(bot_api, bot_api.push_message("/help"))
    assert len(control.confirmations) == 1
    wall.advance(2)
    settle(bot_api, bot_api.push_message("/help"))
    wait_for(lambda: bot_api.messages[(str(OWNER), question)]["text"].endswith("Expired after 60 s: nothing was done."))
    assert len(control.confirmations) == 0
    assert ("/close ETH (expired)", "expired") in [(r["command"], r["result"]) for r in engine.store.remote_commands()]


def test_commands_older_than_two_minutes_are_refused_with_a_message(start, bot_api, engine, wall):
    start()
    sent_at = wall.now_ms() // 1000 - 121
    settle(bot_api, bot_api.push_message("/pause", date=sent_at))
    assert engine.state.snapshot()["paused"] is False
    reply = bot_api.shown(OWNER)[-1]
    assert reply.startswith("Not done: /pause was sent at 2025-12-31 23:57 UTC, 2 min ago")
    assert "older than 2 minutes" in reply
    settle(bot_api, bot_api.push_message("/pause", date=wall.now_ms() // 1000 - 119))
    assert engine.state.snapshot()["paused"] is True


def test_a_restart_never_runs_a_command_twice(start, bot_api, engine, wall):
    """The first controller dies inside /pause, before its next getUpdates confirms the update:
    Telegram delivers it again to the next one, which skips it."""
    entered, release = threading.Event(), threading.Event()
    calls = []

    def stuck_handler(cmd, args):
        calls.append(cmd)
        entered.set()
        release.wait(10)
        return answer(engine, cmd, args)

    settings = engine.settings
    first = telegram_control(settings, stuck_handler, engine.state.snapshot, engine.clock.now_ms,
                             Store(settings.db_path), wall=wall, poll_s=1, sleep=Waits(wall), nonce=nonces())
    first.start()
    update_id = bot_api.push_message("/pause")
    assert entered.wait(10)
    reader = Store(settings.db_path)
    assert reader.get_state(STATE_KEY)["update_id"] == update_id  # saved before it ran
    reader.close()
    # The first process "dies" here, stuck inside the command: nothing after it reaches Telegram.
    assert not bot_api.confirmed(update_id)

    second = telegram_control(settings, stuck_handler, engine.state.snapshot, engine.clock.now_ms,
                              Store(settings.db_path), wall=wall, poll_s=1, sleep=Waits(wall), nonce=nonces())
    second.start()
    try:
        settle(bot_api, update_id)  # delivered again, skipped, confirmed
        assert calls == ["pause"]
        later = bot_api.push_message("/status")
        settle(bot_api, later)
        assert calls == ["pause"] and "perp-bot PAPER" in bot_api.shown(OWNER)[-1]
    finally:
        release.set()
        second.stop()
        first.stop()


def test_commands_are_off_unless_configured(engine, bot_api, caplog):
    off = engine.settings.replace(alerts=dataclasses.replace(engine.settings.alerts, telegram_commands=False))
    assert isinstance(telegram_control(off, handler(engine), engine.state.snapshot, engine.clock.now_ms,
                                       engine.store), NoControl)
    no_chat = engine.settings.replace()
    no_chat.secrets = Secrets(telegram_bot_token=bot_api.token)
    with caplog.at_level(logging.WARNING):
        control = telegram_control(no_chat, handler(engine), engine.state.snapshot, engine.clock.now_ms, engine.store)
    assert isinstance(control, NoControl) and "TELEGRAM_CHAT_ID" in caplog.text
    named = engine.settings.replace()
    named.secrets = Secrets(telegram_bot_token=bot_api.token, telegram_chat_id="@perp_alerts")
    with pytest.raises(ConfigError, match="not a numeric chat id"):
        telegram_control(named, handler(engine), engine.state.snapshot, engine.clock.now_ms, engine.store)


@pytest.mark.parametrize("age_days, first_offset", [(1, 815_000_000), (8, None)])
def test_the_stored_offset_is_used_unless_a_week_old(start, bot_api, engine, wall, age_days, first_offset):
    at_ms = wall.now_ms() - age_days * 86_400_000
    engine.store.set_state(STATE_KEY, {"update_id": 814_999_999, "at_ms": at_ms}, at_ms)
    start()
    wait_for(lambda: bot_api.offsets)
    assert bot_api.offsets[0] == first_offset  # after a quiet week Telegram may restart its ids lower
    settle(bot_api, bot_api.push_message("/pause"))
    assert engine.state.snapshot()["paused"] is True


class FullDisk(Store):
    """A store whose first writes of the update_id fail, as on a full disk."""

    failures = 2

    def set_state(self, key, value, now_ms=0):
        if key == STATE_KEY and self.failures > 0:
            self.failures -= 1
            raise StorageError("database or disk is full", "free some space")
        super().set_state(key, value, now_ms)


def test_a_command_whose_update_id_cannot_be_stored_waits_until_it_can(start, bot_api, engine, wall):
    calls = []

    def counting(cmd, args):
        calls.append(cmd)
        return answer(engine, cmd, args)

    waits = Waits(wall)
    control = telegram_control(engine.settings, counting, engine.state.snapshot, engine.clock.now_ms,
                               FullDisk(engine.settings.db_path), wall=wall, poll_s=1, sleep=waits, nonce=nonces())
    control.start()
    try:
        settle(bot_api, bot_api.push_message("/pause"))
        assert calls == ["pause"] and engine.state.snapshot()["paused"] is True
        assert waits.seconds == [1, 2]  # not run while its id could not be stored; backed off meanwhile
    finally:
        control.stop()


@pytest.mark.parametrize("stored_bot, first_offset", [(6_999_999_999, None), (7_012_345_678, 900_000_001),
                                                       (None, 900_000_001)], ids=["another", "same", "unknown"])
def test_the_stored_offset_belongs_to_the_bot_that_handled_it(start, bot_api, engine, wall, stored_bot, first_offset):
    """A new token (another bot) starts fresh: its ids are lower than the old bot's and would be skipped."""
    at_ms = wall.now_ms() - 60_000
    engine.store.set_state(STATE_KEY, {"update_id": 900_000_000, "at_ms": at_ms, "bot_id": stored_bot}, at_ms)
    start()
    wait_for(lambda: bot_api.offsets)
    assert bot_api.offsets[0] == first_offset
    if stored_bot == 6_999_999_999:
        update_id = bot_api.push_message("/pause")
        settle(bot_api, update_id)
        assert engine.state.snapshot()["paused"] is True
        saved = engine.store.get_state(STATE_KEY)
        assert saved["update_id"] == update_id and saved["bot_id"] == bot_api.bot_id
