"""The log screen's model: JSON lines parsed for display, and tailing a rotating file."""

from __future__ import annotations

import json
from pathlib import Path

from perpbot.tui import log_records
from perpbot.tui.log_records import LogTail, parse_line


def _line(event: str, **fields: object) -> str:
    return json.dumps({"time": "2026-11-25T12:00:01.250Z", "level": "INFO", "logger": "perpbot.execution.paper",
                       "event": event, **fields})


def test_a_json_line_becomes_a_record_with_short_fields() -> None:
    rec = parse_line(_line("paper_exit", symbol="BTC", price=59332.864199999996, size=0.1, note="x" * 200,
                           ids=[1, 2]) + "\n")
    assert (rec.time, rec.level, rec.logger, rec.event) == ("2026-11-25T12:00:01.250Z", "INFO", "execution.paper",
                                                            "paper_exit")
    assert "symbol=BTC" in rec.fields and "price=59332.8642 " in rec.fields and "size=0.1 " in rec.fields
    assert "note=" + "x" * 77 + "..." in rec.fields and "ids=[1, 2]" in rec.fields
    assert rec.text.startswith("12:00:01.250 INFO    execution.paper    paper_exit symbol=BTC")


def test_other_lines_are_kept_as_text() -> None:
    for raw in ("Traceback (most recent call last):", "[1, 2]", "not json {"):
        rec = parse_line(raw)
        assert rec.event == raw and rec.level == "INFO" and rec.rank == 1
    assert parse_line(json.dumps({"level": "TRACE", "event": "e"})).rank == 1  # unknown level counts as INFO
    assert parse_line(json.dumps({"level": "ERROR", "event": "e"})).rank == 3


def test_tail_returns_complete_new_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "perp-bot.log"
    tail = LogTail(path)
    assert tail.read_new() == []  # no file yet
    path.write_text("one\ntwo\nthr")
    assert tail.read_new() == ["one", "two"]
    assert tail.read_new() == []
    with path.open("a") as fh:
        fh.write("ee\nfour\n")
    assert tail.read_new() == ["three", "four"]


def test_tail_follows_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "perp-bot.log"
    path.write_text("old 1\nold 2\n")
    tail = LogTail(path)
    assert tail.read_new() == ["old 1", "old 2"]
    path.rename(tmp_path / "perp-bot.log.1")  # what RotatingFileHandler does
    path.write_text("new 1\n")
    assert tail.read_new() == ["new 1"]
    path.write_text("")  # truncated in place: start over
    assert tail.read_new() == []
    path.write_text("again\n")
    assert tail.read_new() == ["again"]


def test_a_big_log_is_read_from_its_recent_end(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(log_records, "TAIL_START_BYTES", 100)
    path = tmp_path / "perp-bot.log"
    path.write_text("".join(f"line {i:04d}\n" for i in range(1000)))  # 10 bytes a line
    lines = LogTail(path).read_new()
    assert lines == [f"line {i:04d}" for i in range(990, 1000)]  # the cut first fragment is dropped


def test_a_big_log_cut_mid_line_drops_the_fragment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(log_records, "TAIL_START_BYTES", 95)
    path = tmp_path / "perp-bot.log"
    path.write_text("".join(f"line {i:04d}\n" for i in range(1000)))
    assert LogTail(path).read_new() == [f"line {i:04d}" for i in range(991, 1000)]
