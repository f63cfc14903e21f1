"""Provides the typed configuration model, its loader and validation.

Config comes from `config.yaml` (PyYAML) plus `.env` (python-dotenv), in the working
directory or next to an explicit `--config` path. Secrets come only from the environment.
Every other module receives a `Settings` object; nothing else reads `os.environ`. The checks of
single values live in config_values.py (INTERVALS and normalize_symbols are imported from here).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml
from dotenv import dotenv_values

from perpbot.config_values import INTERVALS, check_rule, normalize_symbols, one_line, rule, scalar, shown  # noqa: F401
from perpbot.errors import ConfigError

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
        return Path(platformdirs.user_data_dir("perp-bot")) / "perp_bot.db"

    @property
    def socket_path(self) -> Path:
        return self.db_path.parent / "perp-bot.sock"

    @property
    def log_path(self) -> Path:
        return self.db_path.parent / "perp-bot.log"

    def replace(self, **sections: Any) -> "Settings":
        return dataclasses.replace(self, **sections)


# --- loading -----------------------------------------------------------------------------

_SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings) if f.name not in ("secrets", "source")}


def load_settings(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Load config.yaml (+ .env) and validate it.

    Args:
        path: explicit config file; None looks for config.yaml in `cwd`, which may be absent.
        overrides: `section.key=value` strings (values parsed as YAML), applied before validation.
        env: the process environment (defaults to os.environ); .env values fill gaps in it.
        cwd: the working directory (defaults to the current one).

    Raises:
        ConfigError: naming the file, the key path, the bad value and the rule.
    """
    cwd = cwd or Path.cwd()
    if path is not None:
        cfg_path = Path(path).expanduser()
        if not cfg_path.is_file():
            what = "is a directory, not a file" if cfg_path.is_dir() else "not found"
            raise ConfigError(f"config file {cfg_path} {what}", "check the --config path")
        base_dir = cfg_path.parent
    else:
        cfg_path = cwd / "config.yaml"
        base_dir = cwd
    raw = _read_yaml(cfg_path) if cfg_path.is_file() else {}
    source = cfg_path.name if cfg_path.is_file() else "config"
    if not isinstance(raw, dict):
        build_settings(raw, source=source)  # raises: the top level must be a mapping
    for item in overrides or []:
        _apply_override(raw, item)
    settings = build_settings(raw, source=source)
    if cfg_path.is_file() and settings.data.db_path and not Path(settings.data.db_path).expanduser().is_absolute():
        # A relative db_path is relative to the config file, not to wherever the user stands.
        settings.data.db_path = str((base_dir / settings.data.db_path).resolve())
    settings.secrets = _load_secrets(base_dir / ".env", os.environ if env is None else env)
    return settings


def build_settings(raw: dict[str, Any], source: str = "config") -> Settings:
    """Validate a plain dict (as read from YAML) into Settings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (got {type(raw).__name__})",
                          "start with a section name such as `strategy:`")
    sections = {}
    for key, value in raw.items():
        if key not in _SECTIONS:
            raise ConfigError(_unknown(source, key, list(_SECTIONS)))
        sections[key] = _build(_SECTIONS[key], value, key, source)
    settings = Settings(**sections, source=source)
    _check_cross_fields(settings, source)
    return settings


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
                          "save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}:{line} YAML syntax error: {one_line(exc.problem)}",
                          "fix the YAML at that line") from None
    except yaml.YAMLError as exc:  # e.g. a control character (ReaderError), which carries no mark
        raise ConfigError(f"{path.name}: YAML error: {one_line(str(exc))}", "fix the file") from None
    except (RecursionError, ValueError, OverflowError) as exc:  # nesting too deep, a 5000-digit number
        raise ConfigError(f"{path.name}: YAML that cannot be read ({type(exc).__name__})",
                          "fix the file: keep nesting shallow and numbers of normal size") from None
    return data if data is not None else {}


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"--set {item!r} must look like section.key=value", "e.g. --set strategy.entry_z=2.5")
    node = raw
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    try:
        node[leaf] = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        node[leaf] = text


def check_key(path: str, value: Any, source: str = "config") -> Any:
    """`value` for the key `section.key`, typed and checked by that key's own rule (sweeps use it).

    Cross-field rules (exit_z below entry_z, ...) are not applied: they need the whole Settings.

    Raises:
        ConfigError: an unknown key (with a did-you-mean), a wrong type or a broken rule.
    """
    sections = {name: eval(tp, globals()) if isinstance(tp, str) else tp for name, tp in _SECTIONS.items()}
    section = path.partition(".")[0]
    fields = {f"{s}.{f.name}": f for s, cls in sections.items() for f in dataclasses.fields(cls)}
    if path not in fields:
        near = [k for k in fields if k.startswith(section + ".")] or list(fields)
        raise ConfigError(_unknown(source, path, near))
    f = fields[path]
    built = _build(f.type, value, path, source)
    check_rule(f.metadata.get("rule"), built, path, source)
    return built


def _unknown(where: str, key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
    return f"{where}: unknown key {key!r}{hint}"


def _build(tp: Any, value: Any, path: str, source: str) -> Any:
    """Coerce `value` to the type `tp`, recursing into dataclasses and lists."""
    if isinstance(tp, str):
        tp = eval(tp, globals())  # annotations are strings under `from __future__ import annotations`
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path, source)
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _build(args[0], value, path, source)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {path} must be a list (got {shown(value)})")
        return [_build(item_tp, v, f"{path}[{i}]", source) for i, v in enumerate(value)]
    return scalar(tp, value, path, source)


def _build_dataclass(cls: Any, value: Any, path: str, source: str) -> Any:
    if value is None:
        return cls()
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {path} must be a mapping (got {shown(value)})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, item in value.items():
        if key not in fields:
            raise ConfigError(_unknown(source, f"{path}.{key}", [f"{path}.{k}" for k in fields]))
        f = fields[key]
        built = _build(f.type, item, f"{path}.{key}", source)
        check_rule(f.metadata.get("rule"), built, f"{path}.{key}", source)
        kwargs[key] = built
    return cls(**kwargs)


def _check_cross_fields(s: Settings, source: str) -> None:
    if s.strategy.rsi_oversold >= s.strategy.rsi_overbought:
        raise ConfigError(
            f"{source}: strategy.rsi_oversold must be below strategy.rsi_overbought "
            f"(got {s.strategy.rsi_oversold} and {s.strategy.rsi_overbought})"
        )
    if s.strategy.exit_z >= s.strategy.entry_z:
        raise ConfigError(
            f"{source}: strategy.exit_z must be below strategy.entry_z (got {s.strategy.exit_z} and {s.strategy.entry_z})"
        )
    if s.prediction.elevated_threshold >= s.prediction.crisis_threshold:
        raise ConfigError(f"{source}: prediction.elevated_threshold must be below prediction.crisis_threshold")
    s.data.symbols = normalize_symbols(s.data.symbols, f"{source}: data.symbols")
    if not s.data.timeframes:
        raise ConfigError(f"{source}: data.timeframes must name at least one interval", "e.g. [1m, 15m]")
    if s.data.db_path is not None and "\0" in s.data.db_path:
        raise ConfigError(f"{source}: data.db_path contains a NUL character", "write a plain file path")
    margin = 1.0 / s.risk.leverage
    if s.risk.stop_loss_pct >= margin:
        # At this distance the margin is gone (liquidation comes earlier still): the stop would never act.
        raise ConfigError(f"{source}: risk.stop_loss_pct {s.risk.stop_loss_pct:g} must be below 1 / risk.leverage "
                          f"= {margin:.4g} (the whole margin at leverage {s.risk.leverage:g})",
                          "lower risk.stop_loss_pct or risk.leverage")
    for i, market in enumerate(s.prediction.markets):
        if not market.id:
            raise ConfigError(f"{source}: prediction.markets[{i}].id must be set (a slug, id or ticker)")


def _load_secrets(dotenv_path: Path, env: typing.Mapping[str, str]) -> Secrets:
    file_values: dict[str, str] = {}
    if dotenv_path.is_file():
        try:
            file_values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
        except UnicodeDecodeError:
            raise ConfigError(f"{dotenv_path} is not UTF-8 text", "save .env as UTF-8") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {dotenv_path}: {exc.strerror or exc}") from None
    merged = {**file_values, **{k: v for k, v in env.items() if v}}
    return Secrets(**{attr: merged.get(name) or None for attr, name in Secrets.ENV_NAMES.items()})


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """The non-secret settings as a plain dict (for result files and `--set` round trips)."""
    return {name: dataclasses.asdict(getattr(settings, name)) for name in _SECTIONS}
