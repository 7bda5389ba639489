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
