"""Attention chain (UQAC): which earlier tokens the answer rests on, the answer's marginal confidence (docs/methods.md §5), and
the single-pass attention measures RAUQ and Attention Score read from the same pass (§12.10)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.common import show_table
from pages.session import ask_to_load_run_model, require_run, statistics
from uqviz.engine.attention import HEAD_CHOICES, AttentionPass, AttentionPassError
from uqviz.engine.sampling import SamplingError
from uqviz.format.run import Run
from uqviz.measures.rauq import attention_score, kept_self_attention, rauq_of_pass
from uqviz.measures.uqac import UqacChain, UqacDetail, answer_span, build_chain, cached_detail, expand
from uqviz.models.loading import ModelLoadError
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.uqac import GREEDY, attention_of
from uqviz.viz.chain import (
    chain_figure,
    chain_text_html,
    expansion_rows,
    previous_token_figure,
    rauq_confidence_figure,
    roles_legend_html,
    selected_position,
    token_detail_html,
)
from uqviz.viz.tokens import plain_markdown

DEFAULTS = ScoreConfig()
SINGLE_PASS_EXPLANATION = r"""
**RAUQ** (Vazhentsev et al. 2025) reads, in every layer of the middle third, the head that pays the most attention on
average to the previous token over the answer. Along the answer it carries a confidence
$c_i = \alpha\, p(y_i) + (1 - \alpha)\, a_{i,i-1}\, c_{i-1}$ (with $c_1 = p(y_1)$): a token stays trusted while it is
likely and that head keeps attending to the token before it. Each layer scores $1 - \frac{1}{n} \sum_i \log c_i$;
RAUQ is the largest. $\alpha$ is 0.5 for a chat run and 0.2 otherwise, LM-Polygraph's defaults.

**Attention Score** (Sriramanan et al. 2024, LLM-Check) is minus the mean over the heads of the middle layer of
$\sum_t \log A[t, t]$, the log-determinant of each lower-triangular attention map. Both come from the attention pass
above: no model call. docs/methods.md §12.10.
"""
EXPLANATION = r"""
**What the graph shows.** UQAC (Li, Qiang, Moukheiber, Zhang 2025) runs the model once more over the prompt
and the chosen answer with eager attention. For every answer token it keeps, per query row, the attention heads
(16 by default) with the lowest entropy (after zeroing self-attention and the first position and down-weighting the 10
nearest tokens) and takes their element-wise maximum. Starting from the answer span (stars, step 0) it follows
that reduced attention backwards: each step adds at most $B$ of the most attended, not-yet-visited, non-stop-word
answer tokens; once the chain has the minimum length, only tokens scoring at least $\tau$ join. Prompt tokens
never join. Edges are the reduced attention between a token and the one it picked.

**Similarity filter.** Of the chain tokens, the top-$k$ whose last-layer hidden state is most similar (mean
cosine) to the answer tokens' form $T_{\text{sim}}$ (thick blue outline).

**Marginal confidence.** At each $T_{\text{sim}}$ token the model's top-5 alternatives with $p > 0.01$ give
one-token variants of the answer (the rest of the text unchanged). One batched forward pass scores them all:

$$\tilde P = \sum_e P_e(\text{answer}) \cdot \prod_{t \in T_{\text{sim}}} P_e(t)$$

The original answer is $e = 0$. $\tilde P$ is a confidence; the registry reports $U = -\tilde P$.
`attn_probs_prod` and `sims_probs_prod` are the products of the original probabilities over the whole chain
and over $T_{\text{sim}} \cup$ answer: no extra passes.
"""


def settings(run: Run) -> tuple[int | str, ScoreConfig, bool]:
    options = [*range(len(run.samples)), GREEDY]
    choice = st.selectbox(
        "Answer to analyse", options, key="uqac_choice",
        format_func=lambda o: "greedy answer (temperature 0, generated on demand)" if o == GREEDY
        else f"sample {o + 1}: {run.samples[o].text[:60]!r}",
    )
    left, middle, right = st.columns(3)
    tau = left.slider("τ: score a late pick needs", 0.0, 1.0, DEFAULTS.uqac_tau, 0.05, key="uqac_tau")
    buffer = left.slider("B: picks per step", 1, 10, DEFAULTS.uqac_buffer, key="uqac_buffer")
    heads = middle.select_slider("Heads kept per row (lowest entropy)", HEAD_CHOICES, DEFAULTS.uqac_heads, key="uqac_heads")
    min_extra = middle.slider("Minimum chain length beyond the answer", 0, 20, DEFAULTS.uqac_min_extra, key="uqac_min_extra")
    top_k = right.slider("Similarity filter: top-k", 1, 30, DEFAULTS.uqac_similarity_top_k, key="uqac_top_k")
    double_count = right.toggle(
        "Reference stopping test", DEFAULTS.uqac_double_count, key="uqac_double_count",
        help="The authors' code counts a step's picks twice when testing the minimum length (docs/methods.md §5.3).",
    )
    live = right.toggle(
        "Recompute P̃ for each new chain", True, key="uqac_live",
        help="P̃ needs one batched forward pass per distinct chain; off, moving a slider never calls the model.",
    )
    config = replace(
        DEFAULTS, uqac_tau=tau, uqac_buffer=buffer, uqac_heads=heads, uqac_min_extra=min_extra,
        uqac_similarity_top_k=top_k, uqac_double_count=double_count,
    )
    return choice, config, live


def render() -> None:
    st.title("Attention chain (UQAC)")
    st.caption(
        "Which earlier tokens does the answer rest on, and how sure is the model of the answer and of that chain? "
        "Sliders re-derive the chain from one cached attention pass; they do not re-run the model."
    )
    run = require_run()
    if not ask_to_load_run_model(run):
        st.stop()
    run_statistics = statistics(run_model=True)
    choice, config, live = settings(run)
    attention = load_attention(run, run_statistics, choice, config)
    chain = build_chain(attention, config, pick_span(attention, choice))
    if len(chain.backtrack.sources) == len(chain.answer_sources):
        st.info(
            "The chain has no tokens besides the answer: prompt tokens never join it, and no earlier answer token "
            "passed the stop list. Pick a shorter answer span (for instance the last words) to see what it rests on."
        )
    detail = cached_detail(run_statistics, chain)
    if detail is None and (live or st.button(f"Compute P̃ ({len(chain.replacements) + 1} sequences, one batched pass)")):
        with st.spinner("Scoring the one-token expansions…"):
            detail = expand(run_statistics, chain)
    show_numbers(chain, detail)
    show_costs(attention, chain, detail, run_statistics)
    show_chain(chain)
    if detail is not None:
        show_expansions(detail)
    with st.expander("How UQAC works"):
        st.markdown(EXPLANATION)
    show_single_pass_measures(attention, run.chat)


def load_attention(run: Run, run_statistics: RunStatistics, choice: int | str, config: ScoreConfig) -> AttentionPass:
    """The cached attention pass of the chosen answer; stops the page with the reason when it cannot run."""
    try:
        with st.spinner("Teacher-forced attention pass (eager attention, reduced layer by layer)…", show_time=True):
            return attention_of(run_statistics, choice, config)
    except (ModelLoadError, MissingInputError, AttentionPassError, SamplingError) as error:
        st.error(f"UQAC needs the run's own model ({plain_markdown(run.model.name)}) and a short enough answer: {plain_markdown(str(error))}")
        st.stop()


def pick_span(attention: AttentionPass, choice: int | str) -> list[int]:
    """The answer tokens UQAC starts from: the detected span unless the user picks others."""
    answer_tokens = attention.tokens[attention.prompt_length :]
    span = st.multiselect(
        "Answer span (detected: a final number, else the last sentence)", range(len(answer_tokens)),
        default=answer_span(answer_tokens), key=f"uqac_span_{choice}",
        format_func=lambda i: f"{i}: {answer_tokens[i]!r}",
    )
    if not span:
        st.warning("Pick at least one answer token.")
        st.stop()
    return span


def show_costs(attention: AttentionPass, chain: UqacChain, detail: UqacDetail | None, run_statistics: RunStatistics) -> None:
    st.caption(
        f"Attention pass: {attention.seconds:.2f} s, one forward over {attention.length} tokens "
        f"({attention.total_heads} heads reduced layer by layer, {chain.heads} kept per row)"
        + ("" if detail is None else f" · expansions: {len(detail.expansions)} sequences in one batched pass, {detail.seconds:.2f} s")
        + f" · model calls this session: {sum(cost.model_calls for cost in run_statistics.costs.values())}"
    )


def show_chain(chain: UqacChain) -> None:
    """The chain graph (a click on a node shows that token's detail) and the answer with chain tokens marked."""
    event = st.plotly_chart(chain_figure(chain), key="uqac_graph", on_select="rerun", selection_mode="points",
                            width="stretch", config={"displayModeBar": False})
    position = selected_position(event.selection if event else None, chain.attention.length)
    if position is not None:
        st.html(token_detail_html(chain, position))
    st.subheader("The answer, chain tokens marked")
    st.html(roles_legend_html())
    st.html(chain_text_html(chain))


def show_expansions(detail: UqacDetail) -> None:
    st.subheader("Expansions")
    probability = st.column_config.NumberColumn(format="%.3e")
    show_table(
        pd.DataFrame(expansion_rows(detail)), key="uqac_expansions", hide_index=True,
        column_config={"p(swap)": st.column_config.NumberColumn(format="%.3f"), "P(answer)": probability,
                       "P(chain)": probability, "P(answer)·P(chain)": probability},
    )


def show_single_pass_measures(attention: AttentionPass, chat: bool) -> None:
    """RAUQ and the Attention Score, read from the same attention pass (docs/methods.md §12.10): no model call."""
    st.subheader("Single-pass attention measures: RAUQ and Attention Score")
    rauq = rauq_of_pass(attention, chat)
    score = attention_score(kept_self_attention(attention), attention.prompt_length)
    chosen = rauq.selected
    left, middle, right = st.columns(3)
    left.metric("RAUQ U", f"{rauq.value:.4g}", help="max over the middle layers of 1 − mean log c_i; 1 is the minimum")
    middle.metric("layer giving U", f"{rauq.layers[chosen]} (head {rauq.heads[chosen]})", help=f"α = {rauq.alpha:g}")
    right.metric("Attention Score U", f"{score.value:.4g}", help=f"−mean over heads of Σ_t log A[t, t], layer {score.layer}")
    st.plotly_chart(previous_token_figure(rauq), key="rauq_heads", width="stretch", config={"displayModeBar": False})
    st.caption("Mean attention each head pays to the previous token over this answer; squares mark the head RAUQ picks "
               "in each layer it reads, the star the layer whose U is the answer's.")
    st.plotly_chart(rauq_confidence_figure(rauq), key="rauq_confidence", width="stretch", config={"displayModeBar": False})
    with st.expander("How RAUQ and the Attention Score work"):
        st.markdown(SINGLE_PASS_EXPLANATION)


def show_numbers(chain: UqacChain, detail: UqacDetail | None) -> None:
    columns = st.columns(4)
    if detail is None:
        columns[0].metric("UQAC confidence P̃", "not computed", help="Press the button above, or turn on live recomputation.")
    else:
        columns[0].metric("UQAC confidence P̃", f"{detail.confidence:.4g}", help="U = −P̃ in the scores")
    columns[1].metric("plain answer probability", f"{chain.answer_probability:.4g}")
    columns[2].metric("attn_probs_prod", f"{chain.chain_product:.4g}", help="Π p over every chain token, answer included")
    columns[3].metric("sims_probs_prod", f"{chain.similarity_product:.4g}", help="Π p over T_sim and the answer")
    st.caption(
        "P̃ weighs the answer's probability by the probability of the tokens it rests on, and adds the same for every "
        "likely one-token change of those tokens. An answer that rests on likely tokens and stays likely when they "
        "change keeps a high P̃; one that rests on unlikely tokens gets a low one, even if its own tokens are likely."
    )


if __name__ == "__main__":
    render()
