"""Exports: the standalone HTML report (no network, hostile text stays text), scores CSV, and `python -m uqviz report`."""

import csv
import io
import json
import re

import plotly.graph_objects as go
import pytest

from tests.conftest import make_run, run_cli
from uqviz.viz import report
from uqviz.measures.registry import REGISTRY
from uqviz.viz.report import ReportSection, report_html, scores_csv
from uqviz.format.run import write_run
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import RunStatistics
from uqviz.viz.history import scores_table_figure

HOSTILE = "<script>alert(1)</script>"
HOSTILE_RUN = make_run(
    ["Paris is it", HOSTILE, '<img src=x onerror="alert(2)">'], [[-0.1, -0.2, -0.3], [-1.0], [-2.0, -0.5]],
    prompt=f"Capital? {HOSTILE}",
)
EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=", re.IGNORECASE)
EXTERNAL_RESOURCE = re.compile(r"<(?:link|img|iframe|object|embed)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def hostile_report() -> str:
    statistics = RunStatistics(HOSTILE_RUN)
    return report_html(statistics, score_run(HOSTILE_RUN, statistics))


def test_report_is_standalone(hostile_report):
    assert not EXTERNAL_SCRIPT.search(hostile_report)
    assert not EXTERNAL_RESOURCE.search(hostile_report)
    assert "Content-Security-Policy" in hostile_report and "default-src 'none'" in hostile_report
    assert len(hostile_report) > 3_000_000  # plotly.js itself is inlined
    assert 'id="uqviz-figure-0"' in hostile_report


def test_hostile_text_is_rendered_as_text(hostile_report):
    assert HOSTILE not in hostile_report and "<img src=x" not in hostile_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hostile_report
    assert "Capital? &lt;script&gt;" in hostile_report
    # Our own tags only: plotly.js once, then one script per figure.
    figures = hostile_report.count('class="plotly-graph-div"')
    assert figures >= 1 and hostile_report.count("<script") == 1 + figures


def test_report_holds_scores_table_and_every_sample(hostile_report):
    assert "<th align=left>token relevance precision</th><td>not computed</td>" in hostile_report  # no embedder
    assert "<h2>Scores</h2>" in hostile_report and "<h2>Tokens by probability</h2>" in hostile_report
    assert "Length-normalised predictive entropy" in hostile_report
    assert hostile_report.count("<h3>Sample ") == 3 and hostile_report.count('class="uqviz-token"') == 6


def test_a_view_adds_its_figure_with_one_section(monkeypatch):
    run = make_run(["a", "b"], [[-1.0], [-2.0]])
    extra = ReportSection("Extra view", lambda statistics, scores: go.Figure(go.Bar(x=["<b>x</b>"], y=[len(statistics.run.samples)])))
    nothing = ReportSection("Empty view", lambda statistics, scores: None)
    before = report_html(RunStatistics(run)).count('class="plotly-graph-div"')
    monkeypatch.setattr(report, "SECTIONS", report.SECTIONS + (extra, nothing))
    html = report_html(RunStatistics(run))
    assert "<h2>Extra view</h2>" in html and "Empty view" not in html
    assert html.count('class="plotly-graph-div"') == before + 1
    assert f'id="uqviz-figure-{len(report.SECTIONS) - 2}"' in html


def test_scores_csv_has_one_row_per_measure():
    scores = score_run(HOSTILE_RUN).to_dict()
    rows = list(csv.DictReader(io.StringIO(scores_csv(scores))))
    assert [row["measure"] for row in rows] == list(scores["measures"])
    by_name = {row["measure"]: row for row in rows}
    assert float(by_name["predictive_entropy"]["value"]) == pytest.approx(scores["measures"]["predictive_entropy"]["value"], abs=0)
    missing = [row for row in rows if row["value"] == ""]
    assert all(row["reason"] for row in missing)


@pytest.mark.slow
def test_cli_writes_a_standalone_report(tmp_path):
    run_path, out = tmp_path / "run.json", tmp_path / "report.html"
    write_run(HOSTILE_RUN, run_path)
    result = run_cli("report", str(run_path), "--out", str(out), check=False)
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert not EXTERNAL_SCRIPT.search(html) and HOSTILE not in html
    assert "bi-encoder cosine" in html  # the embedder scored the black-box measures
    assert re.search(r"<th align=left>token relevance precision</th><td>(float32|bfloat16)</td>", html)
    for view in ("Token relevance (SAR)", "Semantic clusters", "Semantic volume"):
        assert f"<h2>{view}" in html
    assert "Attention chain" not in html  # UQAC needs the language model, which a report does not load


@pytest.mark.slow
@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"schema": "uqviz.run/1", "prompt": "cut', "not valid JSON"),
        (json.dumps({"schema": "uqviz.run/1", "prompt": ["x"]}), "prompt: expected a string"),
        (json.dumps({"schema": "other/2"}), "schema"),
    ],
)
def test_cli_rejects_a_malformed_run_with_exit_2_and_one_line(tmp_path, content, fragment):
    bad, out = tmp_path / "bad.json", tmp_path / "report.html"
    bad.write_text(content)
    result = run_cli("report", str(bad), "--out", str(out), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
    assert not out.exists()


@pytest.mark.e2e
def test_report_draws_in_a_browser_without_network_and_runs_no_hostile_script(tmp_path, hostile_report, browser):
    path = tmp_path / "report.html"
    path.write_text(hostile_report, encoding="utf-8")
    page = browser.new_page()
    requests, dialogs = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_selector("#uqviz-figure-0 .main-svg", timeout=30_000)
    assert page.locator("text=<script>alert(1)</script>").count() >= 1
    page.close()
    assert dialogs == []
    assert [url for url in requests if not url.startswith("file:")] == []


def test_scores_table_figure_lists_every_measure_escaped():
    scores = {"measures": {
        "predictive_entropy": {"value": 1.23456, "seconds": 0.5, "model_calls": 2},
        "semantic_volume": {"value": None, "reason": "no <embedder>", "seconds": 0.0, "model_calls": 0},
    }}
    table = scores_table_figure(scores).data[0]
    measures, values, _, costs, reasons = table.cells.values
    assert list(measures) == [REGISTRY["predictive_entropy"].title, REGISTRY["semantic_volume"].title]
    assert list(values) == ["1.235", "—"] and costs[0] == "0.500 s · 2 calls"
    assert list(reasons) == ["", "no &lt;embedder&gt;"]
