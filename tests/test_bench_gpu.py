"""bench/gpu.py runs end to end on the tiny shape on CPU, so the prepared GPU script is known to work before a GPU
session (where it runs the 1B and 8B shapes with `--device cuda`)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_gpu_benchmark_script_runs_on_the_tiny_shape_on_cpu():
    result = subprocess.run(
        [sys.executable, "bench/gpu.py", "--device", "cpu", "--shapes", "tiny", "--n", "2", "--max-new-tokens", "4",
         "--repeats", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tiny: 0.006 B parameters, float32, uqviz samples with the dynamic cache" in out
    for name in ("bare dynamic cache", "bare static cache", "uqviz sample + stats"):
        assert re.search(re.escape(name) + r"\s+\d+\.\d+ s\s+peak extra", out)
    ratio = float(re.search(r"ratio uqviz / bare dynamic cache\s+(\d+\.\d+)", out).group(1))
    assert ratio > 0
    assert re.search(r"static cache speed-up\s+\d+\.\d+x", out)


def test_gpu_benchmark_refuses_cuda_without_a_gpu():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = subprocess.run([sys.executable, "bench/gpu.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "needs a CUDA device" in result.stderr
