"""A small two-symbol store for the sweep tests: 3,000 generated 1h bars each (~125 days)."""

from __future__ import annotations

from pathlib import Path

import yaml
from bt_data import START_MS, insert_walk

from perpbot.config import Settings, build_settings
from perpbot.data.db import Store

BARS = 3000
H = 3_600_000
DAY = 86_400_000
END_MS = START_MS + BARS * H
STRATEGY = {"timeframe": "1h", "use_hurst": False, "use_adx": False}  # filters that leave enough trades


def sweep_settings(db: Path, **sections: dict) -> Settings:
    raw = {"data": {"db_path": str(db), "symbols": ["BTC", "ETH"]}, "strategy": dict(STRATEGY),
           "logging": {"file": False}}
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return build_settings(raw, source="test")


def fill_store(db: Path) -> None:
    store = Store(db)
    store.migrate()
    insert_walk(store, "BTC", BARS, "1h", H, seed=1, funding=1e-5)
    insert_walk(store, "ETH", BARS, "1h", H, seed=2, funding=-1e-5, start=50.0)
    store.close()


def write_config(folder: Path, db: Path) -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"data": {"db_path": str(db), "symbols": ["BTC", "ETH"]},
                                    "strategy": dict(STRATEGY), "logging": {"file": False}}))
    return path
