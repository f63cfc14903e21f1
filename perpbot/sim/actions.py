"""Provides the /exchange actions beyond orders and cancels: scheduleCancel, margin, transfers, settings, refusals.

Signed like the exchange signs them: the L1 actions (scheduleCancel, updateIsolatedMargin,
setReferrer, createSubAccount, ...) pass the same signer, nonce, vault and expiry checks as an
order before `dispatch` runs them; the user-signed ones (approveBuilderFee, usdClassTransfer)
recover their EIP-712 signer here. What the simulator does not model (staking, validators,
deploys, multi-sig, vaults, TWAP, withdrawals and sends) answers with the exchange's error
shape, `{"status": "err", "response": text}`, as docs/simulator.md lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hyperliquid.utils.signing import USD_CLASS_TRANSFER_SIGN_TYPES, recover_user_from_user_signed_action

from perpbot.clock import DAY_MS
from perpbot.sim.extras import (SCHEDULE_CANCEL_DAILY_TRIGGERS, SCHEDULE_CANCEL_MIN_LEAD_MS, Extras,
                                fee_rate_tenths_bp)
from perpbot.sim.history import History
from perpbot.sim.ledger import Ledger
from perpbot.sim.exchange import SIGNATURE_ERRORS
from perpbot.sim.orders import WireError

OK: dict[str, Any] = {"status": "ok", "response": {"type": "default"}}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BUILDER_TYPES = [{"name": "hyperliquidChain", "type": "string"}, {"name": "maxFeeRate", "type": "string"},
                  {"name": "builder", "type": "address"}, {"name": "nonce", "type": "uint64"}]
USER_SIGNED = {"approveBuilderFee": (_BUILDER_TYPES, "HyperliquidTransaction:ApproveBuilderFee"),
               "usdClassTransfer": (USD_CLASS_TRANSFER_SIGN_TYPES, "HyperliquidTransaction:UsdClassTransfer")}
L1_ACTIONS = ("scheduleCancel", "updateIsolatedMargin", "setReferrer", "createSubAccount", "reserveRequestWeight",
              "evmUserModify")
# Not modelled: refused with the exchange's error shape, naming what is missing.
REFUSED = {
    **dict.fromkeys(("tokenDelegate", "claimRewards", "linkStakingUser"), "staking"),
    **dict.fromkeys(("CValidatorAction", "CSignerAction", "gossipPriorityBid"), "validator actions"),
    **dict.fromkeys(("spotDeploy", "perpDeploy"), "asset deployment"),
    **dict.fromkeys(("multiSig", "convertToMultiSigUser"), "multi-sig accounts"),
    **dict.fromkeys(("createVault", "vaultTransfer", "vaultModify", "vaultDistribute"), "vaults"),
    **dict.fromkeys(("twapOrder", "twapCancel"), "TWAP orders"),
    **dict.fromkeys(("usdSend", "spotSend", "withdraw3", "sendAsset", "subAccountTransfer", "subAccountSpotTransfer"),
                    "transfers out of the account"),
    **dict.fromkeys(("userSetAbstraction", "agentSetAbstraction", "userDexAbstraction", "agentEnableDexAbstraction"),
                    "account abstraction (unified or portfolio margin)"),
    "topUpIsolatedOnlyMargin": "isolated-only assets",
}
SCHEDULE_CANCEL_MIN_VOLUME = 1_000_000.0  # the exchange's volume gate (recorded in ccxt's comments)
SUB_ACCOUNT_MIN_VOLUME = 100_000.0


def err(text: str) -> dict[str, Any]:
    return {"status": "err", "response": text}


def kinds() -> set[str]:
    return set(USER_SIGNED) | set(L1_ACTIONS) | set(REFUSED)


class ExtraActions:
    """The extra actions against the ledger (callers hold its lock)."""

    def __init__(self, ledger: Ledger, extras: Extras, history: History, is_mainnet: bool,
                 admit_nonce: Callable[[str, int, int], str | None], schedule_cancel_min_volume: float) -> None:
        self.ledger, self.extras, self.history, self.is_mainnet = ledger, extras, history, is_mainnet
        self._admit_nonce = admit_nonce
        self.schedule_cancel_min_volume = schedule_cancel_min_volume

    # --- user-signed ------------------------------------------------------------------------

    def user_signed(self, kind: str, action: dict[str, Any], signature: dict[str, Any], nonce: int,
                    now: int) -> dict[str, Any]:
        types, primary = USER_SIGNED[kind]
        if action.get("nonce") != nonce:
            return err("Nonce mismatch.")
        if action.get("hyperliquidChain") != ("Mainnet" if self.is_mainnet else "Testnet"):
            return err(f"Invalid hyperliquidChain {action.get('hyperliquidChain')!r} for this network.")
        message = {k: v for k, v in action.items() if k != "type"}
        try:
            user = str(recover_user_from_user_signed_action(message, signature, types, primary, self.is_mainnet)).lower()
        except SIGNATURE_ERRORS as exc:
            raise WireError(f"action: signature cannot be recovered ({exc})") from exc
        if user not in self.ledger.accounts:
            return err(f"Must deposit before performing actions. User: {user}")
        problem = self._admit_nonce(user, nonce, now)
        if problem:
            return err(problem)
        if kind == "approveBuilderFee":
            return self._approve_builder(user, action)
        return self._class_transfer(user, action, now)

    def _approve_builder(self, user: str, action: dict[str, Any]) -> dict[str, Any]:
        builder, rate = action.get("builder"), fee_rate_tenths_bp(str(action.get("maxFeeRate", "")))
        if not isinstance(builder, str) or not _ADDRESS.match(builder):
            raise WireError(f"action.builder: invalid address {builder!r}")
        if rate is None:
            return err(f"Invalid max fee rate {action.get('maxFeeRate')!r}: expected a percentage such as 0.01%.")
        self.extras.of(user).builder_fees[builder.lower()] = rate
        return dict(OK)

    def _class_transfer(self, user: str, action: dict[str, Any], now: int) -> dict[str, Any]:
        text, to_perp = str(action.get("amount", "")), action.get("toPerp")
        if " subaccount:" in text:
            return err("The simulator does not model sub-accounts.")
        try:
            usd = float(text)
        except ValueError:
            raise WireError(f"action.amount: invalid float string {text!r}") from None
        if not isinstance(to_perp, bool) or not usd > 0:
            raise WireError("action: expected amount > 0 and toPerp: bool")
        account = self.ledger.accounts[user]
        available = account.spot_usdc if to_perp else self.ledger.free_margin(user, now)
        if usd > available + 1e-9:
            return err("Insufficient balance for transfer.")  # the simulator's wording (unverified)
        sign = 1 if to_perp else -1
        account.balance += sign * usd
        account.spot_usdc -= sign * usd
        self.history.class_transfer(user, usd, to_perp, now)
        return dict(OK)

    # --- L1 -------------------------------------------------------------------------------------

    def dispatch(self, kind: str, action: dict[str, Any], user: str, now: int) -> dict[str, Any]:
        if kind == "scheduleCancel":
            return self._schedule_cancel(user, action, now)
        if kind == "updateIsolatedMargin":
            return self._isolated_margin(user, action, now)
        if kind == "setReferrer":
            code = action.get("code")
            if not isinstance(code, str) or not code:
                raise WireError("action.code: expected a string")
            settings = self.extras.of(user)
            if settings.referrer is not None:
                return err("Referrer already set.")  # the simulator's wording (unverified)
            settings.referrer = code
            return dict(OK)
        if kind == "createSubAccount":
            traded = self._volume(user)
            return err(f"Cannot create sub-accounts until enough volume traded. Required: ${SUB_ACCOUNT_MIN_VOLUME:.0f}. "
                       f"Traded: ${traded:g}.")
        return dict(OK)  # reserveRequestWeight, evmUserModify: accepted, nothing to simulate

    def _volume(self, user: str) -> float:
        return sum(float(f["px"]) * float(f["sz"]) for f in self.ledger.accounts[user].fills)

    def _schedule_cancel(self, user: str, action: dict[str, Any], now: int) -> dict[str, Any]:
        when = action.get("time")
        settings = self.extras.of(user)
        if when is None:
            settings.cancel_at_ms = None  # no time: clears the switch
            return dict(OK)
        if isinstance(when, bool) or not isinstance(when, int) or when < 0:
            raise WireError(f"action.time: invalid type: {when!r}, expected u64")
        traded = self._volume(user)
        if traded < self.schedule_cancel_min_volume:
            return err(f"Cannot set scheduled cancel time until enough volume traded. Required: "
                       f"${self.schedule_cancel_min_volume:.0f}. Traded: ${round(traded, 5):g}.")
        if when < now + SCHEDULE_CANCEL_MIN_LEAD_MS:
            return err("Scheduled cancel time too early, must be at least 5 seconds from now.")  # wording unverified
        if settings.cancel_triggers.get(now // DAY_MS, 0) >= SCHEDULE_CANCEL_DAILY_TRIGGERS:
            return err("Too many scheduled cancel triggers today.")  # wording unverified; resets 00:00 UTC
        settings.cancel_at_ms = when
        return dict(OK)

    def _isolated_margin(self, user: str, action: dict[str, Any], now: int) -> dict[str, Any]:
        asset, ntli = action.get("asset"), action.get("ntli")
        if not isinstance(asset, int) or isinstance(asset, bool) or not isinstance(ntli, int) or isinstance(ntli, bool):
            raise WireError("action: expected asset: u32, isBuy: bool, ntli: i64")
        if not 0 <= asset < len(self.ledger.coins):
            return err(f"Invalid asset. asset={asset}")
        coin = self.ledger.coins[asset]
        account = self.ledger.accounts[user]
        pos = account.positions.get(coin)
        if pos is None or pos.szi == 0 or self.ledger.leverage(user, coin)[0]:
            return err("Cannot update margin for a position that is not isolated.")  # wording unverified
        usd = ntli / 1e6
        held = account.iso_margin.get(coin, 0.0)
        if usd > 0 and usd > self.ledger.free_margin(user, now):
            return err("Insufficient margin to add.")  # wording unverified
        if usd < 0:
            mark = self.ledger.mark(coin, now)
            need = max(abs(pos.szi) * mark / self.ledger.leverage(user, coin)[1], 0.1 * abs(pos.szi) * mark)
            if held + usd + self.ledger.unrealized(user, coin, now) < need:
                return err("Insufficient margin to remove.")  # wording unverified
        account.iso_margin[coin] = held + usd
        return dict(OK)

    # --- the dead man's switch, as a replay timer --------------------------------------------

    def next_due(self, start_ms: int, end_ms: int) -> int | None:
        """The first scheduled cancel in (start, end], for the matcher's replay."""
        times = [s.cancel_at_ms for s in self.extras.users.values()
                 if s.cancel_at_ms is not None and start_ms < s.cancel_at_ms <= end_ms]
        return min(times) if times else None

    def fire(self, at_ms: int) -> None:
        """Cancel every open order (stops included) of each account whose switch is due."""
        for user, settings in self.extras.users.items():
            if settings.cancel_at_ms is None or settings.cancel_at_ms > at_ms:
                continue
            settings.cancel_at_ms = None
            day = at_ms // DAY_MS
            settings.cancel_triggers[day] = settings.cancel_triggers.get(day, 0) + 1
            for order in self.ledger.open_orders(user):
                self.ledger.close_order(order, "scheduledCancel", at_ms)


def refusal(kind: str) -> dict[str, Any]:
    return err(f"The simulator does not model {REFUSED[kind]} ({kind}); see docs/simulator.md.")


def pre_signature_refusal(kind: Any) -> dict[str, Any] | None:
    """User-signed actions the simulator refuses, answered before any signature work."""
    return refusal(kind) if kind in REFUSED and kind not in L1_ACTIONS else None
