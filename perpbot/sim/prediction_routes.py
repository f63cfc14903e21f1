"""Provides the simulator's prediction-market routes: Gamma under /polymarket, Kalshi's market data under /kalshi.

    GET /polymarket/markets?slug=..&id=..&closed=..&limit=..&offset=..   -> [market, ...]
    GET /polymarket/markets/<id>                                          -> market | 404
    GET /kalshi/markets?tickers=..&event_ticker=..&status=..              -> {"markets": [...], "cursor": ""}
    GET /kalshi/markets/<ticker>                                          -> {"market": {...}} | 404

Read-only and stateless: each answer is computed from the simulator's clock (see
`perpbot.sim.prediction`). The fault injector does not reach these routes.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from perpbot.sim.prediction import KALSHI_PATH, POLYMARKET_PATH, SimPredictionMarkets

_GAMMA_PAGE = 100  # Gamma's default page size


def prediction_routes(markets: SimPredictionMarkets, now_ms: Callable[[], int]) -> list[BaseRoute]:
    """Mounts for both APIs, answering at `now_ms()` (the simulator's clock)."""

    async def gamma_list(request: Request) -> JSONResponse:
        q = request.query_params
        slugs, ids = set(q.getlist("slug")), set(q.getlist("id"))
        found = [m for m in markets.of("polymarket")
                 if (not slugs or m.market_id in slugs) and (not ids or m.numeric_id in ids)]
        if q.get("closed", "").lower() == "true" or q.get("active", "").lower() == "false":
            found = []  # the simulated markets never close
        try:
            offset, limit = max(0, int(q.get("offset", "0"))), max(0, int(q.get("limit", str(_GAMMA_PAGE))))
        except ValueError:
            return JSONResponse({"error": "invalid limit or offset"}, 400)
        now = now_ms()
        return JSONResponse([markets.gamma_market(m, now) for m in found[offset:offset + limit]])

    async def gamma_one(request: Request) -> JSONResponse:
        wanted = request.path_params["market_id"]
        for m in markets.of("polymarket"):
            if m.numeric_id == wanted:
                return JSONResponse(markets.gamma_market(m, now_ms()))
        return JSONResponse({"type": "not found error", "error": "id not found"}, 404)

    async def kalshi_list(request: Request) -> JSONResponse:
        q = request.query_params
        tickers = {t for t in q.get("tickers", "").split(",") if t}
        event, series, status = q.get("event_ticker"), q.get("series_ticker"), q.get("status")
        now = now_ms()
        rows = [markets.kalshi_market(m, now) for m in markets.of("kalshi") if not tickers or m.market_id in tickers]
        rows = [r for r in rows if (event is None or r["event_ticker"] == event)
                and (series is None or r["event_ticker"].startswith(series))
                and (status is None or status in ("open", "active"))]
        return JSONResponse({"markets": rows, "cursor": ""})

    async def kalshi_one(request: Request) -> JSONResponse:
        ticker = request.path_params["ticker"]
        for m in markets.of("kalshi"):
            if m.market_id == ticker:
                return JSONResponse({"market": markets.kalshi_market(m, now_ms())})
        return JSONResponse({"error": {"code": "not_found", "message": "market not found", "service": "exchange"}},
                            404)

    return [
        Mount(POLYMARKET_PATH, routes=[Route("/markets", gamma_list, methods=["GET"]),
                                       Route("/markets/{market_id}", gamma_one, methods=["GET"])]),
        Mount(KALSHI_PATH, routes=[Route("/markets", kalshi_list, methods=["GET"]),
                                   Route("/markets/{ticker}", kalshi_one, methods=["GET"])]),
    ]
