"""Semantic volume view: how widely the answers (internal) and rephrasings of the question (external) spread in meaning."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import streamlit as st

from pages import session
from pages.common import language_model, show_table
from uqviz.engine.perturbation import (
    DEFAULT_PERTURBATIONS,
    MAX_PERTURBATIONS,
    PERTURBATION_MAX_NEW_TOKENS,
    PERTURBATION_PROMPT,
    PERTURBATION_TEMPERATURE,
    PerturbationError,
    generate_perturbations,
    parse_perturbations,
)
from uqviz.engine.projection import pca
from uqviz.engine.sampling import MAX_NEW_TOKENS, SamplingError
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.models.loading import ModelLoadError
from uqviz.scoring.scores import score_run
from uqviz.statistics.base import PERTURBATION_EMBEDDINGS, MissingInputError, RunStatistics, ScoreConfig
from uqviz.viz.clusters import selected_sample_id
from uqviz.viz.tokens import error_line, plain_markdown
from uqviz.viz.volume import (
    SERIES_COLOURS,
    curve_figure,
    eigenscore_spectrum_figure,
    gram_figure,
    scatter_figure,
    spectrum_figure,
    text_labels,
    volume_reading,
)

EPSILON_CHOICES = (0.0, 1e-10, 1e-6, 1e-3, 1e-2, 1e-1)
SEMANTIC_ENTROPY_NOTE = """
**Link to semantic entropy.** Semantic entropy (docs/methods.md §3) counts how the answers fall into
discrete meaning classes. Semantic volume is its continuous counterpart: a Gaussian fitted to the
embeddings has differential entropy ½·log det(2πe·Σ), and the n × n Gram matrix ṼᵀṼ has the same
non-zero eigenvalues as the d × d matrix ṼṼᵀ = n·Σ (Σ the uncentred second moment of the unit embeddings),
so log det(ṼᵀṼ + εI) is, up to constants and a factor ½, the entropy of the answers' spread in meaning space. ε keeps the determinant finite
when answers coincide, much as a pseudo-count would for class frequencies. It needs no NLI model and
no clustering threshold, but it also never says *which* meanings the answers fall into.
"""


def volume_settings() -> ScoreConfig:
    columns = st.columns(3)
    epsilon = columns[0].select_slider(
        "ε (ridge)", options=EPSILON_CHOICES, value=1e-3, key="volume_epsilon", format_func=lambda value: f"{value:g}",
        help="log det(G + εI): ε > 0 keeps identical texts from giving -inf.",
    )
    dimensions = columns[1].number_input(
        "PCA dimensions (0 = off)", min_value=0, max_value=1024, value=0, key="volume_pca_dim",
        help="Project the embeddings onto their first d' principal components before normalising.",
    )
    center = columns[2].toggle("Mean-centre first", value=False, key="volume_center",
                               help="Subtract the mean embedding before normalising (one re-implementation does).")
    return ScoreConfig(volume_epsilon=float(epsilon), volume_pca_dim=int(dimensions) or None, volume_center=bool(center))


def perturbation_controls(run: Run) -> Run:
    """Generate or paste perturbations; a new run with them replaces the current one in session state."""
    texts = None
    with st.expander("Perturbations of the question (external uncertainty)", expanded=not run.perturbations):
        st.caption(
            f'The same model rewrites the question n times with the prompt "{PERTURBATION_PROMPT}" '
            f"at temperature {PERTURBATION_TEMPERATURE:g}; each answer is cleaned to its first question-like line. "
            "The paper's own prompt is not public. The chat template is applied whenever the model has one (a base "
            "completion of this instruction is mostly empty). You can also paste your own rephrasings."
        )
        generate_column, paste_column = st.columns(2)
        with generate_column:
            count = st.number_input("Perturbations (n)", 1, MAX_PERTURBATIONS, DEFAULT_PERTURBATIONS, key="volume_perturbation_count")
            tokens = st.number_input("Max new tokens", 1, MAX_NEW_TOKENS, PERTURBATION_MAX_NEW_TOKENS, key="volume_perturbation_tokens")
            if st.button("Generate perturbations", key="volume_generate", type="primary"):
                texts = generate(run, int(count), int(tokens))
        with paste_column:
            pasted = st.text_area("Or paste them, one per line", key="volume_paste", height=150)
            if st.button("Use pasted perturbations", key="volume_use_pasted"):
                try:
                    texts = parse_perturbations(pasted)
                except PerturbationError as error:
                    st.warning(plain_markdown(str(error)))
    if texts:
        run = replace(run, perturbations=texts)
        session.replace_run(run)
    return run


def generate(run: Run, count: int, max_new_tokens: int) -> list[str] | None:
    with st.status("Loading the model…", expanded=True) as status:
        lm = language_model()
        if lm is None:
            status.update(label="The model could not be loaded", state="error")
            return None
        if lm.info.name != run.model.name:
            st.info(f"The run was sampled with {plain_markdown(run.model.name)}; the perturbations come from {plain_markdown(lm.info.name)}.")
        status.update(label=f"Sampling {count} rephrasings with {lm.info.name}…")
        bar = st.progress(0.0, text="token 0")
        started = time.perf_counter()
        try:
            texts = generate_perturbations(
                lm, run.prompt, count, max_new_tokens=max_new_tokens, seed=run.settings.seed,
                progress=lambda step, total: bar.progress(min(step / total, 1.0), text=f"token {step} of at most {total}"),
            )
        except (SamplingError, RuntimeError) as error:
            status.update(label="Generating perturbations failed", state="error")
            st.warning(error_line(error))
            return None
        seconds = time.perf_counter() - started
        if not texts:
            status.update(label="Every generated perturbation was empty", state="error")
            return None
        status.update(label=f"Generated {len(texts)} perturbations in {seconds:.1f} s (one batched call)", state="complete", expanded=False)
    return texts


def cost_caption(statistics: RunStatistics, name: str, seconds: float) -> str:
    cost = statistics.costs.get(name)
    if cost is None or cost.model_calls == 0:
        embedding = "embeddings cached"
    else:
        embedding = f"embedding {cost.seconds:.2f} s in {cost.model_calls} encoder call(s)"
    return f"{embedding}; Gram, log det and eigenvalues {seconds * 1000:.1f} ms"


def volume_column(title: str, result: MeasureResult, texts: list[str], vectors: np.ndarray, prefix: str, key: str) -> None:
    """One side of the view: the value, its reading, the Gram heatmap, the spectrum and the PCA scatter."""
    detail = result.detail
    with st.container(key=f"volume_metric_{key}"):
        st.metric(title, "—" if result.value is None else f"{result.value:.3f} nats")
    if detail is None:
        st.info(result.reason)
        return
    what = "answers" if prefix == "A" else "perturbations"
    if result.value is None:
        st.warning(result.reason)
    else:
        st.markdown(volume_reading(result.value, len(texts), detail.epsilon, what))
    labels = text_labels(prefix, len(texts))
    st.markdown("**Gram matrix** (cosines of the prepared unit embeddings; hover for both texts)")
    st.plotly_chart(gram_figure(detail.gram, texts, labels), key=f"volume_gram_{key}", width="stretch")
    st.markdown(f"**Eigenvalue spectrum** (log det = Σ log(λᵢ + ε); {detail.dimensions} dimensions)")
    st.plotly_chart(spectrum_figure(detail.eigenvalues, detail.epsilon), key=f"volume_spectrum_{key}", width="stretch")
    st.markdown("**2-D PCA of the embeddings** (click a point to read it)")
    event = st.plotly_chart(
        scatter_figure(pca(vectors, 2).coordinates, texts, labels, SERIES_COLOURS[what]),
        key=f"volume_scatter_{key}", on_select="rerun", selection_mode="points", width="stretch",
    )
    index = selected_sample_id(event.selection if event else None, len(texts))
    if index is not None:
        st.markdown(f"**{labels[index]}**")
        st.text(texts[index])


def eigenscore_section(internal: MeasureResult) -> None:
    """EigenScore from the run's scores (not recomputed): its value, where the states come from, and its spectrum beside
    the semantic volume's; one sentence when this session cannot compute it."""
    st.subheader("EigenScore: the same question asked of the model's hidden states")
    scored = session.current_scores().measures.get("eigenscore")
    result = None if scored is None else scored.result
    if result is None or result.value is None or result.detail is None:
        reason = "it was not scored" if result is None or not result.reason else result.reason
        st.info(f"EigenScore is not available for this run: {plain_markdown(reason.rstrip('.'))}.")
        return
    detail = result.detail
    with st.container(key="eigenscore_metric"):
        st.metric("EigenScore", f"{result.value:.3f}", help="(1/K) Σ log λ_i(Σ + αI): higher = the answers' internal states spread more.")
    layer = "the middle layer" if detail.layer is None else f"`hidden_states[{detail.layer}]`"
    where = ("States at the step that produced each answer's last token" if detail.position == "producing_step"
             else "States on each answer's last token")
    st.caption(
        f"{where} ({len(detail.eigenvalues)} answers) from {layer} of the run's model, d = {detail.dimensions} "
        f"dimensions, α = {detail.alpha:g} (Chen et al. ICLR 2024; docs/methods.md §2.4). EigenScore averages the log "
        "eigenvalues of the K × K covariance of those states, as semantic volume sums the log eigenvalues of the answers' "
        "embedding Gram matrix: the same idea on the model's inside rather than on an embedder's reading of the text."
    )
    volume = internal.detail
    st.plotly_chart(
        eigenscore_spectrum_figure(detail.eigenvalues, detail.alpha, None if volume is None else volume.eigenvalues,
                                   0.0 if volume is None else volume.epsilon),
        key="eigenscore_spectrum", width="stretch",
    )
    st.caption(
        "A spectrum that drops after the first eigenvalue means the answers point one way (low uncertainty); a flat one "
        "means they spread over many directions. The two scales differ (raw hidden states against unit embeddings): "
        "compare the shapes, not the heights."
    )


def timed(statistics: RunStatistics, name: str) -> tuple[MeasureResult, float]:
    scored = score_run(statistics.run, statistics, [name]).measures[name]
    return scored.result, scored.seconds


def render() -> None:
    st.title("Semantic volume")
    st.caption(
        "How much room the answers take up in meaning space: the log-determinant of the Gram matrix of their unit "
        "embeddings, log det(ṼᵀṼ + εI) (Li et al. 2025; docs/methods.md §6). Internal: over the sampled answers. "
        "External: over rephrasings of the question, which shows how ambiguous the question itself is. Higher = more uncertain."
    )
    run = session.require_run()
    config = volume_settings()
    run = perturbation_controls(run)
    statistics = session.statistics(config)
    try:
        with st.spinner("Embedding the texts…", show_time=True):
            answer_vectors = statistics.answer_embeddings
            perturbation_vectors = PERTURBATION_EMBEDDINGS(statistics) if run.perturbations else None
    except (MissingInputError, ModelLoadError) as error:
        st.error(f"The embedding model is not available: {plain_markdown(str(error))}")
        st.stop()
    internal, internal_seconds = timed(statistics, "semantic_volume")
    external, external_seconds = timed(statistics, "semantic_volume_external")
    st.caption(f"Similarity backend: {statistics.similarity_name}")
    internal_column, external_column = st.columns(2)
    with internal_column:
        volume_column("Internal volume (answers)", internal, statistics.answers, answer_vectors, "A", "internal")
        st.caption(cost_caption(statistics, "answer_embeddings", internal_seconds))
    with external_column:
        external_texts = list(run.perturbations or [])
        volume_column("External volume (perturbations)", external, external_texts, perturbation_vectors, "P", "external")
        if run.perturbations:
            st.caption(cost_caption(statistics, "perturbation_embeddings", external_seconds))
            with st.expander(f"The {len(external_texts)} perturbations"):
                show_table({"label": text_labels("P", len(external_texts)), "perturbation": external_texts},
                             hide_index=True, key="volume_perturbations_table")
    st.subheader("Volume as more texts are included")
    curves = {name: result.detail.curve for name, result in (("answers", internal), ("perturbations", external)) if result.detail}
    st.plotly_chart(curve_figure(curves, config.volume_epsilon), key="volume_curve", width="stretch")
    st.caption(
        "log det of the first k texts' Gram block (embeddings prepared once over all n). Between the dashed line "
        "(all k texts identical) and the dotted one (all unrelated, orthonormal): a curve that keeps falling steeply "
        "means new texts repeat earlier meanings; one that stays flat means each new text adds a new direction."
    )
    eigenscore_section(internal)
    st.markdown(SEMANTIC_ENTROPY_NOTE)


if __name__ == "__main__":
    render()
