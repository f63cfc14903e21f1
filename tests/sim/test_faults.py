"""Fault injection: each knob over real HTTP, seeded decisions, and knob validation."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from perpbot.clock import FakeClock
from perpbot.errors import ConfigError
from perpbot.sim.faults import FaultConfig, FaultInjector
from perpbot.sim.server import SimOptions, SimServer

START_MS = 1_704_067_200_000


@pytest.fixture(scope="module")
def sim():
    with SimServer(SimOptions(seed=2, history_days=1, start_ms=START_MS), port=0, clock=FakeClock(START_MS)) as server:
        yield server


@pytest.fixture
def http(sim):
    sim.faults.__init__()  # every knob back to its default
    with httpx.Client(base_url=sim.url, timeout=10) as client:
        yield client
    sim.faults.__init__()


def _statuses(http, n=40, body=None):
    return [http.post("/info", json=body or {"type": "allMids"}).status_code for _ in range(n)]


def test_error_rate_answers_5xx(sim, http):
    sim.faults.error_rate = 1.0
    assert {s // 100 for s in _statuses(http)} == {5}
    sim.faults.error_rate = 0.5
    statuses = _statuses(http, 80)
    assert 20 < sum(s >= 500 for s in statuses) < 60 and 200 in statuses
    assert {s for s in statuses if s >= 500} <= {500, 502, 503}


def test_rate_limit_rate_answers_429(sim, http):
    sim.faults.rate_limit_rate = 1.0
    r = http.post("/info", json={"type": "meta"})
    assert r.status_code == 429 and "Too Many Requests" in r.text


def test_latency_delays_every_answer(sim, http):
    sim.faults.latency_ms = 150
    began = time.monotonic()
    assert http.post("/info", json={"type": "allMids"}).status_code == 200
    assert time.monotonic() - began >= 0.15


@pytest.mark.parametrize("body", [{"type": "allMids"}, {"type": "candleSnapshot",
                                  "req": {"coin": "BTC", "interval": "1m", "startTime": START_MS - 3_600_000}}])
def test_malformed_bodies_are_never_a_good_answer(sim, http, body):
    good = http.post("/info", json=body).json()
    sim.faults.malformed_rate = 1.0
    kinds = set()
    for _ in range(30):
        r = http.post("/info", json=body)
        assert r.status_code == 200
        try:
            data = json.loads(r.content)
        except ValueError:
            kinds.add("html" if r.text.startswith("<html>") else "truncated")
            continue
        assert type(data) is not type(good)  # valid JSON, wrong shape
        kinds.add("shape")
    assert kinds == {"html", "truncated", "shape"}


def test_the_same_seed_fails_the_same_requests():
    def pattern(seed):
        inj = FaultInjector(FaultConfig(error_rate=0.3, rate_limit_rate=0.2, malformed_rate=0.2), seed)
        out = []
        for _ in range(50):
            fault = inj.http_fault()
            out.append(fault.status if fault else inj.malform('{"a":"1"}'))
        return out

    assert pattern(1) == pattern(1) != pattern(2)


@pytest.mark.parametrize(
    ("knobs", "flag"),
    [({"error_rate": 1.5}, "--error-rate"), ({"rate_limit_rate": -0.1}, "--rate-limit-rate"),
     ({"malformed_rate": 2}, "--malformed-rate"), ({"latency_ms": -1}, "--latency-ms")],
)
def test_bad_knobs_are_config_errors(knobs, flag):
    with pytest.raises(ConfigError, match=flag):
        FaultConfig(**knobs).validate()
