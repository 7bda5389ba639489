"""bench/vllm.py needs CUDA and vLLM; on a machine without them it says so plainly and measures nothing."""

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_without_a_gpu_the_vllm_bench_says_so_and_exits_cleanly():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: bench/vllm.py would really serve a model")
    result = subprocess.run([sys.executable, str(REPO / "bench" / "vllm.py"), "--questions", "2"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no CUDA device here, so vLLM cannot run; nothing was measured." in result.stdout
