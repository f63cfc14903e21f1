"""Provides the typed records of Hyperliquid /info responses and the parsers that build them.

Wire JSON becomes domain types here and nowhere else: float strings become floats, coins
become symbols. Parsers raise plain KeyError/TypeError/ValueError on a bad shape; the client
turns those into one MalformedResponseError naming the request type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perpbot.models import AssetMeta, FundingRate, Side

# A candle row as the store takes it: (symbol, interval, t, open, high, low, close, volume, n).
CandleRow = tuple[str, str, int, float, float, float, float, float, int]


@dataclass(frozen=True, slots=True)
class AssetCtx:
    """Live per-asset context from metaAndAssetCtxs."""

    symbol: str
    funding: float  # current hourly funding rate
    open_interest: float
    oracle_px: float
    mark_px: float | None
    mid_px: float | None
    premium: float | None
    day_ntl_vlm: float
    prev_day_px: float


@dataclass(frozen=True, slots=True)
class BookLevel:
    px: float
    sz: float
    n: int


@dataclass(frozen=True, slots=True)
class L2Book:
    symbol: str
    time: int
    bids: tuple[BookLevel, ...]  # best first
    asks: tuple[BookLevel, ...]  # best first


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    size: float  # signed: negative is short
    entry_px: float | None
    leverage_type: str  # cross | isolated
    leverage: float
    liquidation_px: float | None
    margin_used: float
    position_value: float
    unrealized_pnl: float
    return_on_equity: float
    funding_since_open: float = 0.0  # cumFunding.sinceOpen: paid since the position opened (negative: received)

    @property
    def mark_px(self) -> float | None:
        """The exchange's mark, as positionValue / |size|."""
        # positionValue is rounded to the cent: 6 significant figures is all the quotient holds.
        return float(f"{self.position_value / abs(self.size):.6g}") if self.size else None

    @property
    def side(self) -> Side:
        return Side.LONG if self.size > 0 else Side.SHORT


@dataclass(frozen=True, slots=True)
class AccountState:
    """A user's clearinghouseState: margin summary plus open positions."""

    account_value: float
    total_margin_used: float
    total_ntl_pos: float
    withdrawable: float
    positions: tuple[Position, ...]


@dataclass(frozen=True, slots=True)
class OpenOrder:
    symbol: str
    side: Side  # "B" (bid) is a buy, i.e. LONG
    limit_px: float
    sz: float
    oid: int
    timestamp: int
    cloid: str | None = None


@dataclass(frozen=True, slots=True)
class Fill:
    symbol: str
    px: float
    sz: float
    side: Side
    time: int
    start_position: float
    dir: str
    closed_pnl: float
    hash: str
    oid: int
    crossed: bool
    fee: float
    tid: int  # the exchange's identity of a fill (one ledger row per tid)
    cloid: str | None = None
    liquidation: bool = False


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """orderStatus: `found` is False for the exchange's "unknownOid"."""

    found: bool
    status: str | None = None  # open | filled | canceled | triggered | rejected | ...
    oid: int | None = None
    cloid: str | None = None
    symbol: str | None = None
    side: Side | None = None
    limit_px: float | None = None
    sz: float | None = None  # remaining size
    orig_sz: float | None = None
    status_timestamp: int | None = None


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _side(code: str) -> Side:
    if code == "B":
        return Side.LONG
    if code == "A":
        return Side.SHORT
    raise ValueError(f"unknown side {code!r}")


def parse_meta(data: Any) -> list[AssetMeta]:
    return [
        AssetMeta(name=str(a["name"]), index=i, sz_decimals=int(a["szDecimals"]), max_leverage=int(a["maxLeverage"]))
        for i, a in enumerate(data["universe"])
    ]


def parse_meta_and_ctxs(data: Any) -> tuple[list[AssetMeta], list[AssetCtx]]:
    meta_raw, ctxs_raw = data
    metas = parse_meta(meta_raw)
    if len(ctxs_raw) != len(metas):
        raise ValueError(f"{len(metas)} assets but {len(ctxs_raw)} contexts")
    ctxs = [
        AssetCtx(
            symbol=m.name,
            funding=float(c["funding"]),
            open_interest=float(c["openInterest"]),
            oracle_px=float(c["oraclePx"]),
            mark_px=_opt_float(c.get("markPx")),
            mid_px=_opt_float(c.get("midPx")),
            premium=_opt_float(c.get("premium")),
            day_ntl_vlm=float(c["dayNtlVlm"]),
            prev_day_px=float(c["prevDayPx"]),
        )
        for m, c in zip(metas, ctxs_raw)
    ]
    return metas, ctxs


def parse_mids(data: Any) -> dict[str, float]:
    return {str(coin): float(px) for coin, px in data.items()}


def parse_candle_page(
    data: Any, symbol: str, interval: str, closed_before_ms: int | None
) -> tuple[list[CandleRow], int | None, int | None]:
    """Rows of one candleSnapshot response, plus the min and max open time it held.

    Bars whose close time T is not before `closed_before_ms` are still forming and are left
    out of the rows (but count for the min/max, which drive pagination).
    """
    if not isinstance(data, list):
        raise TypeError(f"expected a list of candles, got {type(data).__name__}")
    if not data:
        return [], None, None
    # One tight comprehension: this loop runs 525,600 times for a year of 1m bars.
    rows = [
        (symbol, interval, int(d["t"]), float(d["o"]), float(d["h"]), float(d["l"]), float(d["c"]), float(d["v"]), int(d["n"]))
        for d in data
        if closed_before_ms is None or d["T"] < closed_before_ms
    ]
    first = data[0]["t"]
    last = data[-1]["t"]
    low, high = (first, last) if first <= last else (last, first)
    return rows, int(low), int(high)


def parse_funding(data: Any, symbol: str) -> list[FundingRate]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list of funding rates, got {type(data).__name__}")
    return [FundingRate(symbol, int(d["time"]), float(d["fundingRate"]), float(d.get("premium") or 0.0)) for d in data]


def _levels(raw: Any) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(float(lv["px"]), float(lv["sz"]), int(lv["n"])) for lv in raw)


def parse_l2_book(data: Any) -> L2Book:
    bids, asks = data["levels"]
    return L2Book(symbol=str(data["coin"]), time=int(data["time"]), bids=_levels(bids), asks=_levels(asks))


def parse_account(data: Any) -> AccountState:
    summary = data["marginSummary"]
    positions = []
    for item in data["assetPositions"]:
        p = item["position"]
        lev = p["leverage"]
        positions.append(
            Position(
                symbol=str(p["coin"]),
                size=float(p["szi"]),
                entry_px=_opt_float(p.get("entryPx")),
                leverage_type=str(lev["type"]),
                leverage=float(lev["value"]),
                liquidation_px=_opt_float(p.get("liquidationPx")),
                margin_used=float(p["marginUsed"]),
                position_value=float(p["positionValue"]),
                unrealized_pnl=float(p["unrealizedPnl"]),
                return_on_equity=float(p["returnOnEquity"]),
                funding_since_open=float((p.get("cumFunding") or {}).get("sinceOpen") or 0.0),
            )
        )
    return AccountState(
        account_value=float(summary["accountValue"]),
        total_margin_used=float(summary["totalMarginUsed"]),
        total_ntl_pos=float(summary["totalNtlPos"]),
        withdrawable=float(data["withdrawable"]),
        positions=tuple(positions),
    )


def parse_open_orders(data: Any) -> list[OpenOrder]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list of orders, got {type(data).__name__}")
    return [
        OpenOrder(str(o["coin"]), _side(o["side"]), float(o["limitPx"]), float(o["sz"]), int(o["oid"]),
                  int(o["timestamp"]), o.get("cloid"))
        for o in data
    ]


def parse_fills(data: Any) -> list[Fill]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list of fills, got {type(data).__name__}")
    return [
        Fill(
            symbol=str(f["coin"]), px=float(f["px"]), sz=float(f["sz"]), side=_side(f["side"]), time=int(f["time"]),
            start_position=float(f["startPosition"]), dir=str(f["dir"]), closed_pnl=float(f["closedPnl"]),
            hash=str(f["hash"]), oid=int(f["oid"]), crossed=bool(f["crossed"]), fee=float(f.get("fee") or 0.0),
            tid=int(f["tid"]) if f.get("tid") is not None else _synthetic_tid(f), cloid=f.get("cloid"),
            liquidation=f.get("liquidation") is not None,
        )
        for f in data
    ]


def _synthetic_tid(fill: dict[str, Any]) -> int:
    """A stable negative id for a fill without `tid` (never seen from the exchange; a guard)."""
    import hashlib  # here: a guard that never runs on the exchange's fills (~3 ms of every start-up)

    key = "|".join(str(fill.get(k)) for k in ("hash", "oid", "time", "px", "sz", "side", "startPosition"))
    return -int(hashlib.sha256(key.encode()).hexdigest()[:13], 16)


def parse_order_status(data: Any) -> OrderStatus:
    if data["status"] != "order":
        # "unknownOid" (never seen, or too old) is an answer, not an error.
        return OrderStatus(found=False, status=str(data["status"]))
    wrapper = data["order"]
    order = wrapper["order"]
    return OrderStatus(
        found=True,
        status=str(wrapper["status"]),
        oid=int(order["oid"]),
        cloid=order.get("cloid"),
        symbol=str(order["coin"]),
        side=_side(order["side"]),
        limit_px=float(order["limitPx"]),
        sz=float(order["sz"]),
        orig_sz=_opt_float(order.get("origSz")),
        status_timestamp=int(wrapper["statusTimestamp"]),
    )
