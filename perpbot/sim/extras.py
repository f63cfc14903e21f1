"""Provides the per-account settings the extra /exchange actions keep: builder fees, referrer, the dead man's switch.

Plain state, read by the /info handlers (`maxBuilderFee`, `referral`, `userAbstraction`) and
written by the actions in `perpbot.sim.actions`; callers hold the ledger's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEDULE_CANCEL_MIN_LEAD_MS = 5_000  # the time must be at least 5 s ahead
SCHEDULE_CANCEL_DAILY_TRIGGERS = 10  # triggers allowed per UTC day


@dataclass
class UserSettings:
    builder_fees: dict[str, int] = field(default_factory=dict)  # builder -> max fee in tenths of a basis point
    referrer: str | None = None
    abstraction: str = "default"  # UNVERIFIED: what the exchange answers for an account that never set one
    cancel_at_ms: int | None = None  # scheduleCancel time, or None
    cancel_triggers: dict[int, int] = field(default_factory=dict)  # UTC day number -> triggers that day


@dataclass
class Extras:
    users: dict[str, UserSettings] = field(default_factory=dict)

    def of(self, user: str) -> UserSettings:
        return self.users.setdefault(user, UserSettings())


def fee_rate_tenths_bp(text: str) -> int | None:
    """'0.01%' -> 10 (tenths of a basis point); None if it is not a percentage."""
    if not text.endswith("%"):
        return None
    try:
        pct = float(text[:-1])
    except ValueError:
        return None
    return round(pct * 1000) if pct >= 0 else None
