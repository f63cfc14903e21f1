"""Provides the account /info types beyond the basics: history, fees, rate limits, portfolio, spot, settings.

historicalOrders, userFunding, userNonFundingLedgerUpdates, userFees, userRateLimit, portfolio,
subAccounts, spotClearinghouseState, userAbstraction, maxBuilderFee, referral, extraAgents,
userVaultEquities, userTwapSliceFills and the staking queries, in the shapes recorded from the
exchange (python SDK cassettes, ccxt's comments). Every answer first replays the market to now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from perpbot.clock import DAY_MS
from perpbot.sim.account_views import frontend_order
from perpbot.sim.assets import fmt_num
from perpbot.sim.extras import Extras
from perpbot.sim.history import History, in_range
from perpbot.sim.info import body_field, body_user, dumps
from perpbot.sim.ledger import MAKER_FEE, TAKER_FEE, Ledger

Handler = Callable[[dict[str, Any], int], str]
MAX_HISTORICAL_ORDERS = 2000
RATE_LIMIT_BASE = 10_000  # requests allowed before any volume, then one per USDC traded
_PERIODS = {"day": DAY_MS, "week": 7 * DAY_MS, "month": 30 * DAY_MS, "allTime": None}
_AUCTION = {"startTimeSeconds": 0, "durationSeconds": 111600, "startGas": "500.0", "currentGas": None, "endGas": None}
_VIP = [("5000000.0", "0.0004", "0.00012"), ("25000000.0", "0.00035", "0.00008"), ("100000000.0", "0.0003", "0.00004"),
        ("500000000.0", "0.00028", "0.0"), ("2000000000.0", "0.00026", "0.0"), ("7000000000.0", "0.00024", "0.0")]


class AccountInfo:
    """The handlers; `sync(now)` replays the market (fills, stops, funding) before each answer."""

    def __init__(self, ledger: Ledger, history: History, extras: Extras, sync: Callable[[int], None]) -> None:
        self.ledger, self.history, self.extras, self._sync = ledger, history, extras, sync

    def handlers(self) -> dict[str, Handler]:
        empty_list: Handler = lambda b, now: (body_user(b), "[]")[1]  # noqa: E731 - the user is still checked
        return {
            "historicalOrders": self._locked(self._historical_orders),
            "userFunding": self._locked(self._user_funding),
            "userNonFundingLedgerUpdates": self._locked(self._ledger_updates),
            "userFees": self._locked(self._user_fees),
            "userRateLimit": self._locked(self._rate_limit),
            "portfolio": self._locked(self._portfolio),
            "spotClearinghouseState": self._locked(self._spot_state),
            "subAccounts": lambda b, now: (body_user(b), "null")[1],
            "userAbstraction": self._locked(lambda b, now: dumps(self.extras.of(body_user(b)).abstraction)),
            "userDexAbstraction": lambda b, now: (body_user(b), "false")[1],
            "maxBuilderFee": self._locked(self._max_builder_fee),
            "referral": self._locked(self._referral),
            "extraAgents": self._locked(self._extra_agents),
            "userVaultEquities": empty_list, "userTwapSliceFills": empty_list, "twapHistory": empty_list,
            "delegations": empty_list, "delegatorHistory": empty_list, "delegatorRewards": empty_list,
            "userToMultiSigSigners": lambda b, now: (body_user(b), "null")[1],
            "spotDeployState": lambda b, now: (body_user(b), dumps({"states": [], "gasAuction": _AUCTION}))[1],
            "perpDeployAuctionStatus": lambda b, now: dumps(_AUCTION),
            "delegatorSummary": lambda b, now: (body_user(b), dumps({
                "delegated": "0.0", "undelegated": "0.0", "totalPendingWithdrawal": "0.0", "nPendingWithdrawals": 0}))[1],
        }

    def _locked(self, fn: Handler) -> Handler:
        def run(body: dict[str, Any], now: int) -> str:
            with self.ledger.lock:
                self._sync(now)
                return fn(body, now)
        return run

    def _historical_orders(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        orders = [o for o in self.ledger.orders.values() if o.user == user]
        rows = [{"order": frontend_order(o), "status": o.status, "statusTimestamp": o.status_ts}
                for o in reversed(orders[-MAX_HISTORICAL_ORDERS:])]
        return dumps(rows)

    def _time_range(self, body: dict[str, Any]) -> tuple[int, int | None]:
        start = body_field(body, "startTime", int, optional=True) or 0  # ccxt omits it; the exchange defaults it
        return start, body_field(body, "endTime", int, optional=True)

    def _user_funding(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        return dumps(in_range(self.history.of(user).fundings, *self._time_range(body)))

    def _ledger_updates(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        return dumps(in_range(self.history.of(user).updates, *self._time_range(body)))

    def _volume(self, user: str, since_ms: int = 0) -> tuple[float, float]:
        """(taker, maker) notional traded since a time."""
        account = self.ledger.accounts.get(user)
        taker = maker = 0.0
        for f in account.fills if account else []:
            if f["time"] >= since_ms:
                ntl = float(f["px"]) * float(f["sz"])
                taker, maker = (taker + ntl, maker) if f["crossed"] else (taker, maker + ntl)
        return taker, maker

    def _user_fees(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        days = []
        for k in range(14, -1, -1):
            day0 = (now // DAY_MS - k) * DAY_MS
            taker, maker = (a - b for a, b in zip(self._volume(user, day0), self._volume(user, day0 + DAY_MS)))
            date = _date(day0)
            days.append({"date": date, "userCross": fmt_num(round(taker, 2)), "userAdd": fmt_num(round(maker, 2)),
                         "exchange": "0.0"})
        schedule = {
            "cross": fmt_num(TAKER_FEE), "add": fmt_num(MAKER_FEE), "spotCross": "0.0007", "spotAdd": "0.0004",
            "tiers": {"vip": [{"ntlCutoff": n, "cross": c, "add": a, "spotCross": c, "spotAdd": a} for n, c, a in _VIP],
                      "mm": [{"makerFractionCutoff": "0.005", "add": "-0.00001"},
                             {"makerFractionCutoff": "0.015", "add": "-0.00002"},
                             {"makerFractionCutoff": "0.03", "add": "-0.00003"}]},
            "referralDiscount": "0.04", "stakingDiscountTiers": [{"bpsOfMaxSupply": "0.0", "discount": "0.0"}],
        }
        return dumps({"dailyUserVlm": days, "feeSchedule": schedule, "userCrossRate": fmt_num(TAKER_FEE),
                      "userAddRate": fmt_num(MAKER_FEE), "userSpotCrossRate": "0.0007", "userSpotAddRate": "0.0004",
                      "activeReferralDiscount": "0.0", "trial": None, "feeTrialReward": "0.0",
                      "nextTrialAvailableTimestamp": None, "stakingLink": None, "activeStakingDiscount":
                      {"bpsOfMaxSupply": "0.0", "discount": "0.0"}})

    def _rate_limit(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        volume = sum(self._volume(user))
        used = sum(1 for o in self.ledger.orders.values() if o.user == user)
        return dumps({"cumVlm": fmt_num(round(volume, 6)), "nRequestsUsed": used,
                      "nRequestsCap": RATE_LIMIT_BASE + int(volume), "nRequestsSurplus": 0})

    def _portfolio(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        points = list(self.history.of(user).points)
        if user in self.ledger.accounts:
            h = self.history.of(user)
            value = self.ledger.account_value(user, now) + self.ledger.accounts[user].spot_usdc
            points.append((now, value, value - h.net_deposits, 0.0))
        out = []
        for prefix in ("", "perp"):
            for name, span in _PERIODS.items():
                kept = [p for p in points if span is None or p[0] >= now - span]
                base = kept[0][2] if kept else 0.0
                key = prefix + name[0].upper() + name[1:] if prefix else name
                out.append([key, {"accountValueHistory": [[t, fmt_num(round(v, 6))] for t, v, _, _ in kept],
                                  "pnlHistory": [[t, fmt_num(round(p - base, 6))] for t, _, p, _ in kept],
                                  "vlm": fmt_num(round(sum(x for *_, x in kept), 6))}])
        return dumps(out)

    def _spot_state(self, body: dict[str, Any], now: int) -> str:
        account = self.ledger.accounts.get(body_user(body))
        balances = [] if account is None else [
            {"coin": "USDC", "token": 0, "hold": "0.0", "total": fmt_num(round(account.spot_usdc, 8)), "entryNtl": "0.0"}]
        return dumps({"balances": balances})

    def _max_builder_fee(self, body: dict[str, Any], now: int) -> str:
        builder = str(body_field(body, "builder", str)).lower()
        return dumps(self.extras.of(body_user(body)).builder_fees.get(builder, 0))

    def _referral(self, body: dict[str, Any], now: int) -> str:
        settings = self.extras.of(body_user(body))
        referred = None if settings.referrer is None else {"referrer": "0x" + "0" * 40, "code": settings.referrer}
        return dumps({"referredBy": referred, "cumVlm": fmt_num(round(sum(self._volume(body_user(body))), 6)),
                      "unclaimedRewards": "0.0", "claimedRewards": "0.0", "builderRewards": "0.0",
                      "referrerState": {"stage": "needToTrade", "data": {"required": "10000.0"}}, "rewardHistory": []})

    def _extra_agents(self, body: dict[str, Any], now: int) -> str:
        user = body_user(body)
        return dumps([{"name": name, "address": agent, "validUntil": now + 180 * DAY_MS}
                      for agent, (owner, name) in self.ledger.agents.items() if owner == user and name])


def _date(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d")
