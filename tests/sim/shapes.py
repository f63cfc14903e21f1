"""Provides a test helper comparing two JSON answers by shape: keys, value types and nesting."""

from __future__ import annotations

from typing import Any


def shape_problems(ours: Any, recorded: Any, where: str, added: set[str], dropped: set[str]) -> list[str]:
    """Differences in keys, value types and nesting (null matches anything: the exchange writes null for absent)."""
    if ours is None or recorded is None:
        return []
    if type(ours) is not type(recorded):
        return [f"{where}: {type(ours).__name__} here, {type(recorded).__name__} recorded"]
    if isinstance(recorded, dict):
        problems = [f"{where}.{k}: missing" for k in sorted(set(recorded) - set(ours) - dropped)]
        problems += [f"{where}.{k}: not in the recording" for k in sorted(set(ours) - set(recorded) - added)]
        for key in set(ours) & set(recorded):
            problems += shape_problems(ours[key], recorded[key], f"{where}.{key}", added, dropped)
        return problems
    if isinstance(recorded, list) and ours and recorded:
        pairs = zip(ours, recorded) if len({type(x) for x in recorded}) > 1 else [(ours[0], recorded[0])]
        return [p for i, (a, b) in enumerate(pairs) for p in shape_problems(a, b, f"{where}[{i}]", added, dropped)]
    return []
