"""The compiled code: its disk cache (perpbot/signals/jit.py), one compile per version and machine, and its
preload at the host's start (perpbot/cli/host.py).

Two copies of the package in two directories stand for two installs of one version (a recreated
virtualenv, a second checkout): the second must load what the first compiled. An edit to a
source the compiled code is built from must compile afresh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import perpbot

PACKAGE = Path(perpbot.__file__).parent
# One small kernel and one function of the rules the loops compile: the cache's hits and misses.
CODE = (
    "import numpy as np\n"
    "from perpbot.signals import kernels\n"
    "from perpbot.signals import jit\n"
    "c = np.linspace(100.0, 101.0, 64)\n"
    "out = np.empty(64)\n"
    "kernels.rsi(c, 14, out)\n"
    "print(jit.cache_root(), sum(kernels.rsi.stats.cache_hits.values()), sum(kernels.rsi.stats.cache_misses.values()))\n"
)


def _install(root: Path) -> Path:
    shutil.copytree(PACKAGE, root / "perpbot", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _run(install: Path, cache: Path) -> tuple[str, int, int]:
    env = {**os.environ, "PYTHONPATH": str(install), "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, env=env,
                         cwd=install)
    root, hits, misses = out.stdout.split()
    return root, int(hits), int(misses)


@pytest.mark.e2e
def test_a_second_install_of_the_same_version_loads_the_first_ones_compile(tmp_path):
    cache = tmp_path / "cache"
    first = _install(tmp_path / "a")
    second = _install(tmp_path / "b")
    assert _run(first, cache) == (str(cache), 0, 1)  # compiled, then written
    assert _run(second, cache) == (str(cache), 1, 0)  # another directory: loaded
    assert (cache / "perpbot.signals.kernels").is_dir()
    rules = second / "perpbot" / "risk" / "rules.py"
    rules.write_text(rules.read_text() + "\n# an edit\n")
    assert _run(second, cache)[1:] == (0, 1)  # a source the loops compile changed: compiled again
    assert _run(first, cache)[1:] == (1, 0)  # the first version's code was kept beside the second's


@pytest.mark.e2e
def test_the_host_preloads_off_the_tick_path_and_ticks_take_the_kernels_once_ready():
    code = (
        "from perpbot.signals import indicators as ind\n"
        "print(ind._path(500).__name__)\n"  # a live window: numpy until the kernels are ready
        "from perpbot.cli.host import preload_in_background\n"
        "preload_in_background().join()\n"
        "print(ind._path(500).__name__)\n"
        "import sys; print('perpbot.backtest.fastaccount' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["perpbot.signals.vectorised", "perpbot.signals.kernels", "True"]
