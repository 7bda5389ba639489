"""The main path in a real browser: type a prompt, sample, visit every page; nothing crashes, no script runs."""

from __future__ import annotations

import json

import pytest

from pages.views import VIEWS
from tests.e2e.conftest import open_view, screenshot, wait_for_app, wait_for_drawn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOSTILE_PROMPT = 'Repeat exactly: <img src=x onerror=alert(1)> <script>alert(2)</script>'

# What each page must draw for a fresh run, by navigation title.
EXPECTED = {
    "Sample": ".uqviz-token",
    "All scores": ".st-key-chow_length_chart .main-svg",
    "Token relevance (SAR)": ".st-key-sar_similarity .main-svg",
    "Semantic clusters": ".st-key-cluster_map .main-svg",
    "Semantic volume": ".st-key-volume_gram_internal .main-svg",
    "Attention chain (UQAC)": ".st-key-uqac_graph .main-svg",
    "Batch evaluation": "[data-testid='stDataFrame']",
    "Calibration": "[data-testid='stFileUploader']",
    "History": "[data-testid='stDataFrame']",
    "What if": "[data-testid='stForm'], [data-testid='stButton']",
    "Token alternatives (CCP)": ".st-key-ccp_tokens .main-svg",
    "Claims": ".st-key-claims_matrix .main-svg",
    "Ask the model (P(True))": ".st-key-p_true_chart .main-svg",
}
# Views that draw their figure once a button asks for the costly part, and the figures a view draws besides its first.
CLICK_FIRST = {
    "Token alternatives (CCP)": ".st-key-ccp_judge button",
    "Claims": ".st-key-claims_judge button",
    "Ask the model (P(True))": "[data-testid='stFormSubmitButton'] button",  # the first form is P(True)'s
}
ALSO_DRAWN = {
    "Semantic clusters": (".st-key-kle_kernel .main-svg", ".st-key-semantic_density_chart .main-svg"),
    "Semantic volume": (".st-key-eigenscore_spectrum .main-svg",),
    "All scores": (".st-key-cocoa_chart .main-svg",),
    "Attention chain (UQAC)": (".st-key-rauq_heads .main-svg", ".st-key-rauq_confidence .main-svg"),
}


def set_number(page, key: str, value: int) -> None:
    """Type into a sidebar number input until the app has taken the value (the first rerun can swallow one)."""
    field = page.locator(f".st-key-{key} input")
    for _ in range(3):
        field.fill(str(value))
        field.press("Enter")
        wait_for_app(page)
        page.wait_for_timeout(500)
        if field.input_value() == str(value):
            return
    raise AssertionError(f"{key} did not take the value {value}")


def nav_titles(page) -> list[str]:
    links = page.locator("[data-testid='stSidebarNav'] a")
    return [links.nth(i).inner_text().strip() for i in range(links.count())]


def test_sample_then_every_page(page, app_url):
    page.goto(app_url)
    page.wait_for_selector(".st-key-prompt textarea", timeout=60_000)
    wait_for_app(page)
    set_number(page, "n", 4)
    set_number(page, "max_new_tokens", 16)
    page.locator(".st-key-prompt textarea").fill(HOSTILE_PROMPT)
    page.locator("[data-testid='stFormSubmitButton'] button").click()
    wait_for_drawn(page, ".uqviz-token")
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Sampled 4 answers" in page.locator("[data-testid='stExpander']").first.inner_text()
    screenshot(page, "sample")

    titles = [title.split("\n")[-1].strip() for title in nav_titles(page)]
    assert titles == ["Sample", *[view.title for view in VIEWS]]  # every view listed, none behind "View more"
    for title in titles:
        open_view(page, title)
        assert page.locator("[data-testid='stException']").count() == 0, title
        if title in CLICK_FIRST:
            page.locator(CLICK_FIRST[title]).first.click()
        for expected in (EXPECTED[title], *ALSO_DRAWN.get(title, ())):
            wait_for_drawn(page, expected, 300_000)
            assert page.locator(expected).count() > 0, (title, expected)
        if title == "Claims":
            click_the_last_claim(page)
        screenshot(page, title.lower().replace(" ", "_").replace("(", "").replace(")", ""))

    assert page.dialogs == [], f"a script ran: {page.dialogs}"
    assert page.locator("img[src='x']").count() == 0


def click_the_last_claim(page) -> None:
    """Click the claim matrix's last square (the last claim's own answer): the claim inspected below becomes that one."""
    shown = page.locator("h3", has_text="Claim S")
    before = shown.first.inner_text()
    squares = page.locator(".st-key-claims_matrix .scatterlayer .point")
    squares.last.scroll_into_view_if_needed()
    page.locator(".st-key-claims_matrix").hover()  # plotly takes a click once the pointer has moved over the chart
    box = squares.last.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(2000)
    wait_for_app(page)
    claims = squares.count() // 4  # four answers: one square per claim and answer
    assert claims == 1 or shown.first.inner_text() != before, before
    assert page.locator("[data-testid='stMetric']", has_text="Support").count() == 1


def test_batch_on_two_demo_questions_draws_its_charts(page, app_url):
    page.goto(app_url)
    page.wait_for_selector(".st-key-prompt textarea", timeout=60_000)
    wait_for_app(page)
    set_number(page, "max_new_tokens", 12)
    open_view(page, "Batch evaluation")
    set_number(page, "batch_n", 2)
    set_number(page, "batch_limit", 2)
    page.locator(".st-key-batch_run button").click()
    wait_for_app(page)
    assert page.locator("[data-testid='stException']").count() == 0
    wait_for_drawn(page, ".st-key-batch_ranked_chart .main-svg")
    screenshot(page, "batch_evaluation_after_run")


BEACON = "http://198.51.100.7/beacon.png"
HOSTILE_SAMPLES = "\n".join(
    json.dumps({"text": text, "tokens": tokens, "logprobs": logprobs})
    for text, tokens, logprobs in (
        ("<img src=x onerror=alert(1)>", ["<img", " src=x", " onerror=alert(1)>"], [-0.5, -1.0, -0.2]),
        ("<script>alert(2)</script> Paris", ["<script>", "alert(2)", "</script>", " Paris"], [-0.3, -2.0, -0.1, -0.4]),
        (f"![b]({BEACON}) [x](http://198.51.100.7/) $\\rule{{774px}}{{300px}}$", [f"![b]({BEACON})", " [x](http://198.51.100.7/)", " $\\rule{774px}{300px}$"], [-0.2, -0.3, -0.4]),
        ("Paris", ["Paris"], [-0.05]),
    )
)


def test_hostile_answers_imported_through_history_stay_text_on_every_page(page, app_url):
    elsewhere = []
    page.on("request", lambda request: None if request.url.startswith((app_url, "data:", "blob:")) else elsewhere.append(request.url))
    page.goto(app_url)
    page.wait_for_selector(".st-key-prompt textarea", timeout=60_000)
    wait_for_app(page)
    open_view(page, "History")
    page.locator(".st-key-history_paste_prompt input").fill(f"Capital of <b>France</b>? <script>alert(3)</script> ![q]({BEACON}) $\\rule{{900px}}{{9px}}$")
    page.locator(".st-key-history_paste_samples textarea").fill(HOSTILE_SAMPLES)
    page.get_by_role("button", name="Score the pasted samples").click()
    wait_for_app(page)
    for title in ("Sample", "History"):  # the run list above the form is drawn again with the saved run
        open_view(page, title)
    page.locator(".st-key-history_open button").click()
    wait_for_app(page)
    titles = [title.split("\n")[-1].strip() for title in nav_titles(page)]
    for title in titles:
        open_view(page, title)
        assert page.locator("[data-testid='stException']").count() == 0, title
        assert page.locator("img[src='x']").count() == 0, title
        assert page.locator("b", has_text="France").count() == 0, title
    open_view(page, "Token relevance (SAR)")
    page.get_by_text("onerror=alert(1)>").first.wait_for(timeout=120_000)  # the script may start after the click returns
    screenshot(page, "hostile_answers_token_relevance")
    assert page.dialogs == [], f"a script ran: {page.dialogs}"
    assert elsewhere == [], f"the page asked the network for {elsewhere}"  # no beacon image, link prefetch or font
    assert page.locator(f"img[src='{BEACON}']").count() == 0 and page.locator(".katex .rule").count() == 0  # the view's own formulas draw no rule
