"""`perpbot backtest`'s progress bar: shown on a terminal only (rich's progress module is imported
only then), and its update function works there."""

from __future__ import annotations

import io

from rich.console import Console

from perpbot.cli.backtest import _progress_bar


def test_no_bar_off_a_terminal() -> None:
    with _progress_bar(Console(file=io.StringIO(), force_terminal=False), 3) as progress:
        assert progress is None


def test_a_terminal_gets_a_bar_that_advances() -> None:
    out = io.StringIO()
    with _progress_bar(Console(file=out, force_terminal=True, width=80), 3) as progress:
        assert progress is not None
        for done in (1, 2, 3):
            progress(done, 3)
    assert "backtest" in out.getvalue()
