"""Provides the typed configuration model: one dataclass per config.yaml section, and `Settings`.

Each field carries its default, a docstring and the rule its value must pass (config_values.py);
config.py loads and validates a file into these. Every other module receives a `Settings`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perpbot.config_values import rule

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"
REGIMES = ("NORMAL", "ELEVATED", "CRISIS")


@dataclass
class ExchangeConfig:
    network: str = field(default="mainnet", metadata=rule("choice", ("mainnet", "testnet")))
    """Which Hyperliquid network; decides the URL and how actions are signed."""
    base_url: str | None = field(default=None, metadata=rule("url"))
    """Overrides the network's URL (e.g. the simulator: http://127.0.0.1:8765)."""
    timeout_s: float = field(default=10.0, metadata=rule("range_open_low", 0, 600))
    """Per-request HTTP timeout."""
    max_retries: int = field(default=5, metadata=rule("ge", 0))
    """Retries on 429, 5xx and transport errors (exponential backoff with jitter)."""
    weight_per_minute: int = field(default=1200, metadata=rule("ge", 1))
    """Client-side request-weight budget per minute (the exchange allows 1200 per IP)."""
    retry_backoff_s: float = field(default=0.5, metadata=rule("range_open_low", 0, 60))
    """First retry delay; it doubles per attempt (with jitter), capped at 30 s."""

    @property
    def url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        return MAINNET_URL if self.network == "mainnet" else TESTNET_URL

    @property
    def ws_url(self) -> str:
        url = self.url
        return "ws" + url[len("http") :] + "/ws"

    @property
    def is_mainnet(self) -> bool:
        return self.url == MAINNET_URL


@dataclass
class DataConfig:
    db_path: str | None = None
    """SQLite file; default perp_bot.db in the user data dir. Socket and log live beside it."""
    symbols: list[str] = field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    """Coins to ingest and trade."""
    timeframes: list[str] = field(default_factory=lambda: ["1m", "15m"], metadata=rule("intervals"))
    """Candle intervals to ingest."""
    history_days: int = field(default=30, metadata=rule("range", 1, 10_000))
    """How far back `backfill` reaches by default."""
    backups: int = field(default=7, metadata=rule("range", 0, 1000))
    """Daily online backups of the database the daemon keeps in `<db dir>/backups/` (0 = none)."""


@dataclass
class StrategyConfig:
    timeframe: str = field(default="15m", metadata=rule("interval"))
    """Bar interval the strategy decides on."""
    window: int = field(default=20, metadata=rule("ge", 2))
    """Lookback of the z-score and the Bollinger bands."""
    entry_z: float = field(default=2.0, metadata=rule("gt", 0))
    """Enter when |z| reaches this."""
    exit_z: float = field(default=0.5, metadata=rule("ge", 0))
    """Close a long when z >= -exit_z (a short when z <= exit_z)."""
    bb_std: float = field(default=2.0, metadata=rule("gt", 0))
    """Bollinger band width in standard deviations."""
    rsi_period: int = field(default=14, metadata=rule("ge", 2))
    rsi_oversold: float = field(default=30.0, metadata=rule("range", 0, 100))
    rsi_overbought: float = field(default=70.0, metadata=rule("range", 0, 100))
    adx_period: int = field(default=14, metadata=rule("ge", 2))
    adx_max: float = field(default=25.0, metadata=rule("range", 0, 100))
    """Enter only when ADX <= this (a ranging market)."""
    hurst_window: int = field(default=100, metadata=rule("ge", 20))
    hurst_max: float = field(default=0.5, metadata=rule("range", 0, 1))
    """Enter only when Hurst <= this (a mean-reverting regime)."""
    use_bollinger: bool = True
    use_rsi: bool = True
    use_adx: bool = True
    use_hurst: bool = True


@dataclass
class RiskConfig:
    max_positions: int = field(default=3, metadata=rule("ge", 1))
    """Open positions allowed at once, across symbols."""
    sizing: str = field(default="fraction", metadata=rule("choice", ("fraction", "fixed")))
    position_fraction: float = field(default=0.1, metadata=rule("range_open_low", 0, 1))
    """With sizing: fraction, the margin per position as a fraction of equity (times leverage)."""
    notional_usd: float = field(default=1000.0, metadata=rule("gt", 0))
    """With sizing: fixed, the notional of every position."""
    leverage: float = field(default=3.0, metadata=rule("range_open_low", 0, 50))
    stop_loss_pct: float = field(default=0.02, metadata=rule("range_open_low", 0, 1))
    daily_loss_limit_pct: float = field(default=0.05, metadata=rule("range_open_low", 0, 1))
    """Realized loss (fraction of start-of-day equity) that stops new entries until UTC midnight."""
    cooldown_minutes: float = field(default=60.0, metadata=rule("ge", 0))
    """No new entry on a symbol for this long after a stop loss on it."""
    global_cooldown: bool = False
    """If true, a stop loss cools down every symbol, not just its own."""
    position_timeout_hours: float = field(default=24.0, metadata=rule("gt", 0))
    losing_weeks_halt: int = field(default=3, metadata=rule("ge", 0))
    """Refuse to start after this many consecutive losing UTC weeks (0 = off) unless --force."""
    min_order_usd: float = field(default=10.0, metadata=rule("ge", 0))
    """The exchange's minimum order value."""


@dataclass
class ExecutionConfig:
    mode: str = field(default="paper", metadata=rule("choice", ("paper", "live")))
    """paper (default) or live; live also needs HL_PRIVATE_KEY in the environment."""
    entry_delay_bars: int = field(default=0, metadata=rule("ge", 0))
    """Entries fill this many bars after the next open; cancelled if the signal is gone."""
    slippage_bps: float = field(default=2.0, metadata=rule("ge", 0))
    """Assumed slippage against us on every fill (backtest and paper)."""
    volatility_slippage: float = field(default=0.0, metadata=rule("ge", 0))
    """Extra slippage as a multiple of the bar's (high-low)/close (backtest only)."""
    taker_fee: float = field(default=0.00045, metadata=rule("range", 0, 0.01))
    maker_fee: float = field(default=0.00015, metadata=rule("range", -0.01, 0.01))
    max_slippage_bps: float = field(default=50.0, metadata=rule("gt", 0))
    """Live IOC orders are limited this far beyond the mid."""
    reconcile_minutes: float = field(default=5.0, metadata=rule("gt", 0))
    """Live: compare the exchange's positions, orders and fills with the DB this often (also at startup
    and after every feed reconnect)."""
    clock: str = field(default="wall", metadata=rule("choice", ("wall", "exchange")))
    """wall: the machine's time; exchange: follow the time the exchange reports."""
    tick_seconds: float = field(default=5.0, metadata=rule("range_open_low", 0, 3600))
    """How often the daemon wakes to check the feed and stops between bar closes."""
    paper_equity: float = field(default=10_000.0, metadata=rule("gt", 0))
    """Paper trading's starting equity (equity = this + realized + unrealized paper pnl)."""
    entry_order: str = field(default="taker", metadata=rule("choice", ("taker", "maker")))
    """taker: entries cross at the next open (IOC); maker: a post-only limit rests at the signal bar's close."""
    exit_order: str = field(default="taker", metadata=rule("choice", ("taker", "maker")))
    """taker or maker for signal and timeout exits; stops are always exchange-side taker triggers."""
    maker_timeout_bars: int = field(default=3, metadata=rule("ge", 1))
    """A resting maker order not filled after this many bars expires (see maker_fallback)."""
    maker_fallback: str = field(default="cancel", metadata=rule("choice", ("cancel", "taker")))
    """What an expired maker entry does: cancel it, or cross as a taker. An expired exit always crosses (a
    position is never left open past its exit decision)."""
    maker_fill_ticks: int = field(default=1, metadata=rule("ge", 0))
    """A resting order fills only when a bar trades through its limit by this many price ticks (0: a touch fills)."""


@dataclass
class BacktestConfig:
    initial_equity: float = field(default=10_000.0, metadata=rule("gt", 0))
    regime: str | None = field(default=None, metadata=rule("choice_or_none", REGIMES))
    """Run with a fixed regime instead of replaying stored prediction snapshots."""


@dataclass
class PredictionMarket:
    source: str = field(default="polymarket", metadata=rule("choice", ("polymarket", "kalshi")))
    id: str = ""
    """Polymarket slug or id, or Kalshi ticker."""
    weight: float = field(default=1.0, metadata=rule("gt", 0))
    direction: str = field(default="risk_up", metadata=rule("choice", ("risk_up", "risk_down")))


@dataclass
class PredictionConfig:
    enabled: bool = False
    polymarket_url: str = field(default="https://gamma-api.polymarket.com", metadata=rule("url"))
    kalshi_url: str = field(default="https://api.elections.kalshi.com/trade-api/v2", metadata=rule("url"))
    timeout_s: float = field(default=10.0, metadata=rule("range_open_low", 0, 600))
    """Per-request HTTP timeout for the prediction-market APIs."""
    max_retries: int = field(default=2, metadata=rule("ge", 0))
    """Retries on 429, 5xx and transport errors (backoff doubling from 0.5 s, capped at 8 s)."""
    poll_minutes: float = field(default=15.0, metadata=rule("gt", 0))
    max_age_minutes: float = field(default=120.0, metadata=rule("gt", 0))
    default_regime: str = field(default="NORMAL", metadata=rule("choice", REGIMES))
    elevated_threshold: float = field(default=0.4, metadata=rule("range", 0, 1))
    """Risk score (0..1) at which the regime becomes ELEVATED."""
    crisis_threshold: float = field(default=0.7, metadata=rule("range", 0, 1))
    hysteresis: float = field(default=0.05, metadata=rule("range", 0, 0.5))
    """A regime is left only when the score moves this far back past its threshold."""
    elevated_size_factor: float = field(default=0.5, metadata=rule("range", 0, 1))
    crisis_size_factor: float = field(default=0.0, metadata=rule("range", 0, 1))
    markets: list[PredictionMarket] = field(default_factory=list)


ALERT_EVENTS = (
    "trade_open", "trade_close", "stop_loss", "daily_loss_cap", "halt", "regime_change",
    "stale_feed", "reconciliation", "error", "heartbeat",
)


@dataclass
class AlertsConfig:
    enabled: bool = True
    """Alerts go out only where a channel's secrets are set (DISCORD_WEBHOOK_URL, TELEGRAM_*)."""
    telegram_api_url: str = field(default="https://api.telegram.org", metadata=rule("url"))
    """The Bot API's base URL (tests point it at a loopback fake)."""
    telegram_commands: bool = False
    """Obey commands sent to the bot (/status, /pause, /close, ...) from TELEGRAM_CHAT_ID; see the README."""
    telegram_allowed_users: list[int] = field(default_factory=list)
    """Telegram user ids allowed to send commands; required when TELEGRAM_CHAT_ID is a group (any member
    could otherwise send /flatten); when set, only these users are obeyed, in any chat type."""
    events: list[str] = field(default_factory=lambda: list(ALERT_EVENTS), metadata=rule("subset", ALERT_EVENTS))
    min_interval_s: float = field(default=2.0, metadata=rule("ge", 0))
    """Minimum spacing between messages on one channel."""
    dedupe_window_s: float = field(default=300.0, metadata=rule("ge", 0))
    """An identical alert within this window is dropped."""
    heartbeat_minutes: float = field(default=60.0, metadata=rule("ge", 0))
    """Heartbeat alert interval (0 = off)."""
    no_tick_minutes: float = field(default=10.0, metadata=rule("gt", 0))
    """The watchdog alerts when the tick loop has been silent this long."""
    timeout_s: float = field(default=10.0, metadata=rule("range_open_low", 0, 600))
    """Per-request HTTP timeout when posting an alert."""
    max_retries: int = field(default=3, metadata=rule("ge", 0))
    """Retries per alert on 429 (after the server's retry_after), 5xx, timeouts and transport errors."""


@dataclass
class LoggingConfig:
    level: str = field(default="INFO", metadata=rule("choice", ("DEBUG", "INFO", "WARNING", "ERROR")))
    file: bool = True
    """Also write the rotating log file next to the DB (the dashboard tails it)."""
    stdout: str = field(default="auto", metadata=rule("choice", ("auto", "json", "text", "off")))
    """Where the headless daemon's log lines also go: auto = JSON lines when stdout is not a terminal
    (systemd, docker), readable text when it is; json; text; off. Other commands never log to stdout."""
    max_bytes: int = field(default=5_000_000, metadata=rule("ge", 10_000))
    backups: int = field(default=3, metadata=rule("ge", 0))


@dataclass
class Secrets:
    """Values from the environment or .env only. Their repr never shows them."""

    hl_private_key: str | None = field(default=None, repr=False)
    hl_account_address: str | None = None
    discord_webhook_url: str | None = field(default=None, repr=False)
    telegram_bot_token: str | None = field(default=None, repr=False)
    telegram_chat_id: str | None = None

    ENV_NAMES: typing.ClassVar[dict[str, str]] = {
        "hl_private_key": "HL_PRIVATE_KEY",
        "hl_account_address": "HL_ACCOUNT_ADDRESS",
        "discord_webhook_url": "DISCORD_WEBHOOK_URL",
        "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
        "telegram_chat_id": "TELEGRAM_CHAT_ID",
    }

    def values(self) -> list[str]:
        """Every secret value that is set (the log redactor hides these)."""
        names = ("hl_private_key", "discord_webhook_url", "telegram_bot_token")
        return [v for v in (getattr(self, n) for n in names) if v]


@dataclass
class Settings:
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    data: DataConfig = field(default_factory=DataConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    risk: RiskConfig = field(default_factory=RiskConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    prediction: PredictionConfig = field(default_factory=PredictionConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    secrets: Secrets = field(default_factory=Secrets, repr=False)
    source: str = field(default="<defaults>", repr=False)
    """Where the settings came from, for error messages."""

    @property
    def db_path(self) -> Path:
        if self.data.db_path:
            return Path(self.data.db_path).expanduser()
        import platformdirs  # here: only a config without data.db_path needs it (~5 ms of start-up)

        return Path(platformdirs.user_data_dir("perp-bot")) / "perp_bot.db"

    @property
    def socket_path(self) -> Path:
        return self.db_path.parent / "perp-bot.sock"

    @property
    def log_path(self) -> Path:
        return self.db_path.parent / "perp-bot.log"

    def replace(self, **sections: Any) -> "Settings":
        return dataclasses.replace(self, **sections)
