"""Tests for the weekly review on a seeded trade history with hand-checked figures.

The history: one winning trade before the window (+100), then three UTC weeks:
  2024-W01 (Jan 1-7):  BTC +50 (Mon), ETH -30 stop (Tue), BTC +20 (Wed), SOL -60 timeout (Sun)
  2024-W02 (Jan 8-14): BTC -10 stop (Tue), ETH -5 (Wed)
  2024-W03 (running):  BTC +40 (Tue); plus an open trade and one exiting after "now" (both ignored)
Equity starts at 10,000 + 100 = 10,100 at the window's start.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import yaml

from perpbot.cli import main
from perpbot.clock import HOUR_MS
from perpbot.data.db import Store
from perpbot.models import Side, Trade
from perpbot.reporting.weekly import review_markdown, sparkline, weekly_review
from perpbot.risk.halt import losing_week_streak


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


NOW = ms("2024-01-17T12:00")


def trade(symbol: str, side: Side, exit_at: str, pnl: float, reason: str = "signal", fees: float = 1.0,
          funding: float = 0.0) -> Trade:
    exit_ms = ms(exit_at)
    return Trade(symbol, side, 0.1, exit_ms - 3 * HOUR_MS, 100.0, mode="paper", exit_time=exit_ms,
                 exit_price=101.0, fees=fees, funding=funding, pnl=pnl, exit_reason=reason)


def history() -> list[Trade]:
    return [
        trade("BTC", Side.LONG, "2023-12-27T10:00", 100.0),
        trade("BTC", Side.LONG, "2024-01-01T10:00", 50.0, fees=2.0, funding=0.5),
        trade("ETH", Side.SHORT, "2024-01-02T10:00", -30.0, "stop_loss", fees=1.5, funding=-0.2),
        trade("BTC", Side.SHORT, "2024-01-03T10:00", 20.0),
        trade("SOL", Side.LONG, "2024-01-07T23:00", -60.0, "timeout", funding=0.3),
        trade("BTC", Side.LONG, "2024-01-09T10:00", -10.0, "stop_loss"),
        trade("ETH", Side.LONG, "2024-01-10T10:00", -5.0),
        trade("BTC", Side.SHORT, "2024-01-16T10:00", 40.0),
        Trade("ETH", Side.LONG, 0.1, ms("2024-01-17T09:00"), 100.0),  # still open
        trade("SOL", Side.SHORT, "2024-01-18T10:00", 999.0),  # exits after "now"
    ]


@pytest.fixture
def review():
    return weekly_review(history(), NOW, weeks=3, initial_equity=10_000.0)


def test_weeks_are_utc_iso_weeks_with_the_running_one_last(review):
    assert [w.label for w in review.weeks] == ["2024-W01", "2024-W02", "2024-W03"]
    assert [w.start_ms for w in review.weeks] == [ms("2024-01-01"), ms("2024-01-08"), ms("2024-01-15")]
    assert [w.complete for w in review.weeks] == [True, True, False]


def test_first_week_figures(review):
    w = review.weeks[0]
    s = w.stats
    assert w.start_equity == 10_100.0 and w.end_equity == 10_080.0
    assert s.pnl == -20.0
    assert w.return_pct == pytest.approx(-20 / 10_100)
    assert (s.trades, s.wins, s.losses, s.win_rate) == (4, 2, 2, 0.5)
    assert s.profit_factor == pytest.approx(70 / 90)
    assert (s.avg_win, s.avg_loss) == (35.0, -45.0)
    # Realized equity 10100 -> 10150 (peak) -> 10120 -> 10140 -> 10080.
    assert s.max_drawdown == pytest.approx(70.0)
    assert s.max_drawdown_pct == pytest.approx(70 / 10_150)
    assert s.fees == pytest.approx(5.5) and s.funding == pytest.approx(0.6)
    assert w.daily_pnl == (50.0, -30.0, 20.0, 0.0, 0.0, 0.0, -60.0)
    assert [(b.key, b.trades, b.wins, b.pnl) for b in w.by_exit_reason] == [
        ("signal", 2, 2, 70.0), ("timeout", 1, 0, -60.0), ("stop_loss", 1, 0, -30.0)]


def test_a_week_of_only_losses_and_a_week_of_only_wins(review):
    losing, running = review.weeks[1].stats, review.weeks[2].stats
    assert review.weeks[1].start_equity == 10_080.0
    assert (losing.pnl, losing.win_rate, losing.profit_factor, losing.avg_win, losing.avg_loss) == (-15.0, 0.0, 0.0, None, -7.5)
    assert losing.max_drawdown == 15.0 and losing.max_drawdown_pct == pytest.approx(15 / 10_080)
    assert review.weeks[2].start_equity == 10_065.0
    assert running.trades == 1 and running.profit_factor is None and running.max_drawdown == 0.0
    assert review.weeks[2].return_pct == pytest.approx(40 / 10_065)


def test_window_totals_breakdowns_and_streak(review):
    t = review.total
    assert (t.trades, t.wins, t.losses, t.pnl) == (7, 3, 4, 5.0)
    assert t.profit_factor == pytest.approx(110 / 105)
    assert t.avg_win == pytest.approx(110 / 3) and t.avg_loss == pytest.approx(-105 / 4)
    # 10100 -> 10150 peak ... 10065 trough -> 10105.
    assert t.max_drawdown == pytest.approx(85.0) and t.max_drawdown_pct == pytest.approx(85 / 10_150)
    assert t.fees == pytest.approx(8.5) and t.funding == pytest.approx(0.6)
    assert review.return_pct == pytest.approx(5 / 10_100)
    assert (review.start_equity, review.end_equity) == (10_100.0, 10_105.0)
    assert [(b.key, b.trades, b.wins, b.pnl) for b in review.by_symbol] == [
        ("BTC", 4, 3, 100.0), ("SOL", 1, 0, -60.0), ("ETH", 2, 0, -35.0)]
    assert [b.key for b in review.by_exit_reason] == ["signal", "timeout", "stop_loss"]
    # W01 and W02 lost, 2023-W52 won: the same count the startup halt would act on.
    assert review.losing_week_streak == 2
    closed = [(t.exit_time, t.pnl) for t in history() if t.exit_time is not None]
    assert review.losing_week_streak == losing_week_streak(closed, NOW)


def test_empty_weeks_are_shown_with_zero_figures():
    review = weekly_review(history(), ms("2024-02-07T00:00"), weeks=2, initial_equity=1_000.0)
    assert [w.label for w in review.weeks] == ["2024-W05", "2024-W06"]
    assert all(w.stats.trades == 0 and w.stats.pnl == 0 and w.stats.win_rate is None for w in review.weeks)
    assert review.start_equity == 1_000.0 + 100 - 20 - 15 + 40 + 999  # everything closed before the window


def test_to_dict_is_plain_json(review):
    data = json.loads(json.dumps(review.to_dict()))
    assert data["losing_week_streak"] == 2 and data["total"]["pnl"] == 5.0
    week = data["weeks"][0]
    assert week["week"] == "2024-W01" and week["start"] == "2024-01-01" and week["complete"] is True
    assert week["return"] == pytest.approx(-20 / 10_100)
    assert week["by_symbol"]["BTC"] == {"trades": 2, "wins": 2, "win_rate": 1.0, "pnl": 70.0}
    assert data["weeks"][2]["profit_factor"] is None


def test_the_store_gives_the_same_review(store):
    for t in history():
        store.insert_trade(t)
    from_db = weekly_review(store.closed_trades(mode="paper"), NOW, weeks=3, initial_equity=10_000.0)
    assert from_db.to_dict() == weekly_review(history(), NOW, weeks=3, initial_equity=10_000.0).to_dict()


def test_markdown_export(review):
    text = review_markdown(review)
    assert text.startswith("# perp-bot weekly review\n")
    assert "equity 10,100.00 -> 10,105.00 (+0.05 %), losing-week streak 2" in text
    assert "| 2024-W01 | 4 | -20.00 | -0.20 % | 50.0 % | 0.78 | +35.00 | -45.00 | 70.00 | 0.7 % | 5.50 | +0.60 | █▃▆▅▅▅▁ |" in text
    assert "| 2024-W03 (running) | 1 | +40.00 | +0.40 % | 100.0 % | ∞ |" in text
    assert "| **Total** | 7 | +5.00 |" in text
    assert "| BTC | 4 | 75.0 % | +100.00 |" in text
    assert "| stop_loss | 2 | 0.0 % | -40.00 |" in text


def test_sparkline_scales_between_min_and_max():
    assert sparkline([-1.0, 0.0, 1.0, 6.0]) == "▁▂▃█"
    assert sparkline([2.0, 2.0]) == "▄▄"
    assert sparkline([]) == ""


def test_weeks_must_be_positive():
    with pytest.raises(ValueError, match="weeks must be >= 1"):
        weekly_review([], NOW, weeks=0)


# --- the `perpbot review` command ---------------------------------------------------------------


@pytest.fixture
def seeded_config(tmp_path):
    db = Store(tmp_path / "bot.db")
    for t in history():
        db.insert_trade(t)
    db.insert_trade(trade("BTC", Side.LONG, "2024-01-09T12:00", -500.0))  # live: must not count
    db.conn.execute("UPDATE trades SET mode='live' WHERE pnl=-500")
    db.conn.commit()
    db.close()
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"data": {"db_path": str(tmp_path / "bot.db")}, "logging": {"file": False}}))
    return path


def test_review_command_json(seeded_config, capsys):
    assert main(["--config", str(seeded_config), "review", "--weeks", "3", "--at", "2024-01-17T12:00", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "paper" and data["losing_week_streak"] == 2
    assert data["total"]["pnl"] == 5.0 and data["start_equity"] == 10_100.0
    assert [w["week"] for w in data["weeks"]] == ["2024-W01", "2024-W02", "2024-W03"]


def test_review_command_tables_markdown_and_halt_warning(seeded_config, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    out_md = tmp_path / "review.md"
    argv = ["--config", str(seeded_config), "review", "--weeks", "3", "--at", "2024-01-17T12:00",
            "--markdown", str(out_md), "--set", "risk.losing_weeks_halt=2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "losing-week streak 2" in out and "2024-W03*" in out and "by exit reason" in out
    assert "2 losing UTC weeks in a row" in out  # the daemon would refuse to start
    assert out_md.read_text(encoding="utf-8") == review_markdown(
        weekly_review(history(), NOW, weeks=3, initial_equity=10_000.0))


def test_review_command_without_a_database(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"data": {"db_path": str(tmp_path / "none.db")}, "logging": {"file": False}}))
    assert main(["--config", str(path), "review"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_fees_are_split_maker_and_taker_by_the_legs_cloids():
    from perpbot.models import Side, Trade
    from perpbot.reporting.weekly import weekly_review

    t0 = 1_704_067_200_000
    both = Trade("BTC", Side.LONG, 1.0, t0, 100.0, exit_time=t0 + 60_000, exit_price=101.0, fees=0.05, pnl=0.95,
                 entry_cloid="0xa", exit_cloid="0xb")
    taker = Trade("ETH", Side.SHORT, 1.0, t0, 100.0, exit_time=t0 + 60_000, exit_price=99.0, fees=0.09, pnl=0.91,
                  entry_cloid="0xc", exit_cloid="0xd")
    review = weekly_review([both, taker], t0 + 3_600_000, 1, maker_fees={"0xa": 0.02, "0xb": 0.03, "0xz": 9.0})
    assert review.fees_maker == pytest.approx(0.05) and review.fees_taker == pytest.approx(0.09)
    assert review.to_dict()["fees_maker"] == pytest.approx(0.05)
