"""Attention chain (UQAC): which earlier tokens the answer rests on, and the answer's marginal confidence (docs/methods.md §5)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages.session import ask_to_load_run_model, require_run, statistics
from uqviz.engine.attention import HEAD_CHOICES, AttentionPassError
from uqviz.engine.sampling import SamplingError
from uqviz.format.run import Run
from uqviz.measures.uqac import UqacChain, UqacDetail, answer_span, build_chain, cached_detail, expand
from uqviz.models.loading import ModelLoadError
from uqviz.statistics.base import MissingInputError, ScoreConfig
from uqviz.statistics.uqac import GREEDY, attention_of
from uqviz.viz.chain import (
    chain_figure,
    chain_text_html,
    expansion_rows,
    roles_legend_html,
    selected_position,
    token_detail_html,
)
from uqviz.viz.tokens import plain_markdown

DEFAULTS = ScoreConfig()
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
    try:
        with st.spinner("Teacher-forced attention pass (eager attention, reduced layer by layer)…", show_time=True):
            attention = attention_of(run_statistics, choice, config)
    except (ModelLoadError, MissingInputError, AttentionPassError, SamplingError) as error:
        st.error(f"UQAC needs the run's own model ({plain_markdown(run.model.name)}) and a short enough answer: {plain_markdown(str(error))}")
        st.stop()
    answer_tokens = attention.tokens[attention.prompt_length :]
    span = st.multiselect(
        "Answer span (detected: a final number, else the last sentence)", range(len(answer_tokens)),
        default=answer_span(answer_tokens), key=f"uqac_span_{choice}",
        format_func=lambda i: f"{i}: {answer_tokens[i]!r}",
    )
    if not span:
        st.warning("Pick at least one answer token.")
        st.stop()
    chain = build_chain(attention, config, span)
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
    st.caption(
        f"Attention pass: {attention.seconds:.2f} s, one forward over {attention.length} tokens "
        f"({attention.total_heads} heads reduced layer by layer, {chain.heads} kept per row)"
        + ("" if detail is None else f" · expansions: {len(detail.expansions)} sequences in one batched pass, {detail.seconds:.2f} s")
        + f" · model calls this session: {sum(cost.model_calls for cost in run_statistics.costs.values())}"
    )
    event = st.plotly_chart(chain_figure(chain), key="uqac_graph", on_select="rerun", selection_mode="points",
                            width="stretch", config={"displayModeBar": False})
    position = selected_position(event.selection if event else None, attention.length)
    if position is not None:
        st.html(token_detail_html(chain, position))
    st.subheader("The answer, chain tokens marked")
    st.html(roles_legend_html())
    st.html(chain_text_html(chain))
    if detail is not None:
        st.subheader("Expansions")
        probability = st.column_config.NumberColumn(format="%.3e")
        st.dataframe(
            pd.DataFrame(expansion_rows(detail)), key="uqac_expansions", hide_index=True,
            column_config={"p(swap)": st.column_config.NumberColumn(format="%.3f"), "P(answer)": probability,
                           "P(chain)": probability, "P(answer)·P(chain)": probability},
        )
    with st.expander("How UQAC works"):
        st.markdown(EXPLANATION)


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
