"""`perpbot control` against a daemon socket: an argument the action does not take is refused
before anything is sent, and a flatten that leaves a position open exits non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpbot.cli import main
from perpbot.execution import commands
from perpbot.ipc.commands import handler
from perpbot.ipc.server import StateServer


class Engine:
    """Answers the engine's command objects as a flatten that could not close ETH would."""

    def __init__(self, still_open: tuple[str, ...]) -> None:
        self.still_open = still_open
        self.seen: list[object] = []

    def execute(self, command: commands.Command) -> object:
        self.seen.append(command)
        if isinstance(command, commands.Flatten):
            return commands.Flattened((), self.still_open)
        if isinstance(command, (commands.Pause, commands.Resume)):
            return commands.Paused(isinstance(command, commands.Pause))
        raise commands.CommandRefused(f"no open position on {command.symbol}")


def _daemon(tmp_path: Path, engine: Engine) -> StateServer:
    return StateServer(tmp_path / "perp-bot.sock", handler(engine))


def _argv(tmp_path: Path, *words: str) -> list[str]:
    return ["control", *words, "--set", f"data.db_path={tmp_path / 'bot.db'}"]


@pytest.mark.parametrize("words", [("flatten", "BTC"), ("pause", "BTC"), ("resume", "ETH")])
def test_an_action_that_takes_no_symbol_refuses_one_and_sends_nothing(tmp_path, words, capsys):
    engine = Engine(())
    with _daemon(tmp_path, engine):
        code = main(_argv(tmp_path, *words))
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"perpbot: error: control {words[0]} takes no SYMBOL (got '{words[1]}')")
    assert engine.seen == []


def test_a_flatten_that_leaves_a_position_open_exits_1(tmp_path, capsys):
    with _daemon(tmp_path, Engine(("ETH",))):
        code = main(_argv(tmp_path, "flatten"))
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["still_open"] == ["ETH"]
    assert "flatten left ETH open" in err


def test_a_complete_flatten_exits_0(tmp_path, capsys):
    with _daemon(tmp_path, Engine(())):
        assert main(_argv(tmp_path, "flatten")) == 0
    assert json.loads(capsys.readouterr().out)["still_open"] == []


def test_close_sends_the_symbol_as_typed(tmp_path, capsys):
    engine = Engine(())
    with _daemon(tmp_path, engine):
        assert main(_argv(tmp_path, "close", "kPEPE")) == 1
    assert engine.seen == [commands.ClosePosition("kPEPE")]
    assert "no open position on kPEPE" in capsys.readouterr().err
