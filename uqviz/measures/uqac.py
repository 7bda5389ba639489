"""UQAC: attention chains, the similarity filter and the marginal confidence P̃ (Li, Qiang, Moukheiber, Zhang 2025; ALGORITHMS.md §5)."""

from __future__ import annotations

import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from uqviz import attention
from uqviz.attention import HEAD_CHOICES, AttentionPass, AttentionPassError
from uqviz.measures.base import Measure, MeasureResult
from uqviz.run import Sample, SamplingSettings

if TYPE_CHECKING:
    from uqviz.statistics import RunStatistics, ScoreConfig

GREEDY = "greedy"
GREEDY_ANSWER = "uqac_greedy_answer"
MAX_STEPS = 1000
KEYS_PER_SOURCE = 5
SIMILARITY_THRESHOLD = 0.0
REPLACEMENT_THRESHOLD = 0.01
EXTRA_REPLACEMENTS = 10
PROBABILITY_FLOOR = 1e-12

_FUNCTION_WORDS = """
a about above after again against all am an and any are as at be because been before being below between both but
by can cannot could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself let me more most must my myself no nor not of off on once
only or other ought our ours ourselves out over own same shall she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when where
which while who whom why will with would you your yours yourself yourselves
""".split()
_CONTRACTIONS = """
aren't can't couldn't didn't doesn't don't hadn't hasn't haven't he'd he'll he's here's how's i'd i'll i'm i've
isn't it's let's mustn't shan't she'd she'll she's shouldn't that's there's they'd they'll they're they've wasn't
we'd we'll we're we've weren't what's when's where's who's why's won't wouldn't you'd you'll you're you've
""".split()
STOP_WORDS = frozenset(_FUNCTION_WORDS) | frozenset(_CONTRACTIONS) | {word.replace("'", "’") for word in _CONTRACTIONS}
"""English function words and their contractions (straight and typographic apostrophes), compared lower-cased."""
STOP_SYMBOLS = frozenset("~`^")

_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")


def is_stop_token(text: str) -> bool:
    """A token the chain skips: whitespace only, a stop word, or punctuation only (§5.3 stop set)."""
    cleaned = re.sub(r"\s+", "", text).lower()
    return (
        not cleaned
        or cleaned in STOP_WORDS
        or all(unicodedata.category(ch).startswith("P") or ch in STOP_SYMBOLS for ch in cleaned)
    )


def stop_mask(tokens: Sequence[str], prompt_length: int) -> list[bool]:
    """Per position: True for every prompt position (instruction tokens never enter the chain) and answer stop tokens."""
    return [True] * prompt_length + [is_stop_token(token) for token in tokens[prompt_length:]]


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
    """Follow reduced attention back from the answer: ≤ B picks per step, τ once the chain is long enough (ALGORITHMS.md §5.3).

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
    """P̃ = Σ_e P_e(answer) · Π_t P_e(chain token t) over the original and one-token swaps (ALGORITHMS.md §5.5).

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
        stop_mask(attention_pass.tokens, p),
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


def greedy_answer(lm, run) -> tuple[list[int], Sample]:
    """The run's prompt answered at temperature 0 (one generate call), the paper's subject (§5.1)."""
    from uqviz.sampling import sample

    settings = SamplingSettings(n=1, temperature=0.0, max_new_tokens=run.settings.max_new_tokens, seed=run.settings.seed)
    greedy = sample(lm, run.prompt, settings, chat=run.chat, system_prompt=run.system_prompt)
    return greedy.prompt_token_ids, greedy.samples[0]


def _add_cost(stats: RunStatistics, name: str, seconds: float, calls: int) -> None:
    """Model calls are not similarity calls, so memo cannot see them: record them next to the statistic."""
    from uqviz.statistics import Cost

    cost = stats.costs.setdefault(name, Cost())
    cost.seconds += seconds
    cost.model_calls += calls


def resolve_choice(stats: RunStatistics, choice: int | str | None) -> int | str:
    """GREEDY, or a sample index: the given one, else ScoreConfig.uqac_sample, else the first sample."""
    index = stats.config.uqac_sample if choice is None else choice
    if index == GREEDY:
        return GREEDY
    index = 0 if index is None else int(index)
    if not 0 <= index < len(stats.run.samples):
        raise AttentionPassError(f"Sample {index} does not exist; the run has samples 0…{len(stats.run.samples) - 1}.")
    return index


def subject(stats: RunStatistics, choice: int | str | None = None) -> tuple[list[int], Sample]:
    """Prompt ids and the answer UQAC analyses (a sample, or the memoised greedy answer)."""
    choice = resolve_choice(stats, choice)
    if choice != GREEDY:
        answer = stats.run.samples[choice]
        if answer.text and not answer.token_ids:
            raise AttentionPassError(f"Sample {choice} has text but no token ids (imported); UQAC needs the model's tokens.")
        return stats.run.prompt_token_ids, answer

    def generate() -> tuple[list[int], Sample]:
        answer = greedy_answer(stats.language_model, stats.run)
        _add_cost(stats, GREEDY_ANSWER, 0.0, 1)
        return answer

    return stats.memo(GREEDY_ANSWER, generate)


def use_greedy_answer(stats: RunStatistics, prompt_token_ids: list[int], answer: Sample) -> None:
    """Give UQAC a greedy answer already generated with the run's settings (batch grades it), so it is not generated again."""
    stats.memo(GREEDY_ANSWER, lambda: (list(prompt_token_ids), answer))


def head_counts(config: ScoreConfig) -> tuple[int, ...]:
    return tuple(sorted({*HEAD_CHOICES, config.uqac_heads}))


def attention_of(stats: RunStatistics, choice: int | str | None = None, config: ScoreConfig | None = None) -> AttentionPass:
    """The memoised attention pass of the chosen answer: one forward pass per answer (and unusual head count)."""
    config = config or stats.config
    choice = resolve_choice(stats, choice)
    counts = head_counts(config)
    name = f"uqac_attention[{choice}]" + ("" if config.uqac_heads in HEAD_CHOICES else f"[heads {config.uqac_heads}]")

    def compute() -> AttentionPass:
        prompt_ids, answer = subject(stats, choice)
        result = attention.attention_pass(stats.language_model, prompt_ids, answer.token_ids, counts)
        _add_cost(stats, name, 0.0, 1)
        return result

    return stats.memo(name, compute)


def uqac_chain(
    stats: RunStatistics,
    choice: int | str | None = None,
    config: ScoreConfig | None = None,
    answer_indices: Sequence[int] | None = None,
) -> UqacChain:
    """The chain under `config` (default the statistics' own); no model call once the attention pass is cached."""
    config = config or stats.config
    return build_chain(attention_of(stats, choice, config), config, answer_indices)


def _expansion_key(chain: UqacChain) -> tuple:
    swaps = tuple((item.source, item.token_id) for item in chain.replacements)
    return tuple(chain.attention.token_ids), tuple(chain.answer_sources), tuple(chain.similarity_sources), swaps


def cached_detail(stats: RunStatistics, chain: UqacChain) -> UqacDetail | None:
    """The chain's detail if its expansions were computed before; never calls the model."""
    found = stats.memo("uqac_expansions", dict).get(_expansion_key(chain))
    return None if found is None else UqacDetail(chain, *found)


def expand(stats: RunStatistics, chain: UqacChain) -> UqacDetail:
    """Score the original and every one-token swap in one batched forward pass, once per distinct chain (§5.5)."""
    store = stats.memo("uqac_expansions", dict)
    key = _expansion_key(chain)
    if key not in store:
        started = time.perf_counter()
        sequences = expansion_sequences(chain.attention.token_ids, chain.replacements)
        logprobs = attention.token_logprobs(stats.language_model, sequences, chain.rows)
        expansions = expansions_from_logprobs(
            logprobs, chain.rows, chain.answer_sources, chain.similarity_sources, chain.replacements
        )
        seconds = time.perf_counter() - started
        _add_cost(stats, "uqac_expansions", seconds, 1)
        store[key] = (expansions, seconds)
    return UqacDetail(chain, *store[key])


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
        "Li, Qiang, Moukheiber, Zhang 2025; ALGORITHMS.md §5.5",
        needs=("language model", "attentions"),
    ),
    Measure(
        "attn_probs_prod", "UQAC chain probability",
        lambda stats: _result(lambda: uqac_chain(stats), lambda chain: chain.chain_product),
        "U = -Π_{t ∈ attention chain ∪ answer} p(t)",
        "the attention chain's tokens, answer included, are less likely",
        "Li, Qiang, Moukheiber, Zhang 2025; ALGORITHMS.md §5.5",
        needs=("language model", "attentions"),
    ),
    Measure(
        "sims_probs_prod", "UQAC similarity-chain probability",
        lambda stats: _result(lambda: uqac_chain(stats), lambda chain: chain.similarity_product),
        "U = -Π_{t ∈ T_sim ∪ answer} p(t)",
        "the answer and the chain tokens most similar to it are less likely",
        "Li, Qiang, Moukheiber, Zhang 2025; ALGORITHMS.md §5.5",
        needs=("language model", "attentions"),
    ),
)
