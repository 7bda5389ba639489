"""Claims: each answer split into sentences, every sentence judged against the other answers, so a paragraph shows
which of its claims the samples agree on (LUQ, Zhang et al. EMNLP 2024; docs/methods.md §13)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import require_run, statistics
from uqviz.format.run import Run
from uqviz.models.loading import ModelLoadError
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.claims import CLAIM_SUPPORT, CLAIMS, Claim
from uqviz.viz.claims import (
    claim_kind, claim_label, claim_matrix_figure, claim_tokens_html, support_legend_html, tinted_answer_html,
)
from uqviz.viz.clusters import selected_sample_id
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.workflows.claims import ClaimsTable, claim_evidence, claims_table

TABLE_KEY = "claims_table"  # (run, ClaimsTable) once the user asked for the claims
EXPLANATION = r"""
**Claims.** Every answer is split into sentences (rule-based, abbreviations and decimals kept inside). Each
sentence is a claim.

**Support.** For a claim of answer $k$ and every other answer $a_j$, the NLI judge reads $a_j$ as premise and the
claim as hypothesis. *Support* is the mean entailment probability. LUQ's score leaves out the neutral mass:
$\frac{1}{K-1}\sum_j \frac{p_e}{p_e + p_c}$; the claim's LUQ uncertainty is one minus it.

**Consensus and lonely claims.** A claim most other answers entail is a *consensus* claim; one that no other
answer entails is *lonely*: the model said it once and not again, the typical mark of an invented detail.
"""


def judged_table(run: Run, run_statistics: RunStatistics) -> ClaimsTable | None:
    """The claims table, computed with progress when the user asks for it; None while not asked or after a message."""
    held = st.session_state.get(TABLE_KEY)
    if held is not None and held[0] is run:
        return held[1]
    claims = CLAIMS(run_statistics).flat
    others = max(len(run.samples) - 1, 0)
    st.caption(f"{len(claims)} claims in {len(run.samples)} answers: judging them asks the NLI model about "
               f"{len(claims) * others} pairs (each claim against each other answer), about 10 s per 450 pairs on a CPU.")
    if not st.button("Find and judge the claims", key="claims_judge", type="primary"):
        return None
    with st.status(f"Judging {len(claims)} claims against the other answers…", expanded=False) as status:
        try:
            table = claims_table(run_statistics)
        except (MissingInputError, ModelLoadError, RuntimeError, OSError) as error:
            status.update(label="The claims could not be judged", state="error")
            st.error(f"The claims could not be judged: {error_line(error)}")
            return None
        status.update(label=f"Judged {len(table.rows)} claims", state="complete")
    st.session_state[TABLE_KEY] = (run, table)
    return table


def answers_section(run: Run, claims: list[Claim], table: ClaimsTable, kinds: list[str]) -> None:
    st.subheader("Answers, claim by claim")
    st.html(support_legend_html())
    for k, sample in enumerate(run.samples):
        rows = [row for row, claim in enumerate(claims) if claim.sample == k]
        st.markdown(f"**S{k + 1}**" + ("" if rows else " (no sentence)"))
        st.html(tinted_answer_html(sample.text, [claims[row] for row in rows], [table.rows[row].support for row in rows],
                                   [kinds[row] for row in rows]))


def claim_detail(run: Run, run_statistics: RunStatistics, claim: Claim, table: ClaimsTable, row: int, kind: str) -> None:
    """The chosen claim: its scores and kind, the other answers' best sentence for or against it, and its tokens."""
    scores = table.rows[row]
    st.subheader(f"Claim {claim_label(claim, 80)}")
    left, middle, right = st.columns(3)
    left.metric("Support", "—" if scores.support is None else f"{scores.support:.3f}", help="mean P(entailment) given each other answer")
    middle.metric("Answers contradicting it", "—" if scores.contradicting is None else scores.contradicting)
    right.metric("LUQ uncertainty", "—" if scores.luq_uncertainty is None else f"{scores.luq_uncertainty:.3f}")
    st.caption(f"This is a **{kind}** claim.")
    evidence = claim_evidence(run_statistics, claim)
    if evidence:
        show_table(pd.DataFrame([{"answer": f"S{item.sample + 1}", "its closest sentence": item.sentence, "label": item.label,
                                    "P(entailment)": item.entailment, "P(contradiction)": item.contradiction} for item in evidence]),
                     key="claims_evidence", hide_index=True)
    if claim.first_token is None:
        st.info("This answer's tokens do not spell its text (pasted answers), so the claim has no tokens to show.")
        return
    st.markdown("Its tokens, coloured by probability (hover for entropy and alternatives):")
    st.html(claim_tokens_html(run.samples[claim.sample], claim.first_token, claim.last_token))


def chosen_claim(claims: list[Claim], selection) -> int:
    """The claim clicked in the matrix, else the one chosen in the box below it."""
    clicked = selected_sample_id(selection, len(claims))
    if clicked is not None and clicked != st.session_state.get("claims_clicked"):  # a new click, not the kept selection
        st.session_state["claims_selected"] = st.session_state["claims_clicked"] = clicked
    return st.selectbox("Claim", range(len(claims)), key="claims_selected", format_func=lambda row: claim_label(claims[row], 90))


def render() -> None:
    """Claims: answers tinted claim by claim, the claim × answer matrix, and one claim's evidence and tokens."""
    run = require_run()
    st.title("Claims")
    st.caption("Which sentences of the answers the samples agree on, and which the model said only once.")
    with st.expander("How claims are scored", expanded=False):
        st.markdown(EXPLANATION)
    run_statistics = statistics()
    table = judged_table(run, run_statistics)
    if table is None:
        return
    for note in table.notes:
        st.info(plain_markdown(note))
    claims = CLAIMS(run_statistics).flat
    if not claims:
        st.info("No answer has a sentence to judge.")
        return
    support = run_statistics.cached(CLAIM_SUPPORT)
    if support is None:
        st.info(f"Support cannot be computed: {plain_markdown(table.reasons.get('support', 'no reason given'))}.")
        return
    kinds = [claim_kind(list(support.labels[row])) for row in range(len(claims))]
    answers_section(run, claims, table, kinds)
    st.subheader("Which answers back each claim")
    event = st.plotly_chart(claim_matrix_figure(claims, support, run_statistics.answers), key="claims_matrix", on_select="rerun",
                            selection_mode="points", width="stretch", config={"displayModeBar": False})
    st.caption("Rows: claims; columns: answers. Green: that answer entails the claim; grey: it says nothing about it; "
               "red: it contradicts it; an open square is the claim's own answer. Click a square to inspect its claim.")
    row = chosen_claim(claims, event.selection if event else None)
    claim_detail(run, run_statistics, claims[row], table, row, kinds[row])
    show_table(table.to_frame(), key="claims_all", hide_index=True)


if __name__ == "__main__":
    render()
