"""Three answers to "which tokens matter?": SAR's relevance, CSL's attention and MARS's weights for each token of one
answer, and how much the prompt explains each token (PMI), a part of the Token relevance view (docs/methods.md §4,
§12.11, §12.12)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from pages import session
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import ModelLoadError
from uqviz.statistics.base import MissingInputError, RunStatistics
from uqviz.statistics.csl import csl_answers
from uqviz.statistics.probing import answer_sequences
from uqviz.statistics.relevance import TOKEN_RELEVANCE
from uqviz.viz.sar import CSL_WEIGHTS, MARS_WEIGHTS, SAR_WEIGHTS, token_weights_figure
from uqviz.viz.tokens import plain_markdown, pmi_tokens_html

EXPLANATION = r"""
Each method keeps the answer's token log-probabilities and only changes how much each token counts:
$U = \sum_i w_i \cdot (-\log p(z_i))$ with $\sum_i w_i = 1$. Equal weights $w_i = 1/n$ give LN-PE (the dotted line).

* **SAR** (Duan et al. 2024): remove a token and ask a similarity model how much the meaning of "question answer"
  changed; $w_i = \tilde R_i$.
* **CSL** (Lin, Trivedi & Sun 2024): put the answer into a prompt that asks the model itself whether the answer is
  right ("… Answer: *answer* Decision:"), and read how much attention the last token pays to each answer token.
  Each head's attention over the answer is scaled to sum 1 and the heads of all layers are averaged. The paper keeps
  only the heads that ranked answers best on labelled validation questions; uqviz has no such data, so it averages
  every head, as the authors' untuned variant does.
* **MARS** (Bakman et al. 2024): half of every weight is uniform, half follows the token's importance,
  $w_i = \frac{1}{2n} + \frac{u_i}{2}$. The paper's importance comes from a fine-tuned BERT model that cannot be
  loaded here; uqviz uses SAR's relevance as the importance (the same "how much does the meaning change without
  it" idea), so its MARS is the mean of LN-PE and TokenSAR.
"""


def on_request(run: Run, statistics: RunStatistics, name: str, short: str, doing: str,
               check: Callable[[RunStatistics], object]) -> MeasureResult | None:
    """A measure that costs an extra pass of the run's model, computed when its toggle is on and the model may load;
    `check` refuses runs it cannot read before the model loads. None, with the reason shown, otherwise."""
    measure = REGISTRY[name]
    if not st.toggle(f"Compute {short}", key=f"token_weights_{name}", help=f"Costs {measure.cost}."):
        return None
    try:
        check(statistics)
        if not session.ask_to_load_run_model(run):
            return None
        with st.spinner(doing, show_time=True):
            return measure.compute(session.statistics(run_model=True))
    except (MissingInputError, ModelLoadError) as error:
        st.info(f"{short} cannot be computed for this run: {plain_markdown(str(error).rstrip('.'))}.")
        return None


def pmi_section(run: Run, statistics: RunStatistics, index: int) -> None:
    """The chosen answer's tokens coloured by how much the prompt raised their log-probability (PMI, on request)."""
    result = on_request(run, statistics, "pmi", "PMI", "Reading every answer again without the prompt…", answer_sequences)
    if result is None:
        return
    detail = result.detail
    st.markdown(f"**PMI of S{index + 1}**: U = {result.per_sample[index]:.3f}, −the mean of the tokens' PMI (the first "
                "token, which has no term without the prompt, counts its log-probability with it). Green: the prompt "
                "made the token likelier than the answer alone does; red: less likely, a token the question does not explain.")
    st.html(pmi_tokens_html(run.samples[index], detail.conditional[index], detail.unconditional[index]))


def render_token_weights(run: Run, statistics: RunStatistics) -> None:
    """One answer's tokens weighted by SAR, CSL (on request) and MARS, with each method's U for that answer."""
    st.subheader("Which tokens matter? SAR, CSL and MARS")
    st.caption("Three ways to weigh the same token log-probabilities. Bars above the dotted line count more than in LN-PE.")
    if not run.samples:
        return
    index = st.selectbox(
        "Answer", range(len(run.samples)), key="token_weights_sample",
        format_func=lambda k: f"S{k + 1}: {' '.join(run.samples[k].text.split())[:80] or '(empty answer)'}",
    )
    try:
        relevance = TOKEN_RELEVANCE(statistics).relevance[index]
        token_sar, mars = REGISTRY["token_sar"].compute(statistics), REGISTRY["mars"].compute(statistics)
    except MissingInputError as error:
        st.error(f"The token weights cannot be computed for this run: {plain_markdown(str(error).rstrip('.'))}.")
        return
    csl = on_request(run, statistics, "csl", "CSL", "Reading the model's attention to every answer…", csl_answers)
    weights = {SAR_WEIGHTS: relevance, CSL_WEIGHTS: None if csl is None else csl.detail.weights[index],
               MARS_WEIGHTS: mars.detail.weights[index]}
    st.plotly_chart(token_weights_figure(run.samples[index], weights), key="token_weights", width="stretch",
                    config={"displayModeBar": False})
    values = {"LN-PE": mars.detail.ln_pe[index], "TokenSAR": token_sar.per_sample[index], "MARS": mars.per_sample[index]}
    if csl is not None:
        values["CSL"] = csl.per_sample[index]
    for column, (label, value) in zip(st.columns(len(values)), values.items()):
        column.metric(f"{label} of S{index + 1}", f"{value:.3f}")
    with st.expander("How CSL and MARS weigh tokens"):
        st.markdown(EXPLANATION)
    pmi_section(run, statistics, index)
