"""`--adopt-account`: on every command that starts trading, and asked for at a terminal."""

from __future__ import annotations

import io

import pytest

from perpbot.cli import build_parser
from perpbot.cli.trading import confirm_adoption


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("argv", [["--headless", "trade", "--adopt-account"], ["trade", "--adopt-account"],
                                  ["dashboard", "--adopt-account"], ["--headless", "dashboard", "--adopt-account"]])
def test_every_command_that_starts_trading_takes_the_flag(argv):
    assert build_parser().parse_args(argv).adopt_account is True


def test_a_terminal_must_answer_yes_without_one_the_flag_is_the_answer():
    out = io.StringIO()
    assert confirm_adoption(Terminal("yes\n"), out) and "stopped for good" in out.getvalue()
    assert not confirm_adoption(Terminal("y\n"), io.StringIO())
    assert not confirm_adoption(Terminal(""), io.StringIO())
    assert confirm_adoption(io.StringIO(""), io.StringIO())
