"""The brain stays IO-free: signals/ and risk/ import no UI, network or database library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import perpbot.risk
import perpbot.signals

FORBIDDEN = ("textual", "httpx", "websockets", "sqlite3", "sqlite_utils", "starlette", "uvicorn")


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
