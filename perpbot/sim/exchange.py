"""Provides the simulator's `POST /exchange`: signed actions checked the way Hyperliquid checks them.

Each body's signer is recovered from its EIP-712 signature with the official SDK's own
inverse of signing (`recover_agent_or_user_from_l1_action`; `approveAgent` with
`recover_user_from_user_signed_action`), over the action exactly as received. A signer that is
neither a funded account nor an agent approved by one gets "User or API Wallet 0x.. does not
exist.", so a tampered action (which recovers a random address) can never trade. Then the nonce
is admitted per signer (unseen, above the smallest of the 100 highest kept, inside now - 2 days
.. now + 1 day), then the action runs. Signatures verify as testnet unless the simulator runs
as mainnet, matching the SDK, which signs as mainnet only for mainnet's URL.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import json
import re
from typing import Any

from eth_keys.exceptions import BadSignature, ValidationError
from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action, recover_user_from_user_signed_action
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from perpbot.clock import DAY_MS, Clock
from perpbot.sim import account_views as views
from perpbot.sim.faults import FaultInjector
from perpbot.sim.ledger import Ledger
from perpbot.sim.matching import ActionError, BookFn, Matcher
from perpbot.sim.orders import OrderError, WireError, parse_order
from perpbot.sim.universe import Universe

NONCES_KEPT = 100
NONCE_PAST_MS = 2 * DAY_MS
NONCE_FUTURE_MS = DAY_MS
_HEX = re.compile(r"^0x[0-9a-fA-F]{1,64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_AGENT_TYPES = [
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
]
_OK_DEFAULT: dict[str, Any] = {"status": "ok", "response": {"type": "default"}}
GROUPINGS = ("na", "normalTpsl", "positionTpsl")
ACTION_TYPES = ("order", "cancel", "cancelByCloid", "modify", "batchModify", "updateLeverage", "approveAgent", "noop")


def _err(text: str) -> dict[str, Any]:
    return {"status": "err", "response": text}


def _statuses(kind: str, statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


def _list(action: dict[str, Any], key: str) -> list[Any]:
    value = action.get(key)
    if not isinstance(value, list):
        raise WireError(f"action.{key}: missing field or invalid type, expected a sequence")
    return value


SIGNATURE_ERRORS = (ValueError, TypeError, OverflowError, KeyError, BadSignature, ValidationError)
"""What recovering a signer raises for a well-formed signature that is not a valid one (r or s off
the curve, an action msgpack cannot pack): the exchange answers 422 with its text, not a 500."""


def body_error(exc: ValueError | RecursionError) -> str:
    """The exchange's text for a body that is not JSON (axum over serde_json, which refuses nesting
    beyond 128 levels; Python's decoder gives up with a RecursionError near 1000)."""
    why = "recursion limit exceeded" if isinstance(exc, RecursionError) else str(exc)
    return f"Failed to parse the request body as JSON: {why}"


def _signature(body: dict[str, Any]) -> dict[str, Any]:
    sig = body.get("signature")
    if not isinstance(sig, dict) or not all(isinstance(sig.get(k), str) and _HEX.match(sig[k]) for k in ("r", "s")) \
            or sig.get("v") not in (27, 28):
        raise WireError("signature: expected {r: 0x hex, s: 0x hex, v: 27 | 28}")
    return sig


class ExchangeApi:
    """Answers /exchange bodies against the ledger (thread-safe via the ledger's lock).

    Test knobs: `reply_delay_ms` delays the answer *after* the action ran (a client that
    times out has still traded); `fail_next` answers that many requests with HTTP 502 before
    they reach the exchange; `lose_next` runs that many and answers 502 instead of the result;
    `raw_bodies` keeps the latest bodies byte for byte.
    """

    def __init__(self, ledger: Ledger, matcher: Matcher, clock: Clock, is_mainnet: bool = False) -> None:
        self.ledger, self.matcher, self.clock, self.is_mainnet = ledger, matcher, clock, is_mainnet
        self.nonces: dict[str, list[int]] = {}  # signer -> its highest nonces, ascending
        self.reply_delay_ms = 0
        self.fail_next = 0
        self.lose_next = 0
        self.actions_received = 0
        self.raw_bodies: collections.deque[bytes] = collections.deque(maxlen=64)  # as received, newest last
        self.ext: Any = None  # perpbot.sim.exchange_ext.ExchangeExtensions, set by the server

    def handle(self, body: Any) -> dict[str, Any]:
        """The JSON-ready answer to one decoded /exchange body.

        Raises:
            WireError: a body the exchange could not deserialize (answer 422 with its text).
        """
        if not isinstance(body, dict) or not isinstance(body.get("action"), dict):
            raise WireError("missing field `action`")
        action, nonce = body["action"], body.get("nonce")
        if isinstance(nonce, bool) or not isinstance(nonce, int) or nonce < 0:
            raise WireError(f"nonce: invalid type: {nonce!r}, expected u64")
        kind = action.get("type")
        ext = self.ext
        early = ext.early(kind) if ext is not None else None
        if early is not None:
            return early
        if kind not in ACTION_TYPES and (ext is None or kind not in ext.kinds):
            raise WireError(f"action.type: unknown variant `{kind}`, expected one of "
                            + ", ".join(f"`{k}`" for k in ACTION_TYPES))
        vault, expires = body.get("vaultAddress"), body.get("expiresAfter")
        if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int)):
            raise WireError(f"expiresAfter: invalid type: {expires!r}, expected u64")
        signature = _signature(body)
        with self.ledger.lock:
            self.actions_received += 1
            now = self.clock.now_ms()
            self.ledger.universe.ensure(now)
            self.matcher.advance(now)
            if kind == "approveAgent":
                return self._approve_agent(action, signature, nonce, now)
            if ext is not None and kind in ext.user_signed_kinds:
                return ext.user_signed(kind, action, signature, nonce, now)
            signer = self._recover_l1(action, signature, vault, nonce, expires)
            user = self.ledger.owner_of(signer)
            if user is None:
                return _err(f"User or API Wallet {signer} does not exist.")
            problem = self._admit_nonce(signer, nonce, now)
            if problem:
                return _err(problem)
            if vault is not None:
                return _err("Vault may not perform this action.")  # the simulator lists no vaults
            if expires is not None and expires < now:
                return _err("Action already expired")
            try:
                if ext is not None:  # extra actions, builder fees, halted coins (perpbot.sim.exchange_ext)
                    return ext.run(kind, action, user, now, self._dispatch)
                return self._dispatch(kind, action, user, now)
            except ActionError as exc:
                return _err(exc.text)

    def _recover_l1(self, action: dict[str, Any], signature: dict[str, Any], vault: Any, nonce: int,
                    expires: int | None) -> str:
        if vault is not None and (not isinstance(vault, str) or not _ADDRESS.match(vault)):
            raise WireError(f"vaultAddress: invalid address {vault!r}")
        try:
            signer = recover_agent_or_user_from_l1_action(action, signature, vault, nonce, expires, self.is_mainnet)
        except SIGNATURE_ERRORS as exc:
            # msgpack cannot pack the action, or the signature is not a point on the curve.
            raise WireError(f"action: cannot be hashed or signature cannot be recovered ({exc})") from exc
        return str(signer).lower()

    def _admit_nonce(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """None if the nonce is fresh for this signer (and remember it), else the exchange's error."""
        if nonce <= now_ms - NONCE_PAST_MS:
            return f"Invalid nonce: nonce too low {nonce} < {now_ms - NONCE_PAST_MS}"
        if nonce >= now_ms + NONCE_FUTURE_MS:
            return f"Invalid nonce: nonce too high {nonce} > {now_ms + NONCE_FUTURE_MS}"
        kept = self.nonces.setdefault(signer, [])
        i = bisect.bisect_left(kept, nonce)
        if i < len(kept) and kept[i] == nonce:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            return f"Invalid nonce: nonce too low {nonce} < {kept[0]}"
        kept.insert(i, nonce)
        del kept[:-NONCES_KEPT]
        return None

    def _approve_agent(self, action: dict[str, Any], signature: dict[str, Any], nonce: int, now_ms: int) -> dict[str, Any]:
        agent = action.get("agentAddress")
        if not isinstance(agent, str) or not _ADDRESS.match(agent):
            raise WireError(f"action.agentAddress: invalid address {agent!r}")
        if action.get("nonce") != nonce:
            return _err("Nonce mismatch.")
        message = {"agentName": "", **action}  # the SDK signs a missing name as ""
        try:
            user = str(recover_user_from_user_signed_action(
                message, signature, _AGENT_TYPES, "HyperliquidTransaction:ApproveAgent", self.is_mainnet)).lower()
        except SIGNATURE_ERRORS as exc:
            raise WireError(f"action: signature cannot be recovered ({exc})") from exc
        if user not in self.ledger.accounts:
            return _err(f"Must deposit before performing actions. User: {user}")
        problem = self._admit_nonce(user, nonce, now_ms)
        if problem:
            return _err(problem)
        self.ledger.approve_agent(user, agent, str(action.get("agentName") or ""))
        return dict(_OK_DEFAULT)

    def _dispatch(self, kind: Any, action: dict[str, Any], user: str, now: int) -> dict[str, Any]:
        coins = self.ledger.coins
        if kind == "order":
            return _statuses("order", self._orders(action, user, now))
        if kind == "cancel":
            return _statuses("cancel", [self.matcher.cancel(user, _int(c, "a"), _int(c, "o"), now)
                                        for c in _list(action, "cancels")])
        if kind == "cancelByCloid":
            return _statuses("cancel", [self.matcher.cancel(user, _int(c, "asset"), _cloid(c), now)
                                        for c in _list(action, "cancels")])
        if kind == "batchModify":
            return _statuses("order", [self._modify(user, m, now) for m in _list(action, "modifies")])
        if kind == "modify":
            status = self._modify(user, action, now)
            return _err(status["error"]) if "error" in status else dict(_OK_DEFAULT)
        if kind == "updateLeverage":
            is_cross = action.get("isCross")
            if not isinstance(is_cross, bool):
                raise WireError("action.isCross: invalid type, expected a boolean")
            self.matcher.update_leverage(user, _int(action, "asset"), is_cross, _int(action, "leverage"), now)
            return dict(_OK_DEFAULT)
        return dict(_OK_DEFAULT)  # noop: only marks the nonce as used

    def _orders(self, action: dict[str, Any], user: str, now: int) -> list[Any]:
        grouping = action.get("grouping", "na")
        if grouping not in GROUPINGS:
            raise WireError(f"action.grouping: unknown variant `{grouping}`, expected one of "
                            + ", ".join(f"`{g}`" for g in GROUPINGS))
        wires = _list(action, "orders")
        if grouping == "na":
            statuses: list[Any] = []
            for i, wire in enumerate(wires):
                try:
                    statuses.append(self.matcher.place(user, parse_order(wire, self.ledger.coins, f"action.orders[{i}]"),
                                                       now))
                except OrderError as exc:
                    statuses.append({"error": exc.text})
            return statuses
        if not wires:
            raise ActionError("Empty order batch.")  # the simulator's wording (unverified)
        try:
            specs = [parse_order(w, self.ledger.coins, f"action.orders[{i}]") for i, w in enumerate(wires)]
        except OrderError as exc:
            return [{"error": exc.text}] * len(wires)
        return self.matcher.place_grouped(user, specs, grouping, now)

    def _modify(self, user: str, modify: Any, now: int) -> dict[str, Any]:
        if not isinstance(modify, dict):
            raise WireError("action.modifies: invalid type, expected struct ModifyWire")
        oid = modify.get("oid")
        if not (isinstance(oid, int) and not isinstance(oid, bool)) and not (isinstance(oid, str) and len(oid) == 34):
            raise WireError(f"oid: invalid value {oid!r}, expected an order id or a 0x cloid")
        try:
            spec = parse_order(modify.get("order"), self.ledger.coins, "action.order")
        except OrderError as exc:
            return {"error": exc.text}
        return self.matcher.modify(user, oid.lower() if isinstance(oid, str) else oid, spec, now)


def _int(obj: Any, key: str) -> int:
    value = obj.get(key) if isinstance(obj, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WireError(f"action.{key}: invalid type: {value!r}, expected u64")
    return value


def _cloid(obj: Any) -> str:
    value = obj.get("cloid") if isinstance(obj, dict) else None
    if not isinstance(value, str) or not re.match(r"^0x[0-9a-fA-F]{32}$", value):
        raise WireError(f"action.cancels.cloid: invalid cloid {value!r}")
    return value.lower()


class SimAccounts:
    """The AccountBook /info uses: every answer first replays the market up to now."""

    def __init__(self, ledger: Ledger, matcher: Matcher, clock: Clock) -> None:
        self.ledger, self.matcher, self.clock = ledger, matcher, clock

    def _sync(self, now_ms: int | None = None) -> int:
        now = self.clock.now_ms() if now_ms is None else now_ms
        self.ledger.universe.ensure(now)
        self.matcher.advance(now)
        return now

    def clearinghouse_state(self, user: str, now_ms: int) -> dict[str, Any]:
        with self.ledger.lock:
            return views.clearinghouse_state(self.ledger, user, self._sync(now_ms))

    def open_orders(self, user: str) -> list[dict[str, Any]]:
        with self.ledger.lock:
            self._sync()
            return views.open_orders(self.ledger, user)

    def frontend_open_orders(self, user: str) -> list[dict[str, Any]]:
        with self.ledger.lock:
            self._sync()
            return views.frontend_open_orders(self.ledger, user)

    def user_fills(self, user: str) -> list[dict[str, Any]]:
        with self.ledger.lock:
            self._sync()
            return views.user_fills(self.ledger, user)

    def user_fills_by_time(self, user: str, start_ms: int, end_ms: int | None) -> list[dict[str, Any]]:
        with self.ledger.lock:
            self._sync()
            return views.user_fills_by_time(self.ledger, user, start_ms, end_ms)

    def order_status(self, user: str, oid: int | str) -> dict[str, Any]:
        with self.ledger.lock:
            self._sync()
            return views.order_status(self.ledger, user, oid.lower() if isinstance(oid, str) else oid)

    def user_role(self, user: str) -> dict[str, Any]:
        with self.ledger.lock:
            return self.ledger.role(user)


def build_exchange(universe: Universe, book: BookFn, clock: Clock, funds: dict[str, float],
                   network: str = "testnet", agents: dict[str, str] | None = None,
                   maker_fill_ticks: int = 1) -> tuple[ExchangeApi, SimAccounts]:
    """The exchange side of the simulator: the /exchange handler and the AccountBook for /info."""
    ledger = Ledger(universe)
    for address, usd in funds.items():
        ledger.fund(address, usd)
    for agent, account in (agents or {}).items():
        ledger.approve_agent(account, agent, "perpbot sim --agent")
    matcher = Matcher(ledger, book, maker_fill_ticks)
    return ExchangeApi(ledger, matcher, clock, network == "mainnet"), SimAccounts(ledger, matcher, clock)


_BAD_GATEWAY = "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"


def exchange_route(api: ExchangeApi, injector: FaultInjector | None = None) -> Route:
    """`POST /exchange` for the Starlette app (with the injector's /exchange faults, if given)."""

    def lost() -> bool:
        if api.lose_next > 0:
            api.lose_next -= 1
            return True
        return injector is not None and injector.exchange_fault(after=True)

    async def endpoint(request: Request) -> Response:
        if api.fail_next > 0 or (injector is not None and injector.exchange_fault(after=False)):
            api.fail_next = max(api.fail_next - 1, 0)
            return Response(_BAD_GATEWAY, 502, media_type="text/html")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Response("Expected request with `Content-Type: application/json`", 415, media_type="text/plain")
        raw = await request.body()
        api.raw_bodies.append(raw)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            return Response(body_error(exc), 400, media_type="text/plain")
        try:
            answer = api.handle(body)
        except WireError as exc:
            return Response(exc.text, 422, media_type="text/plain")
        if api.reply_delay_ms:
            await asyncio.sleep(api.reply_delay_ms / 1000)  # the action already ran: a lost reply
        if lost():
            return Response(_BAD_GATEWAY, 502, media_type="text/html")  # it ran; the answer never arrives
        return Response(json.dumps(answer, separators=(",", ":")), 200, media_type="application/json")

    return Route("/exchange", endpoint, methods=["POST"])
