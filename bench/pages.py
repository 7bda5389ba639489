"""Re-render time of every page for an analysed run, and the model calls a re-render makes (target < 0.3 s, 0 calls).

    python bench/pages.py [--n 10] [--max-new-tokens 64] [--typing-seconds 0]

Samples one run in the app (AppTest, in-process), renders every page once so that its analyses are cached,
then times a second render of each page while counting language-model forward passes and embedder calls.
`--typing-seconds S` waits S seconds between opening the app and submitting the prompt, as a person typing
does; the app compiles UMAP in the background meanwhile, so the first meaning map need not wait for it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PROMPT, run_size_parser  # noqa: E402
from pages.views import VIEWS  # noqa: E402



def main() -> None:
    parser = run_size_parser()
    parser.add_argument("--typing-seconds", type=float, default=0.0)
    args = parser.parse_args()

    import os
    import tempfile

    os.environ.setdefault("UQVIZ_STORE", str(Path(tempfile.mkdtemp()) / "runs.sqlite3"))
    from sentence_transformers import SentenceTransformer
    from streamlit.testing.v1 import AppTest
    from transformers import PreTrainedModel

    calls = {"lm forward": 0, "embedder encode": 0}
    forward, encode = PreTrainedModel.__call__, SentenceTransformer.encode

    def counted_forward(self, *a, **k):
        calls["lm forward"] += 1
        return forward(self, *a, **k)

    def counted_encode(self, *a, **k):
        calls["embedder encode"] += 1
        return encode(self, *a, **k)

    PreTrainedModel.__call__ = counted_forward
    SentenceTransformer.encode = counted_encode

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
    at.session_state["n"] = args.n
    at.session_state["max_new_tokens"] = args.max_new_tokens
    at.run()
    time.sleep(args.typing_seconds)
    at.text_area(key="prompt").input(PROMPT)
    at.button[0].click()
    at.run()
    print(f"sampled {len(at.session_state['run'].samples)} answers in {at.session_state['run'].sampling_seconds:.2f} s")
    print(f"{'page':32s} {'first render':>12s} {'re-render':>10s}  model calls in re-render")
    for page in (view.path for view in VIEWS):
        at.switch_page(page)
        started = time.perf_counter()
        at.run()
        first = time.perf_counter() - started
        before = dict(calls)
        started = time.perf_counter()
        at.run()
        again = time.perf_counter() - started
        made = {name: calls[name] - before[name] for name in calls}
        status = "exception!" if at.exception else ""
        print(f"{page:32s} {first:10.2f} s {again:8.3f} s  {made} {status}")


if __name__ == "__main__":
    main()
