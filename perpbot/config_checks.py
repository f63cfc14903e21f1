"""Provides the config checks that need more than the config file itself: the strategy's warm-up
against the history the timeframe and `data.history_days` can give (a warning), sizing below the
exchange's minimum order (a warning), and the stop
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
EXCHANGE_MIN_ORDER_USD = 10.0
"""Hyperliquid refuses an order worth less than this (minTradeNtlRejected)."""


def config_warnings(settings: Settings) -> list[str]:
    """What a valid config will still do unexpectedly, with the numbers (empty when nothing)."""
    return [w for w in (_warmup_warning(settings), _sizing_warning(settings)) if w]


def _warmup_warning(settings: Settings) -> str | None:
    tf = settings.strategy.timeframe
    step = interval_ms(tf)
    need = required_lookback(settings.strategy)
    history = settings.data.history_days * DAY_MS // step
    reachable = min(history, CANDLE_LIMIT)
    if need <= reachable:
        return None
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
    return (f"the strategy needs {span} of warm-up before its first decision, but {why}: "
            f"it will not trade until that much history is stored ({fix})")


def _sizing_warning(settings: Settings) -> str | None:
    """Sizing whose every order is below the minimum order (known without the account: fixed sizing,
    or fraction sizing on paper equity)."""
    risk = settings.risk
    floor = max(risk.min_order_usd, EXCHANGE_MIN_ORDER_USD)
    if risk.sizing == "fixed":
        notional, how, fix = risk.notional_usd, f"risk.notional_usd {risk.notional_usd:g}", "raise risk.notional_usd"
    elif settings.execution.mode == "paper":
        equity = settings.execution.paper_equity
        notional = equity * risk.position_fraction * risk.leverage
        how = (f"execution.paper_equity {equity:g} x risk.position_fraction {risk.position_fraction:g} "
               f"x risk.leverage {risk.leverage:g} = {notional:.2f} USD")
        fix = "raise risk.position_fraction or risk.leverage"
    else:
        return None  # live fraction sizing depends on the account's equity, which preflight reads
    if notional >= floor:
        return None
    return (f"every entry will be skipped: {how} is below the minimum order of {floor:g} USD "
            f"(the exchange refuses smaller orders; the decision table says risk 'size') ({fix})")


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
