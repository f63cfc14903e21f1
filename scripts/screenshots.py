"""Writes screenshots/<screen>.svg for every dashboard screen, from the snapshot tests' own fixtures.

The same seeded store, log, results files, fixed clock and 120x40 terminal as
tests/tui/test_snapshots.py, and the same steps before each shot, so the README's pictures are
what the tests assert. Run from the repo root: `python scripts/screenshots.py`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from textual.pilot import Pilot  # noqa: E402
from textual.widgets import Input  # noqa: E402

from perpbot.cli.dashboard import make_app  # noqa: E402
from tui import test_snapshots as scenes  # noqa: E402
from tui.fixtures import (  # noqa: E402
    SWEEP_FILE,
    WF_FILE,
    FixtureSession,
    fill_store,
    fixture_settings,
    write_log,
    write_results,
)

Step = Callable[[Pilot[object]], Awaitable[None]]
SHOTS: list[tuple[str, Step, str]] = [
    ("positions", scenes._positions, "1 Positions: open positions, chart with bands and fills, risk, feed, signals"),
    ("log", scenes._log, "2 Log: the JSON log live, by level and text"),
    ("backtest", scenes._backtest, "3 Backtest: form, metrics, equity and drawdown, trades"),
    ("walk-forward", scenes._load(WF_FILE), "4 Walk-forward: windows, in/out of sample, stitched equity"),
    ("sensitivity", scenes._load(SWEEP_FILE), "4 Walk-forward, heatmap view: a sensitivity sweep"),
    ("reports", scenes._reports, "5 Reports: weekly review and breakdowns"),
    ("close-confirmation", scenes._close_dialog, "Closing a position asks first"),
]


async def shoot(name: str, step: Step, folder: Path, out: Path) -> Path:
    settings = fixture_settings(folder)
    app = make_app(FixtureSession(settings))
    async with app.run_test(size=scenes.SIZE) as pilot:
        await step(pilot)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))


def main() -> int:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    Input._toggle_cursor = lambda self: None  # type: ignore[method-assign]  # as the tests: no blink
    with tempfile.TemporaryDirectory(prefix="perpbot-shots-") as tmp:
        folder = Path(tmp)
        settings = fixture_settings(folder)
        fill_store(settings.db_path)
        write_log(settings.log_path)
        write_results(settings, folder)
        os.chdir(folder)  # the load steps type short relative paths, as in the tests
        for name, step, caption in SHOTS:
            path = asyncio.run(shoot(name, step, folder, out))
            sys.stdout.write(f"{path.relative_to(ROOT)}  {caption}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
