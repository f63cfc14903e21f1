"""The house plan's import contract (docs/design.md, "The house plan"), enforced.

Two checks: the brain (signals/, risk/) imported for real loads no IO library; and a static one
over every `import` statement in perpbot/ (module level and inside functions alike, since a lazy
import still runs), read with `ast`, followed through perpbot's own modules:
* signals/ and risk/ import no IO (and nothing of perpbot that does IO);
* backtest/ reaches no sqlite, httpx or textual: its data comes through the store it is given;
* tui/ reaches no `cli`, no `sim/`, nothing that builds or runs an engine;
* the engine's modules (execution/) reach no `ipc/`;
* only the composition root (perpbot/cli/) imports perpbot.cli, or chooses an adapter: the concrete
  exchange client, price feeds, executors and the simulator's server.
We use our own AST walk rather than import-linter: the rules are few, a failure names the whole
import chain, and it needs no dependency.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import perpbot
import perpbot.risk
import perpbot.signals

ROOT = Path(perpbot.__file__).parent
FORBIDDEN = ("textual", "httpx", "websockets", "sqlite3", "sqlite_utils", "starlette", "uvicorn")
IO_LIBRARIES = set(FORBIDDEN) | {"socket", "requests", "aiohttp"}
ADAPTERS = ("perpbot.data.client", "perpbot.data.ws_client", "perpbot.data.rest_feed", "perpbot.execution.paper",
            "perpbot.execution.live.executor", "perpbot.sim.server")


def _brain_modules() -> list[str]:
    names = []
    for package in (perpbot.signals, perpbot.risk):
        names.append(package.__name__)
        names += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    return names


def test_brain_imports_no_io_libraries():
    code = (
        "import importlib, json, sys\n"
        f"for name in {_brain_modules()!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {FORBIDDEN!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


# --- the static graph --------------------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = ("perpbot", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The perpbot module a dotted name means (`from perpbot.x import y` may name module x.y), or None."""
    modules = _modules()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


@cache
def _imports(module: str) -> frozenset[str]:
    """Every name `module` imports: perpbot modules (resolved) and the top package of anything else."""
    path = _modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            if target.startswith("perpbot"):
                resolved = _resolve(target)
                if resolved is not None and resolved != module:
                    out.add(resolved)
            else:
                out.add(target.split(".")[0])
    return frozenset(out)


def _chains(start: str) -> dict[str, list[str]]:
    """Everything `start` reaches, each with the shortest import chain that reaches it."""
    seen = {start: [start]}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if not current.startswith("perpbot"):
            continue
        for target in sorted(_imports(current)):
            if target not in seen:
                seen[target] = seen[current] + [target]
                queue.append(target)
    return seen


def _package(prefix: str) -> list[str]:
    return sorted(m for m in _modules() if m == prefix or m.startswith(prefix + "."))


def _breaches(sources: list[str], forbidden: Callable[[str], bool]) -> list[str]:
    out = []
    for source in sources:
        for target, chain in _chains(source).items():
            if target != source and forbidden(target):
                out.append(" -> ".join(chain))
    return out


def _under(*prefixes: str) -> Callable[[str], bool]:
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_graph_reads_lazy_imports_too():
    """The static reading sees what the contract is about: cli reaches the engine, a lazy import counts."""
    assert "perpbot.cli.compose" in _chains("perpbot.cli")
    assert "perpbot.backtest.fastloop" in _imports("perpbot.backtest.loops")  # imported inside a function


def test_brain_reaches_no_io():
    brain = _package("perpbot.signals") + _package("perpbot.risk")
    io = _under("perpbot.data", "perpbot.ipc", "perpbot.tui", "perpbot.cli", "perpbot.ops", "perpbot.sim",
                "perpbot.execution", "perpbot.backtest", "perpbot.reporting")
    assert _breaches(brain, lambda name: name in IO_LIBRARIES or io(name)) == []


def test_backtest_reaches_no_sqlite_httpx_or_textual():
    assert _breaches(_package("perpbot.backtest"), lambda name: name in ("sqlite3", "sqlite_utils", "httpx",
                                                                          "textual", "websockets")) == []


def test_dashboard_reaches_no_cli_no_simulator_and_builds_no_engine():
    engine = _under("perpbot.cli", "perpbot.sim", "perpbot.execution.engine", "perpbot.execution.live",
                    "perpbot.execution.paper")
    assert _breaches(_package("perpbot.tui"), engine) == []


def test_the_engine_reaches_no_ipc():
    assert _breaches(_package("perpbot.execution"), _under("perpbot.ipc")) == []


def test_only_the_composition_root_chooses_adapters():
    outside = [m for m in _modules() if not _under("perpbot.cli")(m)]
    direct = [f"{m} imports {t}" for m in outside for t in _imports(m)
              if _under("perpbot.cli")(t) or t in ADAPTERS]
    assert direct == []
