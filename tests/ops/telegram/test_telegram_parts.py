"""The pure parts of Telegram control: HTML escaping and splitting, update parsing, confirmations on a
fake clock, the authorizer's rules."""

from __future__ import annotations

import pytest
from fakes.telegram_bot_api import parse_html

from perpbot.clock import FakeClock
from perpbot.errors import ConfigError
from perpbot.ops.telegram.auth import Authorizer, check_command_chat
from perpbot.ops.telegram.confirm import CANCELLED, EXPIRED, NOT_YOURS, OK, UNKNOWN, Confirmations
from perpbot.ops.telegram.text import BOLD, MAX_CHARS, PRE, Block, chunks, escape, utf16_len
from perpbot.ops.telegram.updates import Command, Ignored, Press, Sender, parse_update

ANN = Sender(chat_id=111, chat_type="private", user_id=111, name="ann")


# --- text ----------------------------------------------------------------------------------------


def test_escape_covers_what_html_parse_mode_needs():
    assert escape("a<b & c>d \"q\"") == "a&lt;b &amp; c&gt;d \"q\""
    assert parse_html(chunks([Block("z<=-2.0 & <b>", BOLD), Block("x < y", PRE)])[0].html) == "z<=-2.0 & <b>\nx < y"


def test_short_replies_are_one_message():
    parts = chunks([Block("title", BOLD), Block("line 1\nline 2", PRE), Block("end")])
    assert [p.html for p in parts] == ["<b>title</b>\n<pre>line 1\nline 2</pre>\nend"]
    assert parts[0].plain == "title\nline 1\nline 2\nend"


@pytest.mark.parametrize("style", ["", PRE])
@pytest.mark.parametrize("line", ["price 42,000.5 & <ok>", "€ 😀 mixed width", "x" * 9000])
def test_long_replies_split_into_messages_telegram_accepts(style, line):
    blocks = [Block("head", BOLD)] + [Block("\n".join(f"{i} {line}" for i in range(300)), style)] + [Block("tail")]
    parts = chunks(blocks)
    assert len(parts) > 1
    for part in parts:
        assert utf16_len(part.html) <= MAX_CHARS
        shown = parse_html(part.html)
        assert shown is not None and len(shown) <= MAX_CHARS and shown == part.plain
    rejoined = "".join(p.plain.replace("\n", "") for p in parts)
    assert rejoined == "".join(b.text.replace("\n", "") for b in blocks)  # nothing lost or doubled


# --- updates -------------------------------------------------------------------------------------


def message(text: str, entities=None, **extra):
    msg = {"message_id": 7, "date": 1_767_225_600, "text": text,
           "from": {"id": 111, "is_bot": False, "first_name": "Ann", "username": "ann"},
           "chat": {"id": 111, "type": "private"}, **extra}
    if entities is not None:
        msg["entities"] = entities
    return {"update_id": 5, "message": msg}


def test_commands_parse_with_bot_name_and_arguments():
    cmd = parse_update(message("/Close@PerpBot btc  now", [{"type": "bot_command", "offset": 0, "length": 14}]))
    assert isinstance(cmd, Command)
    assert (cmd.name, cmd.args, cmd.bot, cmd.text, cmd.date_s) == ("close", ("btc", "now"), "PerpBot", "/close btc now",
                                                                  1_767_225_600)
    assert cmd.sender == Sender(111, "private", 111, "ann")
    assert parse_update(message("/status")).name == "status"  # no entities: the first word


def test_entity_offsets_are_utf16_units():
    # An emoji is two UTF-16 units: the entity must be cut by units, not by characters.
    cmd = parse_update(message("/pause😀 later", [{"type": "bot_command", "offset": 0, "length": 6}]))
    assert isinstance(cmd, Command) and cmd.name == "pause"


@pytest.mark.parametrize("update, why", [
    (message("hello"), "not a command"),
    (message("/" + "x" * 40), "not a command"),
    (message("see /status", [{"type": "bot_command", "offset": 4, "length": 7}]), "not a command"),
    ({"update_id": 5, "edited_message": {"text": "/flatten"}}, "not a message or a button"),
    ({"update_id": 5, "message": {"text": "/flatten", "date": 1}}, "not a text message"),
    ({"update_id": 5, "callback_query": {"id": "q", "data": "y:n"}}, "a button without its chat or data"),
])
def test_anything_else_is_ignored_with_a_reason(update, why):
    assert parse_update(update) == Ignored(5, why)


def test_a_press_carries_the_chat_of_its_message_and_the_presser():
    press = parse_update({"update_id": 9, "callback_query": {
        "id": "4382", "data": "y:n0001", "from": {"id": 222, "is_bot": False, "first_name": "Bob"},
        "message": {"message_id": 43, "date": 1, "chat": {"id": -100, "type": "supergroup"}}}})
    assert press == Press(9, "4382", Sender(-100, "supergroup", 222, "Bob"), "y:n0001", 43)


def test_a_message_on_behalf_of_a_chat_is_marked():
    cmd = parse_update(message("/pause", sender_chat={"id": -100, "type": "supergroup"}))
    assert isinstance(cmd, Command) and cmd.sender.on_behalf_of_chat


# --- confirmations -------------------------------------------------------------------------------


def test_a_confirmation_is_single_use_personal_and_expires():
    clock = FakeClock()
    book = Confirmations(clock, nonce=iter(["a1", "b2", "c3"]).__next__)
    first = book.ask("close", {"symbol": "BTC"}, "/close BTC", ANN)
    assert first.keyboard()[0][0]["callback_data"] == "y:a1"
    assert book.resolve("y:a1", 111, 999) == (NOT_YOURS, first)
    assert book.resolve("y:a1", 222, 111) == (UNKNOWN, None)  # the right nonce from another chat
    assert book.resolve("x:a1", 111, 111) == (UNKNOWN, None)
    clock.advance(60)
    assert book.resolve("y:a1", 111, 111) == (OK, first)  # at 60 s exactly: still in time
    assert book.resolve("y:a1", 111, 111) == (UNKNOWN, None)  # spent
    book.ask("flatten", {}, "/flatten", ANN)
    assert book.resolve("n:b2", 111, 111)[0] == CANCELLED
    book.ask("flatten", {}, "/flatten", ANN)
    clock.advance(60.001)
    assert book.resolve("y:c3", 111, 111)[0] == EXPIRED
    assert len(book) == 0


def test_expired_questions_are_taken_out_once():
    clock = FakeClock()
    book = Confirmations(clock)
    pending = book.ask("flatten", {}, "/flatten", ANN)
    assert len(pending.nonce) == 12 and len(pending.keyboard()[0][0]["callback_data"].encode()) <= 64
    clock.advance(59)
    assert book.expired() == []
    clock.advance(2)
    assert book.expired() == [pending] and book.expired() == []


# --- authorization -------------------------------------------------------------------------------


def test_the_authorizer_rules():
    private = Authorizer("111", [])
    assert private.refusal(ANN) is None
    assert private.refusal(Sender(222, "private", 222, "x")) == "another chat"
    assert private.refusal(Sender(111, "private", None, "")) == "not a person"
    assert private.refusal(Sender(111, "private", 111, "bot", is_bot=True)) == "not a person"
    listed = Authorizer("-100", [5, 6])
    assert listed.refusal(Sender(-100, "supergroup", 5, "a")) is None
    assert listed.refusal(Sender(-100, "supergroup", 7, "b")) == "user not in alerts.telegram_allowed_users"
    assert listed.refusal(Sender(-100, "supergroup", 5, "a", on_behalf_of_chat=True)) == "not a person"
    assert Authorizer("-100", []).refusal(Sender(-100, "group", 5, "a")) == "a group chat needs alerts.telegram_allowed_users"


def test_group_ids_need_allowed_users():
    check_command_chat("111", [])
    check_command_chat("-1001234567890", [5])
    with pytest.raises(ConfigError, match="alerts.telegram_allowed_users"):
        check_command_chat("-1001234567890", [])


# --- config ----------------------------------------------------------------------------------------


def test_the_config_keys_default_off_and_validate():
    from perpbot.config import build_settings

    defaults = build_settings({}).alerts
    assert defaults.telegram_commands is False and defaults.telegram_allowed_users == []
    on = build_settings({"alerts": {"telegram_commands": True, "telegram_allowed_users": [111111111, 5550001]}})
    assert on.alerts.telegram_allowed_users == [111111111, 5550001]
    with pytest.raises(ConfigError, match="alerts.telegram_allowed_users\\[0\\] must be a whole number"):
        build_settings({"alerts": {"telegram_allowed_users": ["@ann"]}})
    with pytest.raises(ConfigError, match="alerts.telegram_commands must be true or false"):
        build_settings({"alerts": {"telegram_commands": "yes"}})
