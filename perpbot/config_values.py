"""Provides the rules a single config value must meet: its type (numbers finite, numbers written
as text read as numbers), its key's rule (ranges, choices, intervals, URLs), coin lists, and how a
bad value is shown in an error (one line, short, never a pasted private key).

config.py declares each key's rule with `rule(...)` and calls these while it builds Settings.
"""

from __future__ import annotations

import math
import re
import typing
from typing import Any

from perpbot.errors import ConfigError

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d")


def rule(check: str, *arg: Any) -> dict[str, Any]:
    """Field metadata naming the check a key's value must pass (see check_rule)."""
    return {"rule": (check, *arg)}


def one_line(text: str | None) -> str:
    return " ".join(str(text or "").split())


_KEY_LIKE = re.compile(r"(0x)?[0-9a-fA-F]{64}")


def shown(value: Any, limit: int = 60) -> str:
    """A value for an error message: its repr, on one line and short (a pasted blob stays readable);
    never a value that looks like a private key pasted into the wrong place."""
    if isinstance(value, str) and _KEY_LIKE.search(value):
        return f"a value that looks like a private key ({len(value)} characters)"
    if isinstance(value, int) and not isinstance(value, bool) and 200 <= value.bit_length() <= 256:
        return "a number that looks like a private key (YAML reads 0x... as a number)"
    try:
        text = one_line(repr(value))
    except (ValueError, RecursionError):  # an int too long to print, a structure too deep
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def scalar(tp: type, value: Any, path: str, source: str) -> Any:
    bad = ConfigError(f"{source}: {path} must be {_type_name(tp)} (got {shown(value)})")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        value = _number_text(value)
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise bad
        return value
    if tp is float:
        value = _number_text(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            # NaN passes every "must be >" rule and infinity breaks timeouts and sizes: refuse both here.
            raise ConfigError(f"{source}: {path} must be a finite number (got {shown(value)})")
        return number
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if shown(value) != repr(value):  # a key-like or enormous number: never echoed back as text
                raise bad
            return str(value)
        if not isinstance(value, str):
            raise bad
        return value
    return value


def yaml_word(rule: tuple[Any, ...] | None, value: Any) -> Any:
    """`off`/`on` written unquoted for a key whose choices hold them: YAML 1.1 reads them (and no/yes)
    as booleans, so `logging.stdout: off` arrives as False; give it back as the word (which the rule
    then accepts, or refuses naming the key's choices)."""
    if not isinstance(value, bool) or rule is None or rule[0] not in ("choice", "choice_or_none"):
        return value
    return "on" if value else "off"


def _number_text(value: Any) -> Any:
    """A number written as text (YAML reads `1e3`, without a dot, as a string) as that number; else as is."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value


def _type_name(tp: type) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(tp, str(tp))


def check_rule(rule: tuple[Any, ...] | None, value: Any, path: str, source: str) -> None:
    if rule is None or value is None:
        return
    kind, *args = rule
    message = None
    if kind == "ge" and value < args[0]:
        message = f"must be >= {args[0]}"
    elif kind == "gt" and value <= args[0]:
        message = f"must be > {args[0]}"
    elif kind == "range" and not args[0] <= value <= args[1]:
        message = f"must be between {args[0]} and {args[1]}"
    elif kind == "range_open_low" and not args[0] < value <= args[1]:
        message = f"must be > {args[0]} and <= {args[1]}"
    elif kind in ("choice", "choice_or_none") and value not in args[0]:
        message = f"must be one of {', '.join(args[0])}"
    elif kind == "interval" and value not in INTERVALS:
        message = f"must be one of {', '.join(INTERVALS)}"
    elif kind == "intervals" and any(v not in INTERVALS for v in value):
        message = f"must only hold intervals from {', '.join(INTERVALS)}"
    elif kind == "subset" and any(v not in args[0] for v in value):
        message = f"must only hold names from {', '.join(args[0])}"
    elif kind == "url" and (not value.startswith(("http://", "https://")) or any(c.isspace() for c in value)
                            or len(value) <= len("https://")):
        message = "must be an http:// or https:// URL"
    if message:
        raise ConfigError(f"{source}: {path} {message} (got {shown(value)})")


def resolve_symbols(wanted: typing.Iterable[str], listed: typing.Iterable[str]) -> list[str]:
    """Each wanted coin in the exchange's spelling: an exact match, else the one listed name that
    matches without regard to case (KPEPE -> kPEPE); a coin nothing matches is kept as it is."""
    names = list(dict.fromkeys(listed))  # several sources may list a name twice
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(name.casefold(), []).append(name)
    out = []
    for coin in wanted:
        matches = by_fold.get(coin.casefold(), [])
        out.append(coin if coin in names or len(matches) != 1 else matches[0])
    return out


def normalize_symbols(symbols: typing.Iterable[str], where: str = "data.symbols") -> list[str]:
    """Coins stripped and upper-cased, each once (`resolve_symbols` gives them the exchange's
    spelling, e.g. kPEPE, once its asset list or the stored candles are known).

    Raises:
        ConfigError: an empty name, a name listed twice (btc and BTC are one coin), or no coin.
    """
    out: list[str] = []
    for i, raw in enumerate(symbols):
        name = str(raw).strip().upper()
        if not name:
            raise ConfigError(f"{where}[{i}] is empty", "name a coin, e.g. BTC")
        if any(ch.isspace() or ch == "," for ch in name):
            raise ConfigError(f"{where}[{i}] {shown(raw)} is not one coin name", "list coins separately: [BTC, ETH]")
        if len(name) > 32:
            raise ConfigError(f"{where}[{i}] is not a coin name (got {shown(raw)})", "e.g. BTC")
        if name in out:
            raise ConfigError(f"{where} lists {name} twice", "list each coin once (names are not case-sensitive)")
        out.append(name)
    if not out:
        raise ConfigError(f"{where} must name at least one coin", "e.g. [BTC, ETH]")
    return out
