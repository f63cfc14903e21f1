"""Provides named crash points: places where a daemon killed with -9 would leave the most to repair.

`reached(name)` does nothing in production. The chaos tests `arm` a hook that raises a BaseException
at chosen points; the engine is then abandoned without cleanup, which is what kill -9 does to a
process whose every SQLite write has committed. Names in use:

  migration        between the steps of a schema migration
  entry_sent       an entry (with its stop child) was accepted; its fills are not booked yet
  order_sent       any other order (an exit, a stop) was accepted; nothing after it is done
  fill_booked      a fill is booked; whatever should follow it (a stop move, the next fill) is not
  stop_sent        a stop was moved (modify); the bookkeeping after it is not done
"""

from __future__ import annotations

from collections.abc import Callable

_hook: Callable[[str], None] | None = None


def arm(hook: Callable[[str], None] | None) -> None:
    """Call `hook(name)` at every crash point from now on (None disarms)."""
    global _hook
    _hook = hook


def reached(name: str) -> None:
    """A crash point: the armed hook may raise here."""
    if _hook is not None:
        _hook(name)
