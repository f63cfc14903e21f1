"""The HTML report opens offline: one file, no src/href/url() pointing off it; the CLI writes it."""

from __future__ import annotations

import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "backtest"))
from sweep_data import fill_store, write_config  # noqa: E402

from perpbot.backtest.results import BacktestResult  # noqa: E402
from perpbot.cli import main  # noqa: E402
from perpbot.reporting.numbers import metric_cells, pct  # noqa: E402

pytest.importorskip("plotly", reason="the optional html extra is not installed")

METRIC_ROW = re.compile(r"<tr><td>([^<]*)</td><td[^>]*>([^<]*)</td></tr>")
URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)


class Loads(HTMLParser):
    """Every reference a browser would follow: src/href attributes, CSS url() in style tags and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []
        self._in_style = False
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripts += tag == "script"
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value:
                self.refs.append(value)
            if name == "style" and value:
                self.refs += URL.findall(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.refs += URL.findall(data)


def external(ref: str) -> bool:
    return not (ref.startswith("#") or ref.startswith("data:") or ref == "")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    fill_store(folder / "bt.db")
    return write_config(folder, folder / "bt.db")


def test_backtest_html_is_self_contained_and_decisions_csv_written(config, tmp_path, capsys):
    page, table = tmp_path / "report.html", tmp_path / "decisions.csv"
    code = main(["--config", str(config), "backtest", "--symbols", "BTC,ETH", "--json", str(tmp_path / "r.json"),
                 "--html", str(page), "--decisions", str(table)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "report written to" in out and "decisions of" in out
    text = page.read_text()
    parser = Loads()
    parser.feed(text)
    assert [r for r in parser.refs if external(r)] == []
    assert "link" not in parser.tags and "iframe" not in parser.tags and parser.scripts >= 1
    assert "Plotly.newPlot" in text and "BTC close, Bollinger bands" in text and "<h2>Trades" in text
    assert table.read_text().startswith("symbol,bar_time,close,z,bb_lower,bb_upper,rsi,adx,hurst,decision,reason,risk")
    # the metrics read as the CLI table prints them, not as raw numbers
    metrics = BacktestResult.load(tmp_path / "r.json").metrics
    shown = dict(METRIC_ROW.findall(text.split("<h2>Metrics</h2>")[1].split("</table>")[0]))
    assert shown["initial equity"] == "10,000.00" and shown["total return"] == pct(metrics["total_return"], True)
    for label, cell, _ in metric_cells(metrics):
        assert shown[label] == html.escape(cell, quote=True), label
        assert cell in out, label  # the same text as the CLI table
    assert "avg hold ms" not in text and "max drawdown duration ms" not in text


def test_the_parser_would_catch_an_external_load():
    parser = Loads()
    parser.feed("<html><head><style>body{background:url('https://x.test/a.png')}</style>"
                "<script src='https://cdn.test/p.js'></script></head><body><a href='#top'>x</a></body></html>")
    assert [r for r in parser.refs if external(r)] == ["https://x.test/a.png", "https://cdn.test/p.js"]


def test_missing_plotly_is_explained(config, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    code = main(["--config", str(config), "backtest", "--symbols", "BTC", "--html", str(tmp_path / "x.html")])
    assert code == 2
    err = capsys.readouterr().err
    assert "needs the optional plotting dependency" in err and "perp-bot[html]" in err
