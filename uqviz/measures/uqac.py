"""UQAC: attention chains, the similarity filter and the marginal confidence P̃ (Li, Qiang, Moukheiber, Zhang 2025; docs/methods.md §5)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.engine.attention import AttentionPass, AttentionPassError
from uqviz.measures.base import Measure, MeasureResult
from uqviz.statistics.base import RunStatistics, ScoreConfig
from uqviz.statistics.uqac import EXPANSION_LOGPROBS, ScoredExpansions, attention_of

MAX_STEPS = 1000
KEYS_PER_SOURCE = 5
SIMILARITY_THRESHOLD = 0.0
REPLACEMENT_THRESHOLD = 0.01
EXTRA_REPLACEMENTS = 10
PROBABILITY_FLOOR = 1e-12

_REFERENCE_WORDS = """
a about above after again against all am an and any are aren’t as at be because been before being below between both
but by can’t cannot could couldn’t did didn’t do does doesn’t doing don’t down during each few for from further had
hadn’t has hasn’t have haven’t having he he’d he’ll he’s her here here’s hers herself him himself his how how’s i i’d
i’ll i’m i’ve if in into is isn’t it it’s its itself let’s me more most mustn’t my myself no nor not of off on once
only or other ought our ours ourselves out over own same shan’t she she’d she’ll she’s should shouldn’t so some such
than that that’s the their theirs them themselves then there there’s these they they’d they’ll they’re they’ve this
those through to too under until up very was wasn’t we we’d we’ll we’re we’ve were weren’t what what’s when when’s
where where’s which while who who’s whom why why’s with won’t would wouldn’t you you’d you’ll you’re you’ve your yours
yourself yourselves
""".split()
REFERENCE_STOP_SET = frozenset(_REFERENCE_WORDS) | frozenset(".,!?;:'\"“”‘’()[]{}_…\\@~`") | {""}
"""The UQAC code's stop set: its English stop words (typographic apostrophes only), punctuation and brackets, and ""
(whitespace-only tokens); a token is a member when its text without whitespace, lower-cased, is in the set (§5.3)."""

_EXTRA_WORDS = """
let must shall will aren't can't couldn't didn't doesn't don't hadn't hasn't haven't he'd he'll he's here's how's i'd
i'll i'm i've isn't it's let's mustn't shan't she'd she'll she's shouldn't that's there's they'd they'll they're
they've wasn't we'd we'll we're we've weren't what's when's where's who's why's won't wouldn't you'd you'll you're you've
""".split()
EXTENDED_STOP_WORDS = REFERENCE_STOP_SET | frozenset(_EXTRA_WORDS)
EXTENDED_STOP_SYMBOLS = frozenset("~`^")
STOP_SETS = ("reference", "extended")

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def is_stop_token(text: str, stop_set: str = "reference") -> bool:
    """A token the chain skips (§5.3): `reference` is exact membership in the UQAC code's set; `extended` also skips
    straight-apostrophe contractions and every token made of punctuation only."""
    cleaned = re.sub(r"\s+", "", text).lower()
    if stop_set == "reference":
        return cleaned in REFERENCE_STOP_SET
    if stop_set != "extended":
        raise ValueError(f"unknown stop set {stop_set!r}; expected one of {', '.join(STOP_SETS)}")
    return cleaned in EXTENDED_STOP_WORDS or all(
        unicodedata.category(ch).startswith("P") or ch in EXTENDED_STOP_SYMBOLS for ch in cleaned
    )


def stop_mask(tokens: Sequence[str], prompt_length: int, stop_set: str = "reference") -> list[bool]:
    """Per position: True for every prompt position (instruction tokens never enter the chain) and answer stop tokens."""
    return [True] * prompt_length + [is_stop_token(token, stop_set) for token in tokens[prompt_length:]]


def answer_characters(text: str) -> tuple[int, int]:
    """Character span of the answer: the last \\boxed{}, else the last number of the last sentence, else that sentence."""
    boxed = [match for match in _BOXED.finditer(text) if match.group(1).strip()]
    if boxed:
        return boxed[-1].span(1)
    start, sentences = 0, []
    for brk in _SENTENCE_BREAK.finditer(text):
        sentences.append((start, brk.start()))
        start = brk.end()
    sentences.append((start, len(text)))
    sentences = [(s, e) for s, e in sentences if text[s:e].strip()]
    if not sentences:
        return 0, len(text)
    start, end = sentences[-1]
    numbers = list(_NUMBER.finditer(text, start, end))
    if numbers:
        return numbers[-1].span()
    while end > start and text[end - 1].isspace():
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    return start, end


def answer_span(tokens: Sequence[str]) -> list[int]:
    """Indices of the answer tokens that cover `answer_characters` of their joined text (§5.1 answer span)."""
    text = "".join(tokens)
    begin, end = answer_characters(text)
    indices, offset = [], 0
    for index, token in enumerate(tokens):
        if offset < end and offset + len(token) > begin:
            indices.append(index)
        offset += len(token)
    return indices or list(range(len(tokens)))


@dataclass(frozen=True)
class Backtrack:
    """An attention chain as source ids sorted by position (answer sources included), with how each entry joined."""

    sources: list[int]
    scores: list[float]
    steps: list[int]
    edges: list[tuple[int, int, float]]
    """(source row, key position, reduced attention) for every contribution to a picked key."""


def backtrack(
    attention_matrix: np.ndarray,
    answer_sources: Sequence[int],
    stop: Sequence[bool],
    *,
    buffer: int = 3,
    tau: float = 0.5,
    min_extra: int = 5,
    double_count: bool = True,
    max_steps: int = MAX_STEPS,
    keys_per_source: int = KEYS_PER_SOURCE,
) -> Backtrack:
    """Follow reduced attention back from the answer: ≤ B picks per step, τ once the chain is long enough (docs/methods.md §5.3).

    `double_count=True` keeps the reference's stopping test, which counts this step's picks twice.
    """
    min_length = min_extra + len(answer_sources)
    chain, scores, steps = list(answer_sources), [0.0] * len(answer_sources), [0] * len(answer_sources)
    edges: list[tuple[int, int, float]] = []
    sources, processed = list(answer_sources), set()
    for step in range(1, max_steps + 1):
        if not sources:
            break
        processed.update(sources)
        score: dict[int, float] = {}
        contributions: dict[int, list[tuple[int, float]]] = {}
        for source in sources:
            row = attention_matrix[source]
            for rank, key in enumerate(np.argsort(-row, kind="stable").tolist()):
                if rank >= keys_per_source and (any(v > 0 for v in score.values()) or len(chain) >= min_length):
                    break
                if key == source or key - 1 in processed or stop[key]:
                    continue
                weight = float(row[key])
                score[key] = score.get(key, 0.0) + weight
                contributions.setdefault(key, []).append((source, weight))
        candidates = sorted((key for key, value in score.items() if value > 0), key=lambda key: (-score[key], key))
        picked: list[int] = []
        for key in candidates:
            if len(picked) >= buffer:
                break
            counted = len(chain) + len(picked) if double_count else len(chain)
            if score[key] < tau and counted >= min_length:
                break
            picked.append(key)
            chain.append(key - 1)
            scores.append(score[key])
            steps.append(step)
            edges.extend((source, key, weight) for source, weight in contributions[key] if weight > 0)
        if not picked:
            break
        sources = [key - 1 for key in picked]
    order = sorted(range(len(chain)), key=lambda i: chain[i])
    return Backtrack([chain[i] for i in order], [scores[i] for i in order], [steps[i] for i in order], edges)


def mean_cosine(vectors: np.ndarray, answer_vectors: np.ndarray) -> np.ndarray:
    """Cosine of each vector with each answer vector, averaged over the answer vectors (§5.4 `sim-mean`)."""
    def unit(matrix: np.ndarray) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float64)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)

    return (unit(vectors) @ unit(answer_vectors).T).mean(axis=1)


def similarity_chain(
    sources: Sequence[int], similarities: Sequence[float], top_k: int = 10, threshold: float = SIMILARITY_THRESHOLD
) -> list[int]:
    """T_sim: the top-k chain sources with similarity ≥ threshold, sorted by position (§5.4)."""
    ranked = sorted((i for i, value in enumerate(similarities) if value >= threshold), key=lambda i: -similarities[i])
    return sorted(sources[i] for i in ranked[:top_k])


@dataclass(frozen=True)
class Replacement:
    """Swap the token at position `source + 1` for `token_id`, whose probability there is `probability`."""

    source: int
    token_id: int
    token: str
    probability: float


def replacement_candidates(
    sources: Sequence[int],
    original_ids: Sequence[int],
    top_ids: Sequence[Sequence[int]],
    top_probabilities: Sequence[Sequence[float]],
    top_tokens: Sequence[Sequence[str]] | None = None,
    extra: int = EXTRA_REPLACEMENTS,
    threshold: float = REPLACEMENT_THRESHOLD,
) -> list[Replacement]:
    """Top-5 alternatives at the T_sim tokens with p > threshold, the (extra + |T_sim|) likeliest, minus the originals (§5.5).

    The original is recognised by its token id, not by position in the top-5 (the reference's lookup bug).
    """
    pairs = [
        (float(probability), row, column)
        for row in range(len(sources))
        for column, probability in enumerate(top_probabilities[row])
        if probability > threshold
    ]
    pairs.sort(key=lambda pair: -pair[0])
    return [
        Replacement(sources[row], int(top_ids[row][column]), top_tokens[row][column] if top_tokens else "", probability)
        for probability, row, column in pairs[: extra + len(sources)]
        if int(top_ids[row][column]) != int(original_ids[row])
    ]


def clamped_product(probabilities: Sequence[float]) -> float:
    """Π p computed as exp Σ log max(p, 1e-12), as the reference does."""
    return math.exp(sum(math.log(max(float(p), PROBABILITY_FLOOR)) for p in probabilities))


def marginal_confidence(expansions: Sequence[tuple[float, Sequence[float]]]) -> float:
    """P̃ = Σ_e P_e(answer) · Π_t P_e(chain token t) over the original and one-token swaps (docs/methods.md §5.5).

    The 1e-12 floor applies to each token's probability, never to P_e(answer), a product that can be far smaller.
    """
    return float(sum(answer * clamped_product(chain) for answer, chain in expansions))


@dataclass(frozen=True)
class Expansion:
    """One response variant: the original (replacement None) or a one-token swap, with its probabilities."""

    replacement: Replacement | None
    answer_probability: float
    chain_probabilities: list[float]

    @property
    def chain_probability(self) -> float:
        return clamped_product(self.chain_probabilities)

    @property
    def joint(self) -> float:
        return self.answer_probability * self.chain_probability


def expansion_sequences(token_ids: Sequence[int], replacements: Sequence[Replacement]) -> list[list[int]]:
    """The original sequence, then one copy per replacement with exactly one token swapped."""
    sequences = [list(token_ids)]
    for item in replacements:
        swapped = list(token_ids)
        swapped[item.source + 1] = item.token_id
        sequences.append(swapped)
    return sequences


def expansions_from_logprobs(
    logprobs: np.ndarray,
    rows: Sequence[int],
    answer_sources: Sequence[int],
    sim_sources: Sequence[int],
    replacements: Sequence[Replacement],
) -> list[Expansion]:
    """Turn (expansions × rows) token log-probs into P_e(answer) and the per-token chain probabilities (§5.5)."""
    column = {row: index for index, row in enumerate(rows)}
    result = []
    for index, item in enumerate([None, *replacements]):
        values = np.exp(np.asarray(logprobs[index], dtype=np.float64))
        result.append(
            Expansion(
                item,
                clamped_product([values[column[source]] for source in answer_sources]),
                [float(values[column[source]]) for source in sim_sources],
            )
        )
    return result


@dataclass(frozen=True)
class UqacChain:
    """The cheap part of UQAC, re-derived from a cached AttentionPass whenever a setting changes."""

    attention: AttentionPass
    heads: int
    answer_indices: list[int]
    answer_sources: list[int]
    backtrack: Backtrack
    similarities: dict[int, float]
    similarity_sources: list[int]
    replacements: list[Replacement]

    def probability(self, source: int) -> float:
        """Original probability of the token at position source + 1 (exact, from the full softmax)."""
        return float(math.exp(self.attention.logprobs[source + 1 - self.attention.prompt_length]))

    @property
    def answer_probability(self) -> float:
        return clamped_product([self.probability(source) for source in self.answer_sources])

    @property
    def chain_product(self) -> float:
        """`attn_probs_prod`: original probabilities of every chain token, answer included."""
        return clamped_product([self.probability(source) for source in self.backtrack.sources])

    @property
    def similarity_product(self) -> float:
        """`sims_probs_prod`: original probabilities over T_sim ∪ answer tokens."""
        return clamped_product([self.probability(source) for source in [*self.similarity_sources, *self.answer_sources]])

    @property
    def rows(self) -> list[int]:
        return sorted(set(self.answer_sources) | set(self.similarity_sources))


def build_chain(
    attention_pass: AttentionPass,
    config: ScoreConfig,
    answer_indices: Sequence[int] | None = None,
) -> UqacChain:
    """Answer span → backtracking → similarity filter → replacement candidates, all from cached arrays (§5.3–5.5)."""
    p = attention_pass.prompt_length
    answer_tokens = attention_pass.tokens[p:]
    indices = sorted(set(answer_indices)) if answer_indices else answer_span(answer_tokens)
    if any(not 0 <= i < attention_pass.answer_length for i in indices):
        raise AttentionPassError(f"Answer token indices must lie in 0…{attention_pass.answer_length - 1}, got {indices}.")
    heads = max((h for h in attention_pass.head_counts if h <= config.uqac_heads), default=attention_pass.head_counts[0])
    answer_sources = [p + i - 1 for i in indices]
    chain = backtrack(
        attention_pass.attention(heads),
        answer_sources,
        stop_mask(attention_pass.tokens, p, config.uqac_stop_set),
        buffer=config.uqac_buffer,
        tau=config.uqac_tau,
        min_extra=config.uqac_min_extra,
        double_count=config.uqac_double_count,
    )
    others = [source for source in chain.sources if source not in set(answer_sources)]
    values = (
        mean_cosine(attention_pass.hidden[[s + 1 - p for s in others]], attention_pass.hidden[indices]).tolist()
        if others else []
    )
    similarities = dict(zip(others, values))
    sim_sources = similarity_chain(others, values, config.uqac_similarity_top_k)
    rows = [s + 1 - p for s in sim_sources]
    replacements = replacement_candidates(
        sim_sources,
        [attention_pass.token_ids[s + 1] for s in sim_sources],
        attention_pass.top_ids[rows],
        np.exp(attention_pass.top_logprobs[rows]),
        [attention_pass.top_tokens[r] for r in rows],
    )
    return UqacChain(attention_pass, heads, indices, answer_sources, chain, similarities, sim_sources, replacements)


@dataclass(frozen=True)
class UqacDetail:
    """What the page draws: the chain, its expansions (and what their batched pass took) and the marginal P̃."""

    chain: UqacChain
    expansions: list[Expansion]
    seconds: float

    @property
    def confidence(self) -> float:
        return marginal_confidence([(e.answer_probability, e.chain_probabilities) for e in self.expansions])


def uqac_chain(
    stats: RunStatistics,
    choice: int | str | None = None,
    config: ScoreConfig | None = None,
    answer_indices: Sequence[int] | None = None,
) -> UqacChain:
    """The chain under `config` (default the statistics' own); no model call once the attention pass is cached."""
    config = config or stats.config
    return build_chain(attention_of(stats, choice, config), config, answer_indices)


def _expansion_key(chain: UqacChain) -> tuple[tuple[int, ...], tuple[int, ...]]:
    sequences = expansion_sequences(chain.attention.token_ids, chain.replacements)
    return tuple(map(tuple, sequences)), tuple(chain.rows)


def _detail(chain: UqacChain, scored: ScoredExpansions) -> UqacDetail:
    expansions = expansions_from_logprobs(
        scored.logprobs, chain.rows, chain.answer_sources, chain.similarity_sources, chain.replacements
    )
    return UqacDetail(chain, expansions, scored.seconds)


def cached_detail(stats: RunStatistics, chain: UqacChain) -> UqacDetail | None:
    """The chain's detail if its expansions were computed before; never calls the model."""
    scored = stats.cached(EXPANSION_LOGPROBS, *_expansion_key(chain))
    return None if scored is None else _detail(chain, scored)


def expand(stats: RunStatistics, chain: UqacChain) -> UqacDetail:
    """Score the original and every one-token swap in one batched forward pass, once per distinct chain (§5.5)."""
    return _detail(chain, EXPANSION_LOGPROBS(stats, *_expansion_key(chain)))


def uqac_detail(
    stats: RunStatistics,
    choice: int | str | None = None,
    config: ScoreConfig | None = None,
    answer_indices: Sequence[int] | None = None,
) -> UqacDetail:
    """Attention pass (memoised), chain, and its expansions (memoised per chain)."""
    return expand(stats, uqac_chain(stats, choice, config, answer_indices))


def _result(compute, value) -> MeasureResult:
    try:
        detail = compute()
    except AttentionPassError as error:
        return MeasureResult(None, None, reason=str(error))
    return MeasureResult(-value(detail), None, detail)


MEASURES = (
    Measure(
        "uqac", "UQAC marginal confidence P̃",
        lambda stats: _result(lambda: uqac_detail(stats), lambda detail: detail.confidence),
        "U = -Σ_e P_e(answer) · P_e(chain), over the answer and one-token swaps of its attention chain",
        "the answer and the tokens it rests on are less likely, also under small changes of that chain",
        "Li, Qiang, Moukheiber, Zhang 2025; docs/methods.md §5.5",
        needs=("language model", "attentions"),
    ),
    Measure(
        "attn_probs_prod", "UQAC chain probability",
        lambda stats: _result(lambda: uqac_chain(stats), lambda chain: chain.chain_product),
        "U = -Π_{t ∈ attention chain ∪ answer} p(t)",
        "the attention chain's tokens, answer included, are less likely",
        "Li, Qiang, Moukheiber, Zhang 2025; docs/methods.md §5.5",
        needs=("language model", "attentions"),
    ),
    Measure(
        "sims_probs_prod", "UQAC similarity-chain probability",
        lambda stats: _result(lambda: uqac_chain(stats), lambda chain: chain.similarity_product),
        "U = -Π_{t ∈ T_sim ∪ answer} p(t)",
        "the answer and the chain tokens most similar to it are less likely",
        "Li, Qiang, Moukheiber, Zhang 2025; docs/methods.md §5.5",
        needs=("language model", "attentions"),
    ),
)
