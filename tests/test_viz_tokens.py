"""Token HTML is escaped: model output is untrusted."""

import pytest

from tests.conftest import make_run
from uqviz.viz.tokens import coloured_tokens_html, probability_tokens_html, token_span

HOSTILE = '<img src=x onerror=alert(1)>'


def test_hostile_token_is_text_not_markup():
    span = token_span(HOSTILE, "rgb(0,0,0)", 'title with "quotes" and <script>')
    assert "<img" not in span and "&lt;img src=x onerror=alert(1)&gt;" in span
    assert "<script>" not in span and "&quot;quotes&quot;" in span


def test_sample_with_hostile_tokens_and_alternatives():
    run = make_run([f"{HOSTILE} <script>alert(2)</script>"])
    html = probability_tokens_html(run.samples[0])
    assert "<img" not in html and "<script>" not in html
    assert html.count('class="uqviz-token"') == len(run.samples[0].tokens)


def test_newlines_and_empty_tokens_stay_visible():
    html = coloured_tokens_html(["a\nb", ""], [0.1, 0.9], ["t1", "t2"], 0, 1, "Viridis")
    assert "↵<br>" in html and "∅" in html


@pytest.mark.parametrize("text", [
    "![beacon](http://tracker.example/pixel.png)", "[link](javascript:alert(1))", "$\\rule{774px}{20px}$",
    ":red[alarm] :material/home:", "**bold** _it_ `code` <b>html</b>", "# heading\n- item", "plain words",
])
def test_plain_markdown_leaves_no_markup_for_streamlit_to_render(text):
    import re

    from uqviz.viz.tokens import plain_markdown

    escaped = plain_markdown(text)
    # every ASCII punctuation mark is escaped, so removing the escapes gives the text back exactly
    assert re.sub(r"\\(.)", r"\1", escaped) == text
    assert not re.search(r"(?<!\\)[!\[\]()$*_`<>:#\-]", escaped)


def test_token_rows_colour_each_token_by_the_chosen_statistic_red_when_unsure():
    """Sample page rows (docs/methods.md §12.8, §12.13): values per token, the run's range for unbounded rows, and the
    reversed scale for entropy (high = unsure = the colour of p = 0)."""
    import math
    from dataclasses import replace

    from plotly.colors import sample_colorscale

    from uqviz.viz.tokens import TOKEN_ROWS, recorded_rows, row_range, token_row_html

    run = make_run(["sure one", "a b c"], logprobs=[[-0.1, -0.2], [-2.0, -0.5, -3.0]])
    assert recorded_rows(run.samples) == list(TOKEN_ROWS)
    first = run.samples[0]
    assert list(TOKEN_ROWS["margin"].values(first)) == pytest.approx([math.exp(-0.1) - math.exp(-1.1), math.exp(-0.2) - math.exp(-1.2)])
    entropy = TOKEN_ROWS["entropy"]
    assert row_range(run.samples, entropy) == (0.1, 3.0) and row_range(run.samples, TOKEN_ROWS["fisher_rao"]) == (0.0, 1.0)
    html = token_row_html(run.samples[1], entropy, (0.1, 3.0))
    spans = html.split('class="uqviz-token"')[1:]
    assert f"background:{sample_colorscale('RdYlGn', [0.0])[0]}" in spans[2]  # entropy 3.0, the highest: red
    assert "entropy (nats) = 3.000" in spans[2]
    renyi = token_row_html(first, TOKEN_ROWS["renyi"], row_range(run.samples, TOKEN_ROWS["renyi"]))
    assert f"= {math.log(4) * math.exp(-0.1):.3f}" in renyi
    bare = replace(run, samples=[replace(s, renyi_from_uniform=[], fisher_rao_from_uniform=[], top_logprobs=[]) for s in run.samples])
    assert recorded_rows(bare.samples) == ["probability", "entropy"]  # an older or imported run shows what it has
