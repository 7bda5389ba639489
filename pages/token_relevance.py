"""Token relevance (SAR): which tokens carry the meaning, and how relevance shifts the uncertainty (docs/methods.md §4)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from pages import session
from pages.common import show_table
from pages.token_weights import render_token_weights
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.registry import REGISTRY
from uqviz.measures.sar import SENTENCE_SIMILARITY, TOKEN_RELEVANCE
from uqviz.models.loading import ModelLoadError
from uqviz.models.similarity import PRECISIONS, CrossEncoderModel, load_cross_encoder
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.relevance import relevance_cost
from uqviz.viz.sar import (
    COLOUR_MODES,
    CONTRIBUTION,
    mover_rows,
    per_sample_rows,
    sar_legend_html,
    sar_tokens_html,
    selected_sample,
    shift_figure,
    similarity_heatmap,
)
from uqviz.viz.tokens import plain_markdown

TEMPERATURES = (1e-3, 1e-2, 1e-1, 1.0)
SAR_MEASURES = {"ln_predictive_entropy": "LN-PE", "token_sar": "TokenSAR", "sent_sar": "SentSAR", "sar": "SAR"}
EXPLANATION = r"""
**Why relevance?** Predictive entropy counts every token alike, yet most tokens of an answer ("The",
"capital", "of") are fixed by grammar and the question. The few that carry the meaning ("Paris") decide
whether the answer is right. SAR (Duan et al., ACL 2024) shifts the uncertainty towards them.

**Token level.** Remove token $z_i$ from answer $s$ and ask a similarity model how much the meaning of
"question answer" changed. A token whose removal changes nothing is irrelevant:

$$g_i = \mathrm{sim}(q \oplus s,\ q \oplus s_{\setminus i}), \qquad R_i = 1 - g_i, \qquad \tilde R_i = R_i \big/ \textstyle\sum_j R_j$$

$$\mathrm{TokenSAR}(s) = \sum_i \tilde R_i \cdot \big(-\log p(z_i \mid z_{<i}, x)\big)$$

With equal weights $\tilde R_i = 1/n$ this is the answer's LN-PE; the shift panel shows how far relevance moves it.
If no token changes the meaning (every $R_i = 0$) the weights fall back to uniform.

**Answer level.** An answer is less uncertain when other likely answers say the same thing:

$$E_S(s_j) = -\log\Big(p_j + \frac{1}{t}\sum_{k \neq j} g_{jk}\, p_k\Big), \qquad p_k = \exp \textstyle\sum_i \log p(z_i)$$

SentSAR averages $E_S$ over the answers. SAR does the same with the token-shifted probabilities
$p'_k = \exp(-\mathrm{TokenSAR}(s_k))$. With the paper's $t = 0.001$ the neighbour term dominates and the
values go negative: only their order across questions matters. Everything is computed in log space.

**Similarity.** By default $g = \max(0, \cos)$ of MiniLM embeddings of "question answer"; a local
cross-encoder folder (the paper used `cross-encoder/stsb-roberta-large`) gives its sigmoid score instead.
The removed variant joins the other tokens exactly as decoded, so only position $i$ goes.
"""


@st.cache_resource(max_entries=1, show_spinner=False)
def cached_cross_encoder(path: str) -> CrossEncoderModel:
    return load_cross_encoder(path)


def sar_statistics(config: ScoreConfig, cross_encoder_path: str) -> RunStatistics:
    """The session's statistics, scored by a cross-encoder when a folder is given and loads."""
    if not cross_encoder_path:
        return session.statistics(config)
    try:
        cross_encoder = cached_cross_encoder(cross_encoder_path)
    except ModelLoadError as error:
        st.error(f"{plain_markdown(str(error))} The default bi-encoder is used instead.")
        return session.statistics(config)
    return session.statistics(config, cross_encoder=cross_encoder)


def cost_caption(statistics: RunStatistics, run: Run) -> str:
    pairs = sum(len(sample) for sample in run.samples)
    relevance, sentences = statistics.costs[TOKEN_RELEVANCE.name], statistics.costs[SENTENCE_SIMILARITY.name]
    count = len(run.samples)
    return (
        f"Cost: token relevance {pairs} text pairs in {relevance.seconds:.2f} s with {relevance.model_calls} similarity-model "
        f"calls; answer similarity {count * (count - 1) // 2} pairs in {sentences.seconds:.2f} s with {sentences.model_calls} calls "
        "(0 calls when every text was already embedded or scored)."
    )


@st.fragment
def shift_panel(run: Run, result: MeasureResult) -> None:
    st.subheader("Shift: LN-PE → TokenSAR")
    st.caption("Grey: every token weighted alike (LN-PE). Purple: tokens weighted by relevance (TokenSAR). "
               "Click a sample to see which tokens moved it.")
    event = st.plotly_chart(
        shift_figure(run, result.detail), key="sar_shift", on_select="rerun", selection_mode="points", width="stretch",
        config={"displayModeBar": False},
    )
    chosen = selected_sample(event.selection)
    if chosen is None:
        return
    sample = run.samples[chosen]
    st.markdown(f"**S{chosen + 1}**: LN-PE {result.detail.ln_pe[chosen]:.3f} → TokenSAR {result.per_sample[chosen]:.3f}. "
                "Each token moves it by (R̃ − 1/n)·(−log p):")
    st.html(sar_tokens_html(run, result.detail, CONTRIBUTION)[chosen])
    if len(sample):
        show_table(pd.DataFrame(mover_rows(sample, result.detail, chosen)), key="sar_movers", hide_index=True)


def settings() -> tuple[str, ScoreConfig, str]:
    """The colouring, SAR's temperature and precision, and an optional cross-encoder, as the user set them."""
    columns = st.columns([2, 1, 1, 2])
    mode = columns[0].segmented_control(
        "Colour tokens by", list(COLOUR_MODES), format_func=COLOUR_MODES.get, default=CONTRIBUTION, key="sar_colour",
    ) or CONTRIBUTION
    temperature = columns[1].select_slider(
        "Temperature t", options=TEMPERATURES, value=1e-3, key="sar_temperature", format_func=lambda value: f"{value:g}",
        help="SentSAR/SAR weight neighbours by g_jk / t; the paper uses t = 0.001.",
    )
    precision = columns[2].selectbox(
        "Relevance precision", PRECISIONS, key="sar_precision",
        help="auto: bfloat16 where this device runs it natively (about 2.4× faster on CPUs with AVX512-BF16, "
             "R within about 1e-3 of float32), float32 elsewhere. float32 reproduces the exact values.",
    )
    cross_encoder_path = columns[3].text_input(
        "Cross-encoder folder (optional)", value="", key="sar_cross_encoder",
        help="A local sentence-transformers cross-encoder, e.g. stsb-roberta-large, for SAR exactly as in the paper. "
             "Empty: max(0, cosine) of MiniLM embeddings.",
    ).strip()
    return mode, ScoreConfig(sar_temperature=float(temperature), relevance_precision=precision), cross_encoder_path


UNCAPPED_KEY = "sar_uncapped_run"
CHARACTERS_PER_SECOND = 20_000  # the budget's 400,000 characters in about 20 s on the 2-core CPU (docs/methods.md §4.6)


def within_budget(run: Run, config: ScoreConfig) -> ScoreConfig:
    """The config as it is for a run within the default analyses' budget of token relevance; beyond it, the cost and
    a button, and a stop until the user asks, then the config without the cap."""
    cost, budget = relevance_cost(run.prompt, run.samples), config.relevance_budget
    if budget is None or cost <= budget:
        return config  # the run's own scores' settings, so their cached relevance is reused
    if st.session_state.get(UNCAPPED_KEY) is run:
        return replace(config, relevance_budget=None)
    st.info(f"This run's token relevance would embed {sum(len(sample) for sample in run.samples):,} removal variants "
            f"({cost:,} characters), more than the {budget:,} the default analyses allow, so TokenSAR, SAR and MARS were "
            f"left out of its scores. Computing it here takes about {cost / CHARACTERS_PER_SECOND:.0f} s on a 2-core CPU.")
    if not st.button("Compute it anyway", key="sar_uncapped", type="primary"):
        st.stop()
    st.session_state[UNCAPPED_KEY] = run
    return replace(config, relevance_budget=None)


def render() -> None:
    run = session.require_run()
    st.title("Token relevance (SAR)")
    st.caption("Which tokens carry the meaning of each answer, and how weighting by that relevance moves the uncertainty.")
    with st.expander("How SAR works", expanded=False):
        st.markdown(EXPLANATION)
    mode, config, cross_encoder_path = settings()
    statistics = sar_statistics(within_budget(run, config), cross_encoder_path)
    with st.spinner("Scoring the relevance of every token…", show_time=True):
        try:
            results = {name: REGISTRY[name].compute(statistics) for name in SAR_MEASURES}
        except MissingInputError as error:
            st.error(f"SAR cannot be computed for this run: {plain_markdown(str(error))}.")
            st.stop()
    st.caption(f"Similarity backend: {statistics.similarity_name}; token relevance at {statistics.relevance_precision}")
    for column, (name, label) in zip(st.columns(len(SAR_MEASURES)), SAR_MEASURES.items()):
        column.metric(label, f"{results[name].value:.3f}", help=REGISTRY[name].formula)
    st.caption(cost_caption(statistics, run))

    token_result = results["token_sar"]
    st.subheader(f"Tokens coloured by {COLOUR_MODES[mode]}")
    st.html(sar_legend_html(run, token_result.detail, mode))
    for index, (sample, block) in enumerate(zip(run.samples, sar_tokens_html(run, token_result.detail, mode))):
        st.markdown(f"**S{index + 1}** · {len(sample)} tokens · LN-PE {token_result.detail.ln_pe[index]:.3f} → "
                    f"TokenSAR {token_result.per_sample[index]:.3f}")
        st.html(block)

    shift_panel(run, token_result)

    st.subheader("Answer similarity g_jk")
    if len(run.samples) < 2:
        st.info("One sample has no neighbours: E_S is its own −log p.")
    else:
        st.plotly_chart(similarity_heatmap(results["sent_sar"].detail.similarity, [s.text for s in run.samples]),
                        key="sar_similarity", width="stretch", config={"displayModeBar": False})
    st.subheader("Per sample")
    show_table(
        pd.DataFrame(per_sample_rows(run, token_result.detail, results["sent_sar"].detail, results["sar"].detail)),
        key="sar_table", hide_index=True,
    )
    render_token_weights(run, statistics)


if __name__ == "__main__":
    render()
