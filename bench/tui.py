"""Dashboard figures for issue 8: startup to first paint next to a bare Textual app, and memory after trading.

    python bench/tui.py [--runs 5] [--minutes 10] [--speed 120]

1. time from process spawn to the first painted frame, as a fresh process each run (interpreter,
   imports, compose, layout, first render), for `perpbot demo`'s app and for a bare Textual app
   (a Static and a Footer) in the same run; median of `--runs`. Apps run with Textual's headless
   driver, so no terminal is needed; the simulator and engine start after the first paint, as in
   the real demo, and are not counted;
2. `perpbot demo` (simulator, engine, dashboard polling twice a second, positions screen with its
   chart re-read every bar) left running `--minutes` wall minutes at `--speed`: resident memory
   (now and peak) of the whole process, trades made, simulated time covered.
Targets: (1) <= 1.5 s and <= 3x the bare app; (2) <= 200 MB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAINT_TARGET_S = 1.5
PAINT_RATIO_TARGET = 3.0
MEMORY_TARGET_MB = 200.0


# --- children (run as `python bench/tui.py --child KIND ...`) ----------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB, from /proc."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def _child_bare() -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer, Static

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("hello")
            yield Footer()

        def on_mount(self) -> None:
            self.call_after_refresh(self._painted)

        def _painted(self) -> None:
            print(json.dumps({"painted": time.time()}), flush=True)
            self.exit()

    Bare().run(headless=True, size=(120, 40))


def _child_demo(minutes: float, speed: float) -> None:
    import perpbot.cli  # noqa: F401  - what `perpbot demo` imports before the app, counted too
    import perpbot.cli.dashboard  # noqa: F401
    from perpbot.cli.runner import Runs
    from perpbot.cli.sessions import DemoSession
    from perpbot.ops.logging import setup_logging
    from perpbot.tui.app import PerpBotApp

    folder = Path(tempfile.mkdtemp(prefix="perpbot-bench-"))
    setup_logging(file_path=folder / "perp-bot.log", stdout=False)
    report: dict[str, Any] = {}

    class Measured(PerpBotApp):
        CSS_PATH = str(Path(sys.modules[PerpBotApp.__module__].__file__ or "").with_name("app.tcss"))

        def on_mount(self) -> None:
            # Textual also calls PerpBotApp.on_mount (handlers run along the MRO): no super() here.
            self.call_after_refresh(self._painted)

        def _painted(self) -> None:
            report["painted"] = time.time()
            if minutes <= 0:
                self.call_later(self.action_quit)
            else:
                self.set_timer(minutes * 60, self._measure)

        async def _measure(self) -> None:
            from perpbot.data.db import Store

            report["rss_mb"], report["peak_mb"] = _rss_mb()
            store = Store(folder / "demo.db", read_only=True)
            try:
                report["trades"] = len(store.recent_trades(100_000, mode="paper"))
            finally:
                store.close()
            view = self.view
            report["sim_hours"] = ((view.last_tick or 0) - (view.started_at or 0)) / 3_600_000 if view else 0.0
            report["connection"] = self.connection.state
            await self.action_quit()

    code = Measured(DemoSession(folder, seed=1, speed=speed), Runs()).run(headless=True, size=(120, 40))
    report["exit"] = code
    print(json.dumps(report), flush=True)


# --- the parent ----------------------------------------------------------------------------------


def _spawn(*args: str, timeout_s: float) -> tuple[float, dict[str, Any]]:
    """Run a child; returns (spawn time, its last JSON line)."""
    started = time.time()
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=ROOT)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"child {args} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return started, json.loads(lines[-1])


def bench_startup(runs: int) -> tuple[float, float]:
    bare, demo = [], []
    for _ in range(runs):
        start, out = _spawn("bare", timeout_s=60)
        bare.append(out["painted"] - start)
        start, out = _spawn("demo", "0", "120", timeout_s=60)
        demo.append(out["painted"] - start)
    return statistics.median(bare), statistics.median(demo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="startup runs of each app (median)")
    parser.add_argument("--minutes", type=float, default=10.0, help="wall minutes of demo trading before measuring")
    parser.add_argument("--speed", type=float, default=120.0, help="the demo's clock speed")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "bare":
            _child_bare()
        else:
            _child_demo(float(args.child[1]), float(args.child[2]))
        return 0

    bare_s, demo_s = bench_startup(args.runs)
    ratio = demo_s / bare_s
    print(f"startup to first paint (median of {args.runs}, fresh process, headless 120x40):")
    print(f"  bare Textual app   {bare_s:6.3f} s")
    print(f"  perpbot demo       {demo_s:6.3f} s   ({ratio:.2f}x bare; targets <= {PAINT_TARGET_S} s, "
          f"<= {PAINT_RATIO_TARGET:g}x)  {'ok' if demo_s <= PAINT_TARGET_S and ratio <= PAINT_RATIO_TARGET else 'MISSED'}")
    if args.minutes > 0:
        _, out = _spawn("demo", str(args.minutes), str(args.speed), timeout_s=args.minutes * 60 + 120)
        ok = out["rss_mb"] <= MEMORY_TARGET_MB
        print(f"perpbot demo after {args.minutes:g} wall min at {args.speed:g}x ({out['sim_hours']:.1f} simulated h, "
              f"{out['trades']} paper trades, engine {out['connection']}):")
        print(f"  resident memory    {out['rss_mb']:6.1f} MB (peak {out['peak_mb']:.1f} MB; target <= "
              f"{MEMORY_TARGET_MB:g} MB)  {'ok' if ok else 'MISSED'}")
        print(f"  clean quit         exit code {out['exit']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
