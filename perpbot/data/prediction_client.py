"""Provides the prediction-market adapters (Polymarket Gamma, Kalshi) and the poller.

Wire quirks stay here: Gamma's string-encoded arrays and string numbers, Kalshi's cents vs
dollars fields and its many market statuses. Each source turns one configured market into a
PredictionSnapshot; every failure (closed or vanished market, 429, 5xx, timeout, malformed
body) becomes a snapshot with a status and a detail instead of an exception.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from perpbot.clock import MINUTE_MS, Clock
from perpbot.config import PredictionConfig, PredictionMarket, Settings
from perpbot.data.db import Store
from perpbot.models import PredictionSnapshot
from perpbot.errors import ExchangeError, MalformedResponseError, RateLimitedError, TransientExchangeError

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 8.0
KALSHI_MAX_SPREAD = 0.10  # a wider yes bid/ask spread says little about the probability
_KALSHI_OPEN = {"active", "open"}
_KALSHI_DONE = {"closed", "settled", "determined", "finalized", "disputed", "amended"}
_KALSHI_NOT_TRADING = {"initialized", "inactive", "paused", "unopened"}


@dataclass(frozen=True, slots=True)
class Quote:
    """One market as parsed from the wire, before it is stamped into a snapshot."""

    probability: float | None
    question: str
    status: str  # ok | closed | missing | error
    detail: str = ""


class PredictionSource(ABC):
    """One prediction-market API. A new source is one subclass with `name` and `_quote`.

    Args:
        base_url: the API base (tests point it at a loopback fake).
        clock: stamps snapshots and paces retries (a FakeClock makes backoff instant).
        timeout_s: per-request timeout.
        max_retries: retries on 429, 5xx and transport errors.
        backoff_s: first retry delay; doubles per attempt, capped at max_backoff_s
            (a 429's Retry-After is honoured up to the same cap).
    """

    name: ClassVar[str]

    def __init__(self, base_url: str, clock: Clock, timeout_s: float = 10.0, max_retries: int = 2,
                 backoff_s: float = 0.5, max_backoff_s: float = MAX_BACKOFF_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s,
                                  headers={"Accept": "application/json", "User-Agent": "perp-bot"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "PredictionSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, market: PredictionMarket) -> PredictionSnapshot:
        """The market's current YES probability as a snapshot; never raises for a bad source."""
        try:
            quote = self._quote(market.id)
        except ExchangeError as exc:
            quote = Quote(None, "", "error", str(exc))
        if quote.status != "ok":
            log.warning("prediction_fetch_" + quote.status,
                        extra={"source": self.name, "market": market.id, "detail": quote.detail})
        return PredictionSnapshot(self.name, market.id, quote.question, quote.probability, quote.status,
                                  self.clock.now_ms(), quote.detail)

    @abstractmethod
    def _quote(self, market_id: str) -> Quote:
        """Fetch and parse one market (may raise ExchangeError subclasses)."""

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with bounded retries on 429, 5xx and transport errors; other statuses return."""
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                resp = self._http.get(path, params=params)
            except httpx.TimeoutException as exc:
                error: ExchangeError = TransientExchangeError(f"{self.name} {path}: timed out")
                cause: BaseException | None = exc
            except httpx.TransportError as exc:
                error, cause = TransientExchangeError(f"{self.name} {path}: {type(exc).__name__}: {exc}"), exc
            else:
                if resp.status_code == 429:
                    error, cause = RateLimitedError(f"{self.name} {path}: HTTP 429 rate limited"), None
                    retry_after = _retry_after(resp)
                elif resp.status_code >= 500:
                    error = TransientExchangeError(f"{self.name} {path}: HTTP {resp.status_code} {_error_text(resp)}")
                    cause = None
                else:
                    return resp
            if attempt == self.max_retries:
                raise error from cause
            delay = min(self.max_backoff_s, max(self.backoff_s * 2**attempt, retry_after or 0.0))
            log.info("prediction_retry", extra={"source": self.name, "path": path, "attempt": attempt + 1,
                                                "delay_s": delay, "error": str(error)})
            self.clock.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


class PolymarketSource(PredictionSource):
    """Polymarket's Gamma API: GET /markets?slug=<slug>, then /markets/<id> for numeric ids."""

    name = "polymarket"

    def _quote(self, market_id: str) -> Quote:
        body = _json(self._ok(self._get("/markets", {"slug": market_id})))
        if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
            raise MalformedResponseError(f"polymarket /markets: expected a list of markets, got {_kind(body)}")
        item = next((m for m in body if m.get("slug") == market_id), body[0] if body else None)
        if item is None and market_id.isdigit():
            resp = self._get(f"/markets/{market_id}")
            if resp.status_code == 404:
                return Quote(None, "", "missing", f"no market with slug or id {market_id!r} ({_error_text(resp)})")
            item = _json(self._ok(resp))
            if not isinstance(item, dict):
                raise MalformedResponseError(f"polymarket /markets/{market_id}: expected a market, got {_kind(item)}")
        if item is None:
            return Quote(None, "", "missing", f"no market with slug {market_id!r}")
        return parse_gamma_market(item)

    def _ok(self, resp: httpx.Response) -> httpx.Response:
        if resp.status_code != 200:
            raise ExchangeError(f"polymarket {resp.request.url.path}: HTTP {resp.status_code} {_error_text(resp)}")
        return resp


class KalshiSource(PredictionSource):
    """Kalshi's public market data: GET /markets/<ticker> -> {"market": {...}}."""

    name = "kalshi"

    def _quote(self, market_id: str) -> Quote:
        resp = self._get(f"/markets/{quote(market_id, safe='')}")
        if resp.status_code == 404:
            return Quote(None, "", "missing", f"no market with ticker {market_id!r} ({_error_text(resp)})")
        if resp.status_code != 200:
            raise ExchangeError(f"kalshi /markets/{market_id}: HTTP {resp.status_code} {_error_text(resp)}")
        body = _json(resp)
        market = body.get("market") if isinstance(body, dict) else None
        if not isinstance(market, dict):
            raise MalformedResponseError(f"kalshi /markets/{market_id}: expected {{\"market\": {{...}}}}, got {_kind(body)}")
        return parse_kalshi_market(market)


SOURCES: dict[str, type[PredictionSource]] = {"polymarket": PolymarketSource, "kalshi": KalshiSource}


# --- wire parsing (pure) ---------------------------------------------------------------


def parse_gamma_market(item: Mapping[str, Any]) -> Quote:
    """A Gamma market object -> the YES probability (the price at the "Yes" outcome's index).

    Raises:
        MalformedResponseError: missing or undecodable outcomes/prices, no Yes outcome,
            or a price outside [0, 1].
    """
    question = str(item.get("question") or "")
    outcomes = [str(o).strip().lower() for o in _array(item.get("outcomes"), "outcomes")]
    prices = [_number(p, "outcomePrices") for p in _array(item.get("outcomePrices"), "outcomePrices")]
    if len(outcomes) != len(prices):
        raise MalformedResponseError(f"polymarket: {len(outcomes)} outcomes but {len(prices)} prices")
    if "yes" not in outcomes:
        raise MalformedResponseError(f"polymarket: market has no Yes outcome (outcomes {outcomes})")
    p = prices[outcomes.index("yes")]
    if not 0.0 <= p <= 1.0:
        raise MalformedResponseError(f"polymarket: Yes price {p} is outside [0, 1]")
    if item.get("closed") is True:
        # A resolved market's prices are pinned at 0/1: a record, not a signal.
        return Quote(p, question, "closed", "market closed (resolved or ended)")
    if item.get("active") is False:
        return Quote(p, question, "closed", "market not active")
    return Quote(p, question, "ok")


def parse_kalshi_market(m: Mapping[str, Any]) -> Quote:
    """A Kalshi market object -> the YES probability.

    Prices: the `*_dollars` string fields when present, else integer cents / 100. The
    probability is the yes bid/ask mid when both sides are quoted and the spread is at most
    KALSHI_MAX_SPREAD, else the last trade price.
    """
    question = str(m.get("title") or "")
    subtitle = str(m.get("subtitle") or m.get("yes_sub_title") or "")
    if subtitle and subtitle not in question:
        question = f"{question} ({subtitle})" if question else subtitle
    status = str(m.get("status") or "").lower()
    bid, ask, last = (_kalshi_price(m, f) for f in ("yes_bid", "yes_ask", "last_price"))
    p: float | None = None
    how = ""
    if bid is not None and ask is not None and 0.0 < bid <= ask < 1.0 and ask - bid <= KALSHI_MAX_SPREAD:
        p, how = (bid + ask) / 2.0, "mid"
    elif last is not None and 0.0 < last < 1.0:
        p, how = last, "last trade"  # 0 means no trade yet; 1 only happens once resolved
    if status in _KALSHI_DONE:
        return Quote(p, question, "closed", f"market {status}")
    if status in _KALSHI_NOT_TRADING:
        return Quote(p, question, "closed", f"market not trading (status {status})")
    if status not in _KALSHI_OPEN:
        raise MalformedResponseError(f"kalshi: unknown market status {status!r}")
    if p is None:
        return Quote(None, question, "error", f"no usable price (yes bid {bid}, ask {ask}, last {last})")
    return Quote(p, question, "ok", how)


def _kalshi_price(m: Mapping[str, Any], field: str) -> float | None:
    dollars = m.get(f"{field}_dollars")
    if dollars is not None and dollars != "":
        return _number(dollars, f"{field}_dollars")
    cents = m.get(field)
    if cents is None:
        return None
    return _number(cents, field) / 100.0


def _array(value: Any, field: str) -> list[Any]:
    """Gamma encodes arrays as JSON strings ('["Yes", "No"]'); accept real arrays too."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MalformedResponseError(f"polymarket: {field} is not a JSON array ({value[:40]!r})") from None
    if not isinstance(value, list):
        raise MalformedResponseError(f"polymarket: {field} missing or not an array ({_kind(value)})")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise MalformedResponseError(f"{field}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MalformedResponseError(f"{field}: expected a number, got {value!r}") from None
    if number != number:  # NaN
        raise MalformedResponseError(f"{field}: expected a number, got NaN")
    return number


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        snippet = resp.text[:60].replace("\n", " ")
        raise MalformedResponseError(f"{resp.request.url.path}: body is not JSON ({snippet!r})") from None


def _error_text(resp: httpx.Response) -> str:
    """The message of an error body: {"error": "..."}, {"error": {"message": ...}} or text."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:120].strip()
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:120]
        return str(err)[:120]
    return str(body)[:120]


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", "")))
    except ValueError:
        return None  # an HTTP-date or junk: fall back to our own backoff


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


# --- polling -----------------------------------------------------------------------------


def build_sources(cfg: PredictionConfig, clock: Clock, backoff_s: float = 0.5,
                  max_backoff_s: float = MAX_BACKOFF_S) -> dict[str, PredictionSource]:
    """One client per source named in cfg.markets (close them when done)."""
    urls = {"polymarket": cfg.polymarket_url, "kalshi": cfg.kalshi_url}
    names = sorted({m.source for m in cfg.markets})
    return {n: SOURCES[n](urls[n], clock, cfg.timeout_s, cfg.max_retries, backoff_s, max_backoff_s) for n in names}


def poll_markets(settings: Settings, store: Store, clock: Clock,
                 sources: Mapping[str, PredictionSource] | None = None,
                 stamp_ms: int | None = None) -> list[PredictionSnapshot]:
    """Poll every configured market once and store one snapshot each (failures included).

    Args:
        sources: clients to use (kept open); None builds them from settings and closes them.
        stamp_ms: the time the snapshots count from (the engine's tick); None stamps each with
            the end of its own fetch.
    """
    cfg = settings.prediction
    owned = build_sources(cfg, clock) if sources is None else None
    clients = owned if owned is not None else sources or {}
    try:
        snaps = [_fetch(clients, m, clock) for m in cfg.markets]
        if stamp_ms is not None:
            snaps = [replace(s, fetched_at=stamp_ms) for s in snaps]
    finally:
        for client in (owned or {}).values():
            client.close()
    if snaps:
        store.insert_snapshots(snaps)
    log.info("prediction_poll", extra={"markets": len(snaps), "ok": sum(s.status == "ok" for s in snaps)})
    return snaps


def _fetch(clients: Mapping[str, PredictionSource], market: PredictionMarket, clock: Clock) -> PredictionSnapshot:
    client = clients.get(market.source)
    if client is None:
        return PredictionSnapshot(market.source, market.id, "", None, "error", clock.now_ms(),
                                  f"no client for source {market.source!r}")
    return client.fetch(market)


class PredictionPoller:
    """Polls on its own schedule (prediction.poll_minutes), decoupled from evaluation.

    The first call after a start polls unless the store already holds a snapshot younger
    than the interval, so restarts do not hammer the APIs.
    """

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.interval_ms = int(settings.prediction.poll_minutes * MINUTE_MS)
        self._sources: dict[str, PredictionSource] = build_sources(settings.prediction, clock)
        self._next_ms: int | None = None

    def poll_if_due(self, now_ms: int | None = None) -> list[PredictionSnapshot] | None:
        """Poll when due; returns the new snapshots, or None when it was not time yet."""
        now = self.clock.now_ms() if now_ms is None else now_ms
        if self._next_ms is None:
            stored = [s.fetched_at for s in self.store.latest_snapshots(now)]
            self._next_ms = max(stored) + self.interval_ms if stored else now
        if now < self._next_ms or not self.settings.prediction.markets:
            return None
        self._next_ms = now + self.interval_ms
        # Stamped with the tick's time: the tick that polled uses them, and a backtest replaying
        # the stored snapshots sees them at the same bar (a fetch stamp would land after the bar
        # close by the requests' latency, and the backtest would use them one bar later).
        return poll_markets(self.settings, self.store, self.clock, self._sources, stamp_ms=now)

    def close(self) -> None:
        for client in self._sources.values():
            client.close()
