"""uqviz as a package: a wheel installed into a fresh virtual environment runs its command and the README's API
example from a folder outside the repository; the Python API itself on the packaged models."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def readme_api_example() -> str:
    """The first python block under the README's "Python API" heading, exactly as printed."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the built wheel installed; the pinned dependencies (torch and the rest) come
    from this test run's own environment through a .pth path entry, so the test does not download them again."""
    root = tmp_path_factory.mktemp("package")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(wheels), str(REPO)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = wheels.glob("uqviz-*.whl")
    environment = root / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "uqviz-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "--quiet", str(wheel)], check=True, capture_output=True, text=True)
    return environment


def run_in(environment: Path, folder: Path, *command: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900,
                            env={"PATH": f"{environment / 'bin'}:/usr/bin:/bin", "HOME": str(folder), "TQDM_DISABLE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_wheel_runs_the_command_and_the_readme_example_outside_the_repository(installed, tmp_path):
    uqviz = str(installed / "bin" / "uqviz")
    python = str(installed / "bin" / "python")
    where = run_in(installed, tmp_path, python, "-c", "import uqviz, uqviz_app; print(uqviz.__file__); print(uqviz_app.__path__[0] + '/app.py')")
    assert all(str(installed) in line for line in where.stdout.split())  # the wheel's copy, not the repository's
    app_folder = Path(where.stdout.split()[1]).parent
    for shipped in ("app.py", "pages/session.py", "pages/views.py", ".streamlit/config.toml"):
        assert (app_folder / shipped).is_file(), shipped
    assert (Path(where.stdout.split()[0]).parent / "data" / "demo_qa.csv").is_file()
    assert (Path(where.stdout.split()[0]).parent / "py.typed").is_file()

    help_text = run_in(installed, tmp_path, uqviz, "--help").stdout
    assert all(verb in help_text for verb in ("sample", "score", "batch", "report", "app"))
    run_in(installed, tmp_path, uqviz, "sample", "What is 2 + 2?", "--n", "2", "--max-new-tokens", "6", "--out", "run.json")
    run_in(installed, tmp_path, uqviz, "score", "run.json", "--out", "scores.json", "--run-model")
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["schema"] == "uqviz.scores/1"
    assert scores["measures"]["semantic_entropy"]["value"] is not None and scores["measures"]["uqac"]["value"] is not None

    (tmp_path / "example.py").write_text(readme_api_example())
    output = run_in(installed, tmp_path, python, "example.py").stdout
    lines = output.strip().splitlines()
    assert any(line.startswith("semantic_entropy ") for line in lines) and lines[-1] == "2.0"


def test_the_api_scores_a_sampled_run_and_answers_made_elsewhere(language_model):
    import uqviz

    run = uqviz.sample("What is the capital of France?", n=3, max_new_tokens=8, model=language_model)
    assert len(run.samples) == 3 and all(sample.logprobs for sample in run.samples)
    scores = uqviz.score(run, ["ln_predictive_entropy", "semantic_entropy"], language_model=None)
    frame = scores.to_frame()
    assert list(frame.index) == ["ln_predictive_entropy", "semantic_entropy"]
    expected = -sum(sum(s.logprobs) / len(s.logprobs) for s in run.samples) / 3
    assert frame.loc["ln_predictive_entropy", "value"] == pytest.approx(expected)
    assert frame.loc["semantic_entropy", "model calls"] >= 1
    assert frame.loc["semantic_entropy", "higher means"] == uqviz.REGISTRY["semantic_entropy"].higher_means

    texts = uqviz.score_texts("What is the capital of France?", ["Paris", "Paris", "I have no idea."])
    table = texts.to_frame()
    assert table.loc["num_semantic_sets", "value"] == 2.0
    assert math.isnan(table.loc["ln_predictive_entropy", "value"]) and "log-prob" in table.loc["ln_predictive_entropy", "reason"]
    with_logprobs = uqviz.score_texts("Q?", ["Paris", "Lyon"], logprobs=[[-0.1], [-2.0]], tokens=[["Paris"], ["Lyon"]])
    assert with_logprobs["ln_predictive_entropy"].result.value == pytest.approx(1.05)
    with pytest.raises(ValueError, match="together"):
        uqviz.score_texts("Q?", ["Paris"], logprobs=[[-0.1]])
    figure = uqviz.scores_figure(scores)
    (table_trace,) = figure.data
    assert [title[:16] for title in table_trace.cells.values[0]] == ["Length-normalise", "Semantic entropy"]


def test_uqviz_app_passes_streamlit_options_through_and_stops_cleanly_on_ctrl_c(monkeypatch):
    from uqviz import cli

    commands = []
    monkeypatch.setattr(cli.subprocess, "call", lambda command: commands.append(command) or 0)
    assert cli.main(["app", "--server.port", "8502"]) == 0
    (command,) = commands
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    assert "--server.address=localhost" in command and command[-2:] == ["--server.port", "8502"]

    def interrupted(command):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.subprocess, "call", interrupted)
    assert cli.main(["app", "--", "--server.port", "8503"]) == 130
