"""Where log lines go: JSON lines or readable text on stdout (logging.stdout), a private rotating
file, nothing at all on a dashboard's terminal, and a failing log disk reported once."""

from __future__ import annotations

import json
import logging
import os
import stat
import warnings

import pytest

from perpbot.cli.args import setup_command_logging
from perpbot.config import build_settings
from perpbot.ops.logging import setup_logging, stdout_format

log = logging.getLogger("perpbot.test")


@pytest.fixture(autouse=True)
def _reset_logging():
    yield
    setup_logging(stdout="off")
    logging.captureWarnings(False)


def test_auto_is_json_lines_off_a_terminal_and_text_on_one():
    primary, secondary = os.openpty()
    try:
        with open(secondary, "w", closefd=False) as terminal, open(os.devnull, "w") as pipe:
            assert stdout_format("auto", terminal) == "text"
            assert stdout_format("auto", pipe) == "json"
            assert stdout_format("json", terminal) == "json" and stdout_format("text", pipe) == "text"
            assert stdout_format("off", terminal) is None
    finally:
        os.close(primary)
        os.close(secondary)


def test_json_lines_on_stdout(capsys):
    setup_logging(stdout="json")
    log.warning("storage_write_failed", extra={"error": "the disk is full"})
    record = json.loads(capsys.readouterr().out)
    assert record["event"] == "storage_write_failed" and record["level"] == "WARNING"
    assert record["error"] == "the disk is full" and record["time"].endswith("Z")


def test_readable_text_on_stdout(capsys):
    setup_logging(stdout="text")
    log.info("engine_started", extra={"mode": "paper"})
    line = capsys.readouterr().out.strip()
    assert line.endswith("INFO    engine_started  mode=paper") and line[2] == ":" and line[5] == ":"


def _settings(tmp_path, **logging_section):
    return build_settings({"data": {"db_path": str(tmp_path / "bot.db")}, "logging": logging_section})


def test_the_daemon_keeps_stdout_when_the_log_file_is_off(tmp_path, capsys):
    setup_command_logging(_settings(tmp_path, file=False, stdout="json"), to_file=True, stdout=True)
    log.info("heartbeat")
    assert json.loads(capsys.readouterr().out)["event"] == "heartbeat"
    assert not (tmp_path / "perp-bot.log").exists()


def test_a_dashboard_never_writes_logs_to_its_terminal(tmp_path, capfd):
    for section in ({"file": False}, {"file": True}):
        setup_command_logging(_settings(tmp_path, stdout="text", **section), to_file=True, stdout=False)
        log.error("engine_crashed")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library complains", RuntimeWarning, stacklevel=1)
        captured = capfd.readouterr()
        assert captured.out == "" and captured.err == ""
    assert "engine_crashed" in (tmp_path / "perp-bot.log").read_text()
    assert "a library complains" in (tmp_path / "perp-bot.log").read_text()


def test_the_log_file_and_its_rotations_are_private(tmp_path):
    path = tmp_path / "logs" / "perp-bot.log"
    setup_logging(file_path=path, stdout="off", max_bytes=10_000, backups=2)
    for i in range(300):
        log.info("line", extra={"i": i, "pad": "x" * 50})
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    rotated = sorted(path.parent.glob("perp-bot.log*"))
    assert len(rotated) == 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in rotated)


class _FullDisk:
    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_log_file_that_cannot_be_written_is_reported_once(tmp_path, capfd):
    path = tmp_path / "perp-bot.log"
    setup_logging(file_path=path, stdout="off")
    (handler,) = logging.getLogger().handlers
    healthy, handler.stream = handler.stream, _FullDisk()
    for _ in range(5):
        log.warning("tick")
    handler.stream = healthy
    log.warning("tick")
    err = capfd.readouterr().err.splitlines()
    assert err == [f"perpbot: cannot write the log file {path}: [Errno 28] No space left on device; "
                   "log lines are lost until it works again",
                   f"perpbot: the log file {path} is written again"]


def test_a_log_folder_that_cannot_exist_is_one_storage_error(tmp_path):
    from perpbot.errors import StorageError

    (tmp_path / "afile").write_text("x")
    with pytest.raises(StorageError, match="afile is a file, not a folder"):
        setup_logging(file_path=tmp_path / "afile" / "perp-bot.log", stdout="off")
