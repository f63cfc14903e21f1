"""Provides the config checks that need more than the config file itself: the strategy's warm-up
against the history the timeframe and `data.history_days` can give (a warning), and the stop
against each asset's liquidation distance once the exchange's `meta` is known (a refusal)."""

from __future__ import annotations

from collections.abc import Iterable

from perpbot.clock import DAY_MS, interval_ms
from perpbot.config import Settings
from perpbot.errors import ConfigError
from perpbot.models import AssetMeta
from perpbot.risk.rules import liquidation_distance, maintenance_margin_rate
from perpbot.signals.engine import required_lookback

CANDLE_LIMIT = 5000
"""Hyperliquid serves only the most recent 5000 candles per coin and interval."""


def config_warnings(settings: Settings) -> list[str]:
    """What a valid config will still do unexpectedly, with the numbers (empty when nothing)."""
    tf = settings.strategy.timeframe
    step = interval_ms(tf)
    need = required_lookback(settings.strategy)
    history = settings.data.history_days * DAY_MS // step
    reachable = min(history, CANDLE_LIMIT)
    if need <= reachable:
        return []
    span = f"{need} closed {tf} bars ({need * step / DAY_MS:,.1f} days)"
    if need > history:
        why = f"data.history_days {settings.data.history_days} gives {history} bars"
        fix = "raise data.history_days"
        if need > CANDLE_LIMIT:
            why += f" and the exchange serves at most {CANDLE_LIMIT}"
    else:
        why = f"the exchange serves at most {CANDLE_LIMIT} {tf} bars"
    if need > CANDLE_LIMIT:
        fix = ("import older candles (`perpbot import-candles`) or shorten strategy.window, hurst_window, "
               "rsi_period, adx_period")
    return [f"the strategy needs {span} of warm-up before its first decision, but {why}: "
            f"it will not trade until that much history is stored ({fix})"]


def check_stop_distance(settings: Settings, metas: Iterable[AssetMeta]) -> None:
    """Refuse a stop at or beyond the liquidation distance of any traded asset at risk.leverage.

    Raises:
        ConfigError: naming the asset, the stop, the liquidation distance and the maintenance margin.
    """
    risk = settings.risk
    for meta in metas:
        if meta.name not in settings.data.symbols or meta.max_leverage <= 0:
            continue
        if risk.leverage > meta.max_leverage:
            raise ConfigError(f"risk.leverage {risk.leverage:g} is above {meta.name}'s maximum leverage "
                              f"{meta.max_leverage}x on {settings.exchange.url}", "lower risk.leverage")
        distance = liquidation_distance(risk.leverage, meta.max_leverage)
        if risk.stop_loss_pct >= distance:
            mmr = maintenance_margin_rate(meta.max_leverage)
            raise ConfigError(
                f"risk.stop_loss_pct {risk.stop_loss_pct:g} is at or beyond {meta.name}'s liquidation distance "
                f"{distance:.4g} at risk.leverage {risk.leverage:g} (maintenance margin {mmr:.4g} of the notional, "
                f"its maximum leverage being {meta.max_leverage}x): the position would be liquidated before "
                "its stop", f"set risk.stop_loss_pct below {distance:.4g}, or lower risk.leverage")
