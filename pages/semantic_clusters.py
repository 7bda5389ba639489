"""Semantic clusters: which answers mean the same thing, semantic entropy and its relatives, and the graph of the answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import streamlit as st

from pages import session
from pages.common import cached_nli, map_worker, show_table
from uqviz.format.run import Run
from uqviz.measures.base import MeasureResult
from uqviz.measures.kernel_entropy import kernel_language_entropy, nli_graph
from uqviz.measures.logprob import mean_loglik
from uqviz.models.loading import ModelLoadError
from uqviz.models.nli import DEFAULT_NLI, NliModel
from uqviz.scoring.scores import score_run
from uqviz.statistics.affinity import ANSWER_NLI_PROBABILITIES
from uqviz.statistics.base import MissingInputError, RunStatistics, ScoreConfig
from uqviz.statistics.clustering import EMBEDDING_RULE, MEANING_JUDGE, RULES, STRICT_RULE, Clustering, answer_clustering
from uqviz.viz.clusters import (
    cluster_rows,
    laplacian_spectrum_figure,
    meaning_map_figure,
    pairwise_heatmap_figure,
    pairwise_matrix,
    selected_sample_id,
)
from uqviz.viz.kernels import density_figure, kernel_heatmap_figure, kernel_spectrum_figure
from uqviz.viz.tokens import legend_html, plain_markdown, probability_tokens_html

DEFAULTS = ScoreConfig()
MEASURE_NAMES = (
    "num_semantic_sets", "semantic_entropy", "discrete_semantic_entropy", "semantic_entropy_kuhn2023",
    "semantic_entropy_lm_polygraph", "lexical_similarity", "degree", "eig_val_laplacian", "eccentricity",
    "kernel_language_entropy", "semantic_density",
)
KLE_TIMES = (0.05, 2.0, 0.05)  # slider range and step of the heat kernel's time t


@st.cache_data(max_entries=16, show_spinner="Projecting the answers to 2-D…")
def answer_map(vectors: np.ndarray) -> tuple[np.ndarray, str]:
    projection = map_worker().map_2d(vectors, random_state=0)
    return projection.coordinates, projection.method


def nli_model() -> tuple[NliModel | None, NliModel | None]:
    """The NLI judge the expander names: (the model for session.statistics, None meaning the packaged one; the loaded model)."""
    with st.expander("Meaning judge (NLI model)"):
        path = st.text_input(
            "NLI model", value=DEFAULT_NLI, key="nli_path",
            help="'default' is the NLI judge trained for uqviz (in the package); a local sequence-classification folder "
            "or a hub id when online (microsoft/deberta-large-mnli is the papers' model); empty: embedding cosine only.",
        ).strip()
    if not path:
        return None, None
    try:
        model = cached_nli(path)
    except ModelLoadError as error:
        st.warning(f"{plain_markdown(str(error))} Meaning is judged by embedding cosine instead.")
        return None, None
    return (None if path == DEFAULT_NLI else model), model


def cluster_settings(nli: NliModel | None) -> ScoreConfig:
    rules = [EMBEDDING_RULE] + ([name for name, rule in RULES.items() if rule.needs_nli] if nli else [])
    left, middle, right = st.columns(3)
    rule = left.selectbox(
        "Clustering rule", rules, index=rules.index(STRICT_RULE) if nli else 0, key="cluster_rule",
        format_func=lambda name: RULES[name].title,
        help="How two answers are judged to mean the same thing (docs/methods.md §3.2). The entailment rules need an NLI model.",
    )
    threshold = middle.slider(
        "Cosine threshold", 0.30, 0.99, DEFAULTS.cluster_threshold, 0.01, key="cluster_threshold",
        disabled=RULES[rule].needs_nli,
        help="Embedding rule: an answer joins the first cluster whose first member has cosine ≥ this with it.",
    )
    eigen_threshold = right.slider(
        "Eigenvalue threshold (Ecc)", 0.10, 1.00, DEFAULTS.eccentricity_threshold, 0.05, key="eccentricity_threshold",
        help="Eccentricity keeps the Laplacian eigenvectors whose eigenvalue is below this.",
    )
    return ScoreConfig(cluster_rule=rule, cluster_threshold=threshold, eccentricity_threshold=eigen_threshold)


def formatted(result: MeasureResult, digits: int = 3) -> str:
    return "—" if result.value is None or not math.isfinite(result.value) else f"{result.value:.{digits}f}"


def sample_inspector(run: Run, clustering: Clustering, index: int | None) -> None:
    """The clicked sample's tokens by probability and the answers in its cluster."""
    if index is None:
        st.info("Click a point to see that answer's tokens and its cluster mates.")
        return
    sample = run.samples[index]
    class_id = clustering.ids[index]
    st.markdown(f"**Sample {index + 1}** · cluster {class_id + 1} · {len(sample)} tokens")
    st.html(legend_html("p = 0 (unlikely)", "p = 1 (certain)"))
    st.html(probability_tokens_html(sample))
    mates = [member for member in clustering.members(class_id) if member != index]
    if not mates:
        st.caption("No other answer shares this meaning.")
        return
    st.caption(f"{len(mates)} cluster mate(s)")
    show_table(pd.DataFrame({"sample": [m + 1 for m in mates], "answer": [run.samples[m].text for m in mates]}), hide_index=True)


@st.fragment
def map_with_inspector(run: Run, clustering: Clustering, coordinates: np.ndarray, method: str) -> None:
    left, right = st.columns([3, 2])
    with left:
        event = st.plotly_chart(
            meaning_map_figure(coordinates, [sample.text for sample in run.samples], clustering.ids, method),
            key="cluster_map", on_select="rerun", selection_mode="points", width="stretch", config={"displayModeBar": False},
        )
    with right, st.container(key="cluster_inspector"):
        sample_inspector(run, clustering, selected_sample_id(event.selection if event else None, len(run.samples)))


def reason_text(result: MeasureResult) -> str:
    """A measure's reason as plain markdown, without a final full stop (the page's sentence adds one)."""
    return plain_markdown((result.reason or "no reason was given").rstrip("."))


@st.fragment
def kle_explorer(stats: RunStatistics, answers: list[str]) -> None:
    """KLE at the slider's time t, recomputed from the cached NLI probabilities (a K × K matrix exponential, no model
    call), with its heat kernel and that kernel's spectrum."""
    low, high, step = KLE_TIMES
    time = st.slider(
        "Heat kernel time t", low, high, DEFAULTS.kle_time, step, key="kle_time",
        help="K = exp(−t·L): small t keeps each answer to itself (KLE near 1), large t spreads it over its neighbours "
        "in the NLI graph (KLE falls where answers agree). The scores use t = 0.3.",
    )
    result = kernel_language_entropy(nli_graph(ANSWER_NLI_PROBABILITIES(stats)), time)
    with st.container(key="kle_metric"):
        st.metric("Kernel language entropy (KLE)", formatted(result),
                  help="VNE(K_heat) / log K: 0 when every answer means the same, 1 when they share nothing.")
    if result.detail is None:
        st.info(plain_markdown(result.reason or "KLE has no value for this run."))
        return
    left, right = st.columns(2)
    with left:
        st.markdown("**Heat kernel** (unit trace; hover for both answers)")
        st.plotly_chart(kernel_heatmap_figure(result.detail.kernel, answers), key="kle_kernel", width="stretch",
                        config={"displayModeBar": False})
    with right:
        st.markdown("**Its eigenvalues** (they sum to 1; KLE = −Σ λ log λ / log K)")
        st.plotly_chart(kernel_spectrum_figure(result.detail.eigenvalues), key="kle_spectrum", width="stretch",
                        config={"displayModeBar": False})


def kernel_section(stats: RunStatistics, run: Run, results: dict[str, MeasureResult]) -> None:
    """Kernel language entropy with its time slider, and semantic density per answer; one sentence each where the
    meaning judge gives them nothing to read (embedding cosine, no NLI model) or the run lacks log-probabilities."""
    st.subheader("Kernel language entropy and semantic density")
    answers = [sample.text for sample in run.samples]
    kle, density = results["kernel_language_entropy"], results["semantic_density"]
    if kle.detail is None and density.detail is None and kle.reason == density.reason:
        st.info(f"Kernel language entropy and semantic density are not computed: {reason_text(kle)}.")
        return
    if kle.detail is None:
        st.info(f"Kernel language entropy is not computed: {reason_text(kle)}.")
    else:
        st.caption(
            "KLE (Nikitin et al. 2024; docs/methods.md §12.2) builds a graph W from the NLI probabilities of both directions "
            "(entailment 1, neutral ½, contradiction 0), diffuses over it with the heat kernel exp(−t·L) and takes the von "
            f"Neumann entropy of that kernel, divided by log K. The scores hold t = {DEFAULTS.kle_time:g}: "
            f"{formatted(kle)}."
        )
        kle_explorer(stats, answers)
    st.markdown("**Semantic density per answer**")
    if density.detail is None:
        st.info(f"Semantic density is not computed: {reason_text(density)}.")
        return
    columns = st.columns([1, 3])
    columns[0].metric("U = 1 − mean semantic density", formatted(density),
                      help="SD(a_j): how much of the answers' probability mass lies close in meaning to a_j.")
    columns[0].caption(
        "Qiu & Miikkulainen 2024 (docs/methods.md §12.3): each answer's density is the likelihood-weighted mean of "
        "k = 1 − p(contradiction) − p(neutral)/2 to the distinct answers, the answer itself among them once."
    )
    with columns[1]:
        st.plotly_chart(density_figure(density.detail.density, answers), key="semantic_density_chart", width="stretch",
                        config={"displayModeBar": False})


HOW_TO_READ = (
    "- **Clusters.** Two answers share a meaning class when the rule says they are equivalent: by default their "
    "embeddings have cosine ≥ the threshold; with an NLI model, when each entails the other. Each answer is compared "
    "with the *first* member of every existing class, in sample order. Embeddings see the topic more than the "
    "facts, so 'Paris' and 'London' answers to the same question can share a class; an NLI model separates them.\n"
    "- **Semantic entropy** is the entropy over classes. The probability-weighted estimator gives each class "
    "the model's likelihood of its answers; the discrete one just counts answers. One class → 0; "
    "K different meanings → log K.\n"
    "- **Graph measures** (Lin et al.) treat the answers as a weighted graph: *degree* is how much an answer agrees "
    "with the others, the Laplacian *eigenvalues* count loosely connected groups, *eccentricity* is how far answers "
    "sit from their centre in the spectral embedding.\n"
    "- Move the threshold: the clusters are recomputed from the cached embeddings, nothing is re-sampled."
)


def headline(stats: RunStatistics, results: dict[str, MeasureResult]) -> None:
    """The counts and entropies of meaning, the judge that decided, and how to read the page."""
    columns = st.columns(4)
    columns[0].metric("Semantic sets", formatted(results["num_semantic_sets"], 0), help="NumSet: the number of meaning classes.")
    columns[1].metric("Semantic entropy", formatted(results["semantic_entropy"]),
                      help="Probability-weighted (Farquhar et al. 2024 code): classes weighted by their answers' likelihood.")
    columns[2].metric("Discrete semantic entropy", formatted(results["discrete_semantic_entropy"]),
                      help="Classes weighted by how many answers fall in them (black-box).")
    columns[3].metric("U = −lexical similarity", formatted(results["lexical_similarity"]),
                      help="Minus the mean ROUGE-L F over pairs of answers: word overlap, not meaning.")
    judge = MEANING_JUDGE(stats)
    if judge.note:
        st.info(plain_markdown(judge.note))
    st.caption(
        f"Meaning judge: {plain_markdown(judge.description)}"
        f" · other estimators of the same clusters: Kuhn et al. 2023 code {formatted(results['semantic_entropy_kuhn2023'])}, "
        f"lm-polygraph mean {formatted(results['semantic_entropy_lm_polygraph'])} · all values are U (higher = more uncertain)"
    )
    with st.expander("How to read this page"):
        st.markdown(HOW_TO_READ)


def clusters_section(run: Run, stats: RunStatistics, clustering: Clustering, results: dict[str, MeasureResult]) -> None:
    """The meaning map, the cluster table and the pairwise matrix ordered by cluster."""
    st.subheader("Meaning map")
    coordinates, method = answer_map(stats.answer_embeddings)
    st.caption(
        f"Answer embeddings projected to 2-D with {method.upper()} (random_state 0), coloured by cluster. "
        "Nearby points have similar embeddings; colours show what the rule decided."
    )
    map_with_inspector(run, clustering, coordinates, method)

    st.subheader("Clusters")
    weighted = results["semantic_entropy"]
    probability = None if weighted.detail is None else np.exp(weighted.detail.class_log_probability)
    frequency = results["discrete_semantic_entropy"].detail.class_frequency
    with st.container(key="cluster_table"):
        show_table(pd.DataFrame(cluster_rows(clustering.ids, [s.text for s in run.samples], frequency, probability)),
                     hide_index=True)
    st.caption(
        "Frequency |c|/K feeds the discrete semantic entropy; probability mass p(c) renormalises the answers' "
        "length-normalised likelihoods over the samples and feeds the probability-weighted one."
        + (f" No probability mass here: {weighted.reason}." if weighted.reason else "")
    )

    st.subheader("Pairwise matrix, ordered by cluster")
    matrix, value_name, zmin, hover = pairwise_matrix(stats, clustering)
    st.plotly_chart(pairwise_heatmap_figure(matrix, clustering.ids, value_name, zmin=zmin, hover=hover), key="cluster_matrix",
                    width="stretch", config={"displayModeBar": False})
    st.caption("Outlined blocks are the clusters: a good clustering shows bright blocks on the diagonal and dark elsewhere.")


def graph_section(run: Run, clustering: Clustering, results: dict[str, MeasureResult], config: ScoreConfig) -> None:
    """Deg, EigV and Ecc with the Laplacian spectrum and each answer's graph confidences."""
    st.subheader("Graph measures")
    degree, eig_val, eccentricity = (results[name] for name in ("degree", "eig_val_laplacian", "eccentricity"))
    columns = st.columns(3)
    columns[0].metric("Degree (Deg)", formatted(degree), help="trace(m·I − D)/m²: 0 when every answer agrees with every other.")
    columns[1].metric("Eigenvalues (EigV)", formatted(eig_val), help="Σ max(0, 1 − λ): about the number of loosely connected groups.")
    columns[2].metric("Eccentricity (Ecc)", formatted(eccentricity), help="Spread of the answers around their centre in the spectral embedding.")
    st.caption(f"Affinity W: {degree.detail.affinity_name}.")
    st.plotly_chart(laplacian_spectrum_figure(degree.detail.eigenvalues, config.eccentricity_threshold),
                    key="laplacian_spectrum", width="stretch", config={"displayModeBar": False})
    per_sample = pd.DataFrame(
        {
            "sample": range(1, len(run.samples) + 1),
            "cluster": [class_id + 1 for class_id in clustering.ids],
            "mean log-prob": [mean_loglik(sample.logprobs) if sample.logprobs else None for sample in run.samples],
            "C_Deg": degree.detail.confidence,
            "C_Ecc": eccentricity.detail.confidence,
            "answer": [sample.text for sample in run.samples],
        }
    )
    with st.container(key="graph_per_sample"):
        show_table(per_sample, hide_index=True)


def render() -> None:
    run = session.require_run()
    st.title("Semantic clusters")
    st.caption(
        "Answers that say the same thing in different words should count as one. This view groups the samples by "
        "meaning and asks how spread out the meanings are, rather than the words."
    )
    session_nli, nli = nli_model()
    config = cluster_settings(nli)
    stats = session.statistics(config, nli=session_nli)
    try:
        with st.spinner("Embedding and clustering the answers…"):
            clustering = answer_clustering(stats)
            scores = score_run(run, stats, list(MEASURE_NAMES))
    except (ModelLoadError, MissingInputError) as error:
        st.error(plain_markdown(str(error)))
        st.stop()
    results = {name: scored.result for name, scored in scores.measures.items()}
    headline(stats, results)
    clusters_section(run, stats, clustering, results)
    graph_section(run, clustering, results, config)
    kernel_section(stats, run, results)
    costs = " · ".join(f"{name}: {cost.seconds:.2f} s, {cost.model_calls} model calls" for name, cost in stats.costs.items())
    st.caption(f"Cost: {costs}" + (f" · NLI model: {nli.calls} batched passes so far" if nli else ""))


if __name__ == "__main__":
    render()
