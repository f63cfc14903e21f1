"""Provides `perpbot sim`: the simulator (perpbot/sim/) composed from the flags, in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from datetime import datetime, timezone

from perpbot.sim.exchange_options import parse_agent, parse_fund
from perpbot.sim.faults import FaultConfig
from perpbot.sim.options import SimOptions
from perpbot.sim.server import SimServer


def options_from_args(args: argparse.Namespace, start_ms: int | None) -> SimOptions:
    """SimOptions from the `perpbot sim` flags (validated when the server is built)."""
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    faults = FaultConfig(error_rate=args.error_rate, rate_limit_rate=args.rate_limit_rate,
                         latency_ms=args.latency_ms, malformed_rate=args.malformed_rate, ws_stall=args.ws_stall,
                         exchange_error_rate=args.exchange_error_rate, exchange_lost_rate=args.exchange_lost_rate)
    funds: dict[str, float] = {}
    for item in args.fund:
        address, usd = parse_fund(item)
        funds[address] = funds.get(address, 0.0) + usd
    agents = {agent: account for account, agent in map(parse_agent, args.agent)}
    return SimOptions(seed=args.seed, symbols=symbols, history_days=args.history_days, speed=args.speed,
                      candle_limit=args.candle_limit, start_ms=start_ms, candles_file=args.candles,
                      funding_file=args.funding, faults=faults, funds=funds, agents=agents,
                      network=args.network, scenario_file=getattr(args, "scenario", None),
                      maker_fill_ticks=getattr(args, "maker_fill_ticks", 1))


def run_sim(args: argparse.Namespace, start_ms: int | None) -> int:
    """Serve until Ctrl-C, then stop cleanly and return 0.

    Raises:
        ConfigError: bad flags, a bad replay file or a port in use.
    """
    server = SimServer(options_from_args(args, start_ms), host=args.host, port=args.port)
    server.start()
    opts = server.options
    clock = datetime.fromtimestamp(server.now_ms() / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"perpbot sim: serving {server.url} (websocket {server.ws_url}); {','.join(opts.symbols)}, "
          f"seed {opts.seed}, clock {clock} at {opts.speed:g}x; Ctrl-C stops", flush=True)
    funded = ", ".join(f"{address} ${usd:,.2f}" for address, usd in opts.funds.items()) or "none (see --fund)"
    print(f"perpbot sim: /exchange verifies {opts.network} signatures; funded accounts: {funded}", flush=True)
    for agent, account in opts.agents.items():
        print(f"perpbot sim: API wallet {agent} signs for {account}", flush=True)
    print(f"perpbot sim: prediction markets at {server.polymarket_url} (Gamma) and {server.kalshi_url} (Kalshi)",
          flush=True)
    if server.scenarios.events:
        print(f"perpbot sim: scenario {opts.scenario_file}: {len(server.scenarios.events)} events "
              f"({', '.join(sorted({e.kind for e in server.scenarios.events}))}); /sim/scenario lists them", flush=True)
    # `kill` (SIGTERM) stops it as cleanly as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("perpbot sim: stopped", flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    return 0
