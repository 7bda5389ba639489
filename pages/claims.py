"""Claims: each answer split into sentences (or, when asked, the atomic claims the run's model decomposes them into),
every claim judged against the other answers, so a paragraph shows which of its claims the samples agree on (LUQ, Zhang
et al. EMNLP 2024; docs/methods.md §13)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import ask_to_load_run_model, require_run, statistics
from uqviz.format.run import Run
from uqviz.models.loading import ModelLoadError
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.claims import ATOMIC, ATOMIC_CLAIMS, CLAIMS, Claim
from uqviz.viz.claims import (
    claim_kind, claim_label, claim_matrix_figure, claim_tokens_html, support_legend_html, tinted_answer_html,
)
from uqviz.viz.clusters import selected_sample_id
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.workflows.claims import ClaimsTable, claim_evidence, claims_table

TABLE_KEY = "claims_table"  # (run, atomic, ClaimsTable) once the user asked for the claims
ATOMIC_KEY = "claims_atomic"
EXPLANATION = r"""
**Claims.** Every answer is split into sentences (rule-based, abbreviations and decimals kept inside). Each
sentence is a claim.

**Support.** For a claim of answer $k$ and every other answer $a_j$, the NLI judge reads $a_j$ as premise and the
claim as hypothesis. *Support* is the mean entailment probability. LUQ's score leaves out the neutral mass:
$\frac{1}{K-1}\sum_j \frac{p_e}{p_e + p_c}$; the claim's LUQ uncertainty is one minus it.

**Atomic claims** (the toggle): the run's model breaks each sentence into independent facts with the prompt of
Zhang et al. 2025 (as UQLM words it), one greedy reply per sentence; each fact keeps its sentence's span and tokens.
A reply without "###" lines keeps the sentence itself, with a note.

**Consensus and lonely claims.** A claim most other answers entail is a *consensus* claim; one that no other
answer entails is *lonely*: the model said it once and not again, the typical mark of an invented detail.
"""


def claim_statistics(run: Run) -> tuple[RunStatistics, bool]:
    """The statistics to find claims with, and whether they are atomic: those need the run's model (confirmed like the
    other views that load the model a run file names)."""
    atomic = st.toggle("Atomic claims", key=ATOMIC_KEY,
                       help="The run's model decomposes each sentence into atomic facts (Zhang et al. 2025's prompt, one "
                            "greedy reply per sentence); a reply it cannot read keeps the sentence, with a note.")
    if not atomic:
        return statistics(), False
    config = ScoreConfig(claim_unit=ATOMIC)
    sampled_here = statistics(config)  # the model, or the server, that sampled the run in this session
    if sampled_here.has_reply_model:
        return sampled_here, True
    if not ask_to_load_run_model(run):
        st.stop()
    return statistics(config, run_model=True), True


def judged_table(run: Run, run_statistics: RunStatistics, atomic: bool) -> ClaimsTable | None:
    """The claims table, computed with progress when the user asks for it; None while not asked or after a message."""
    held = st.session_state.get(TABLE_KEY)
    if held is not None and held[0] is run and held[1] == atomic:
        return held[2]
    sentences = CLAIMS(run_statistics).flat
    others = max(len(run.samples) - 1, 0)
    if atomic:
        st.caption(f"{len(sentences)} sentences in {len(run.samples)} answers: the run's model first decomposes each "
                   f"distinct one (a greedy reply of up to {run_statistics.config.claim_decomposition_max_new_tokens} "
                   f"tokens), then the NLI model judges every atomic claim against the {others} other answers.")
    else:
        st.caption(f"{len(sentences)} claims in {len(run.samples)} answers: judging them asks the NLI model about "
                   f"{len(sentences) * others} pairs (each claim against each other answer), about 10 s per 450 pairs on a CPU.")
    if not st.button("Find and judge the claims", key="claims_judge", type="primary"):
        return None
    with st.status("Finding the claims and judging them against the other answers…", expanded=False) as status:
        try:
            table = claims_table(run_statistics)
        except (MissingInputError, ModelLoadError, RuntimeError, OSError) as error:
            status.update(label="The claims could not be judged", state="error")
            st.error(f"The claims could not be judged: {error_line(error)}")
            return None
        status.update(label=f"Judged {len(table.rows)} claims", state="complete")
    st.session_state[TABLE_KEY] = (run, atomic, table)
    return table


def decomposition_section(run_statistics: RunStatistics) -> None:
    """Every sentence the model was asked to decompose, its reply and the facts read from it."""
    config = run_statistics.config
    decomposition = run_statistics.cached(ATOMIC_CLAIMS, config.claim_decomposition_prompt, config.claim_decomposition_max_new_tokens)
    if decomposition is None:
        return
    with st.expander(f"How the model decomposed the {len(decomposition.sentences)} sentences"):
        show_table(pd.DataFrame([{"answer": f"S{item.sample + 1}", "sentence": item.text, "reply": item.reply or "",
                                  "facts read": len(item.facts) if item.facts is not None else None, "note": item.note or ""}
                                 for item in decomposition.sentences]), key="claims_decomposition", hide_index=True)
        st.code(decomposition.sentences[0].prompt if decomposition.sentences else "", language=None, wrap_lines=True)


def least_supported_per_sentence(claims: list[Claim], table: ClaimsTable, kinds: list[str]) -> list[int]:
    """One row per span to tint: every sentence claim, or each sentence's least supported atomic claim."""
    chosen: dict[tuple, int] = {}
    for row, claim in enumerate(claims):
        key = (claim.sample, claim.index if claim.sentence is None else claim.sentence)
        support = table.rows[row].support
        held = chosen.get(key)
        if held is None or (support is not None and (table.rows[held].support is None or support < table.rows[held].support)):
            chosen[key] = row
    return sorted(chosen.values(), key=lambda row: (claims[row].sample, claims[row].start))


def answers_section(run: Run, claims: list[Claim], table: ClaimsTable, kinds: list[str]) -> None:
    st.subheader("Answers, claim by claim")
    st.html(support_legend_html())
    if any(claim.sentence is not None for claim in claims):
        st.caption("Atomic claims: each sentence is tinted by its least supported atomic claim.")
    tinted = least_supported_per_sentence(claims, table, kinds)
    for k, sample in enumerate(run.samples):
        rows = [row for row in tinted if claims[row].sample == k]
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
    st.caption(f"This is a **{kind}** claim." + ("" if claim.sentence is None else
               f" An atomic claim of sentence {claim.sentence + 1}: its span and tokens are that sentence's."))
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
    run_statistics, atomic = claim_statistics(run)
    table = judged_table(run, run_statistics, atomic)
    if table is None:
        return
    for note in table.notes:
        st.info(plain_markdown(note))
    decomposition_section(run_statistics)
    claims, support = table.claims, table.support
    if not claims:
        st.info("No answer has a sentence to judge.")
        return
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
