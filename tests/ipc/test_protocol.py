"""The wire format: good and bad request lines, the size limit, strict JSON out."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perpbot.ipc.protocol import MAX_LINE_BYTES, ProtocolError, encode, error, ok, parse_request


def test_parse_request_splits_cmd_and_args() -> None:
    assert parse_request(b'{"cmd": "close", "symbol": "BTC"}\n') == ("close", {"symbol": "BTC"})
    assert parse_request(b'{"cmd":"ping"}') == ("ping", {})
    assert parse_request(b'{"cmd":"ping"}\r\n') == ("ping", {})


@pytest.mark.parametrize("line, needle", [
    (b"{not json}\n", "not valid JSON"),
    (b"\xff\xfe\n", "not valid JSON"),
    (b"[1, 2]\n", "JSON object"),
    (b'"ping"\n', "JSON object"),
    (b'{"symbol": "BTC"}\n', '"cmd"'),
    (b'{"cmd": 3}\n', '"cmd"'),
    (b'{"cmd": ""}\n', '"cmd"'),
])
def test_parse_request_rejects_bad_lines(line: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        parse_request(line)


def test_parse_request_size_limit() -> None:
    head = b'{"cmd":"ping","pad":"'
    fits = head + b"x" * (MAX_LINE_BYTES - len(head) - 2) + b'"}'
    assert len(fits) == MAX_LINE_BYTES
    assert parse_request(fits + b"\n")[0] == "ping"
    with pytest.raises(ProtocolError, match="longer than"):
        parse_request(fits + b" \n")


def test_encode_is_one_compact_line() -> None:
    line = encode(ok({"a": [1, 2], "b": "x"}))
    assert line == b'{"ok":true,"data":{"a":[1,2],"b":"x"}}\n'
    assert line.count(b"\n") == 1


def test_encode_makes_strict_json() -> None:
    line = encode(ok({"score": float("nan"), "marks": {"BTC": np.float64(1.5)}, "n": np.int64(3),
                      "arr": np.array([1.0, np.inf])}))
    assert json.loads(line, parse_constant=lambda c: pytest.fail(f"non-strict constant {c}")) == {
        "ok": True, "data": {"score": None, "marks": {"BTC": 1.5}, "n": 3, "arr": [1.0, None]}}


def test_encode_refuses_unserializable() -> None:
    with pytest.raises(TypeError):
        encode({"x": object()})


def test_ok_and_error() -> None:
    assert ok() == {"ok": True, "data": {}}
    assert ok({"x": 1}) == {"ok": True, "data": {"x": 1}}
    assert error("nope") == {"ok": False, "error": "nope"}
