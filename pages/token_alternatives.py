"""Token alternatives (CCP): which tokens' likely alternatives would change what an answer says, judged by NLI on
demand for the answer in view (Fadeeva et al. ACL 2024; docs/methods.md §12.5)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import compute_on_demand, current_scores, require_run, statistics
from uqviz.format.run import Run
from uqviz.measures.ccp import TokenCcp, answer_ccp, saturation_note
from uqviz.models.loading import ModelLoadError
from uqviz.scoring.scores import Scores
from uqviz.statistics.alternatives import TOKEN_ALTERNATIVES, TokenAlternatives
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.viz.alternatives import ALTERNATIVE_COLUMNS, alternatives_rows, ccp_figure, ccp_legend_html, ccp_tokens_html
from uqviz.viz.tokens import error_line, plain_markdown

CCP = "claim_conditioned_probability"
REQUESTED_KEY = "ccp_requested"  # (run, indices of the answers whose alternatives the user asked to judge)
EXPLANATION = r"""
**Why alternatives?** A token can be unlikely without mattering: "The" instead of "A" says the same thing, while
"Lyon" instead of "Paris" changes the claim. Claim-conditioned probability (Fadeeva et al., ACL 2024) asks, for
every token, whether its likely alternatives would keep the meaning.

**Per token.** Each of the model's top alternatives $y$ is swapped in for the sampled token $x$, and an NLI judge
reads the question and answer up to that token both ways, original → swapped and swapped → original. Both agree:
that label; entailment against contradiction: neutral; otherwise the label that is not neutral. Then

$$\mathrm{CCP}_i = \frac{\sum_{y \text{ keeps the meaning}} p(y)}{\sum_{y \text{ keeps or contradicts it}} p(y)}$$

The sampled token always keeps its own meaning; neutral alternatives count in neither sum.

**Per answer.** $U = 1 - \prod_i \mathrm{CCP}_i$: the chance that some token's likely alternative changes the
claim. The run's CCP measure averages $U$ over the answers. The product runs over every token, so a long answer
collects many CCPs below 1 and its $U$ creeps towards 1 whatever it says: answer-level CCP saturates on paragraphs.
The paper's cure is CCP per claim, each sentence scored on its own tokens.

**Cost.** Two NLI pairs per alternative per token, so it is computed only when asked, for the answer in view.
"""


def requested(run: Run) -> set[int]:
    """The answers of this run whose alternatives the user asked to judge (a new run starts with none)."""
    held = st.session_state.get(REQUESTED_KEY)
    if held is None or held[0] is not run:
        held = (run, set())
        st.session_state[REQUESTED_KEY] = held
    return held[1]


def alternative_count(run: Run, index: int) -> int:
    """How many alternatives (top-k tokens other than the sampled one) the answer's tokens have."""
    return sum(max(len(top) - 1, 0) for top in run.samples[index].top_tokens)


def judged_alternatives(run: Run, run_statistics: RunStatistics, index: int) -> list[TokenAlternatives] | None:
    """The answer's judged alternatives, judged now with progress when they are not cached; None after a message."""
    cached = run_statistics.cached(TOKEN_ALTERNATIVES, index)
    if cached is not None:
        return cached
    tokens = len(run.samples[index])
    with st.status(f"Judging the alternatives of {tokens} tokens with the NLI judge…",
                   expanded=False) as status:
        try:
            alternatives = TOKEN_ALTERNATIVES(run_statistics, index)
        except (MissingInputError, ModelLoadError) as error:
            status.update(label="CCP cannot be computed", state="error")
            st.info(f"CCP cannot be computed for this answer: {error_line(error)}.")
            return None
        except (RuntimeError, OSError) as error:
            status.update(label="The NLI judge failed", state="error")
            st.error(f"The NLI judge failed: {error_line(error)}")
            return None
        status.update(label=f"Judged the alternatives of {tokens} tokens", state="complete")
    return alternatives


def answer_view(tokens: list[TokenCcp], u: float) -> None:
    """One judged answer: U, the two-row chart, the coloured tokens and the table of alternatives."""
    left, right = st.columns([1, 3])
    left.metric("U = 1 − Π CCP_i", f"{u:.4f}", help="higher: some token's likely alternative would change the claim")
    right.caption(
        "Each token's CCP is the share of its likely alternatives' probability that keeps the answer's meaning, among "
        "the alternatives the NLI judge finds either saying the same or contradicting it (neutral ones are left out). "
        "U multiplies the tokens' CCPs: it is the chance that some likely alternative token changes what the answer "
        "claims. See docs/methods.md, section 12.5 (claim-conditioned probability)."
    )
    st.caption("Top row: 1 − CCP, whether the token's alternatives change the claim. Bottom row: −log p, how unlikely "
               "the token was at all. A token can be unlikely and harmless (\"The\" → \"A\") or likely and decisive "
               "(\"Paris\" → \"Lyon\"). Hover a cell for the alternatives.")
    st.plotly_chart(ccp_figure(tokens), key="ccp_tokens", width="stretch", config={"displayModeBar": False})
    st.html(ccp_legend_html())
    st.html(ccp_tokens_html(tokens))
    st.subheader("Alternatives")
    rows = alternatives_rows(tokens)
    if not rows:
        st.info("No token of this answer had another likely token.")
        return
    show_table(
        pd.DataFrame(rows, columns=list(ALTERNATIVE_COLUMNS)), key="ccp_alternatives", hide_index=True,
        column_config={
            "token p": st.column_config.NumberColumn(format="%.3f"),
            "probability": st.column_config.NumberColumn(format="%.3f"),
            "CCP of the token": st.column_config.NumberColumn(format="%.3f"),
        },
    )


def answer_section(run: Run, index: int) -> None:
    """The answer in view: a reason why it cannot be judged, the button that judges it, or its judged view."""
    sample = run.samples[index]
    if sample.text.strip() and not sample.tokens:
        st.info("This answer has no tokens (it was pasted as text), so there are no token alternatives to judge.")
        return
    if not sample.tokens:
        st.info("This answer is empty: it has no tokens to judge.")
        return
    if not sample.top_tokens:
        st.info("This run has no top-k alternatives per token (imported samples keep none), so CCP cannot be computed.")
        return
    run_statistics = statistics()
    asked = requested(run)
    if index not in asked and run_statistics.cached(TOKEN_ALTERNATIVES, index) is None:
        slot = st.empty()
        with slot.container():
            st.caption(f"Judging this answer asks the NLI model about {2 * alternative_count(run, index)} text pairs "
                       f"(2 per alternative of each of its {len(sample)} tokens).")
            pressed = st.button("Judge this answer's alternatives", key="ccp_judge", type="primary")
        if not pressed:
            return
        slot.empty()
    asked.add(index)
    alternatives = judged_alternatives(run, run_statistics, index)
    if alternatives is not None:
        u, tokens = answer_ccp(alternatives)
        answer_view(tokens, u)


def all_answers_section(run: Run, scores: Scores) -> None:
    """The run's CCP measure: its per-answer U once computed, else the button that computes it for every answer."""
    st.subheader("CCP over all answers")
    scored = scores.measures.get(CCP)
    if scored is None or scored.result.value is None:
        count = sum(alternative_count(run, index) for index in range(len(run.samples)))
        st.caption(f"The run's CCP measure needs every answer judged: about {2 * count} NLI pairs in all, fewer for the "
                   "answers already judged here. The All scores table shows it too.")
        slot = st.empty()
        if not slot.button("Compute CCP for all answers", key="ccp_all"):
            return
        slot.empty()
        with st.spinner(f"Judging the alternatives of {len(run.samples)} answers…", show_time=True):
            try:
                scored = compute_on_demand([CCP])[CCP]
            except (ModelLoadError, RuntimeError, OSError) as error:
                st.error(f"CCP could not be computed: {error_line(error)}")
                return
        if scored.result.value is None:
            st.info(f"CCP cannot be computed for this run: {plain_markdown(scored.result.reason or 'no reason given')}.")
            return
    per_answer_section(run, scored.result.value, scored.result.per_sample)
    st.caption(f"Computed in {scored.seconds:.2f} s.")


def per_answer_section(run: Run, value: float, per_sample: list[float]) -> None:
    """The run's CCP beside every answer's U and length, with a note where long answers saturate it."""
    st.metric("CCP of the run (mean U over answers)", f"{value:.4f}")
    lengths = [len(sample) for sample in run.samples]
    show_table(
        pd.DataFrame({"answer": [f"S{k + 1}" for k in range(len(run.samples))], "text": [s.text for s in run.samples],
                      "tokens": lengths, "U = 1 − Π CCP_i": per_sample}),
        key="ccp_per_answer", hide_index=True,
    )
    note = saturation_note(per_sample, lengths)
    if note:
        st.warning(note)


def render() -> None:
    """Token alternatives (CCP): one answer's tokens by 1 − CCP and −log p, their alternatives, and the run's CCP."""
    run = require_run()
    st.title("Token alternatives (CCP)")
    st.caption("Which tokens of an answer have likely alternatives that would change what it says, and which only "
               "change the wording.")
    with st.expander("How CCP works", expanded=False):
        st.markdown(EXPLANATION)
    index = st.selectbox("Answer", range(len(run.samples)), key="ccp_sample",
                         format_func=lambda k: f"S{k + 1}: {run.samples[k].text[:60] or '(empty answer)'}")
    answer_section(run, index)
    all_answers_section(run, current_scores())


if __name__ == "__main__":
    render()
