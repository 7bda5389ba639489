"""The claims of an answer (its sentences, with character and token spans) and how much the other samples support each
one, judged by the NLI model (LUQ, Zhang et al. EMNLP 2024; docs/methods.md §13)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uqviz.format.run import Sample
from uqviz.models.nli import CONTRADICTION, NliModel, argmax_labels, label_probabilities
from uqviz.statistics.base import MissingInputError, RunStatistics, Statistic
from uqviz.statistics.probing import asked_once, filled

MAX_CLAIMS_PER_ANSWER = 64
SENTENCE_LANGUAGE = "en"  # sentencex's English rules also end sentences at CJK and Devanagari marks (docs/methods.md §13.1)


@dataclass(frozen=True)
class Claim:
    """One claim of sample `sample`. A sentence claim's `text` is answer[start:end]; tokens first_token…last_token
    (inclusive) cover it, None when the answer's tokens do not spell its text. An atomic claim's text is the model's
    and `sentence` is the index of the sentence it was decomposed from, whose span and tokens it keeps."""

    sample: int
    index: int
    text: str
    start: int
    end: int
    first_token: int | None
    last_token: int | None
    sentence: int | None = None


@dataclass(frozen=True)
class AnswerClaims:
    """Every answer's claims, and how many sentences beyond the cap each answer had (0: none left out)."""

    claims: list[list[Claim]]
    left_out: list[int]

    @property
    def flat(self) -> list[Claim]:
        return [claim for claims in self.claims for claim in claims]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text`, surrounding whitespace left out; a text without a
    sentence mark is one sentence, an empty or blank one has none (sentencex, rule-based, no download)."""
    from sentencex import segment

    spans, cursor = [], 0
    for sentence in segment(SENTENCE_LANGUAGE, text):
        start = text.find(sentence, cursor) if sentence else -1
        if start < 0:
            continue
        cursor = start + len(sentence)
        stripped = sentence.strip()
        if stripped:
            offset = start + len(sentence) - len(sentence.lstrip())
            spans.append((offset, offset + len(stripped)))
    return spans


def token_character_spans(sample: Sample) -> list[tuple[int, int]] | None:
    """Each token's (start, end) character span in the answer text, from its exact bytes, so a byte token that splits a
    character covers that character; None when the tokens do not spell the text."""
    pieces = sample.exact_token_bytes() or [token.encode("utf-8") for token in sample.tokens]
    encoded = sample.text.encode("utf-8")
    if b"".join(pieces) != encoded:
        return None
    character_at_byte = np.repeat(np.arange(len(sample.text)), [len(c.encode("utf-8")) for c in sample.text])
    spans, cursor = [], 0
    for piece in pieces:
        end = cursor + len(piece)
        spans.append((int(character_at_byte[cursor]), int(character_at_byte[end - 1]) + 1) if piece else (0, 0))
        cursor = end
    return spans


def covering_tokens(token_spans: Sequence[tuple[int, int]] | None, start: int, end: int) -> tuple[int | None, int | None]:
    """The first and last token whose span overlaps [start, end), or (None, None)."""
    if token_spans is None:
        return None, None
    inside = [i for i, (token_start, token_end) in enumerate(token_spans) if token_start < end and token_end > start]
    return (inside[0], inside[-1]) if inside else (None, None)


def answer_claims(samples: Sequence[Sample], cap: int = MAX_CLAIMS_PER_ANSWER) -> AnswerClaims:
    """Every answer split into sentence claims, at most `cap` per answer (docs/methods.md §13.1)."""
    claims, left_out = [], []
    for sample_index, sample in enumerate(samples):
        spans = sentence_spans(sample.text)
        token_spans = token_character_spans(sample)
        claims.append([
            Claim(sample_index, index, sample.text[start:end], start, end, *covering_tokens(token_spans, start, end))
            for index, (start, end) in enumerate(spans[:cap])
        ])
        left_out.append(max(len(spans) - cap, 0))
    return AnswerClaims(claims, left_out)


CLAIMS = Statistic("claims", lambda stats: answer_claims(stats.run.samples))
"""The run's sentence claims, per answer."""

SENTENCE = "sentence"
ATOMIC = "atomic"
CLAIM_UNITS = (SENTENCE, ATOMIC)
MAX_DECOMPOSED_SENTENCES = 200  # distinct sentences one run asks the model to decompose; the rest stay sentences
FACT_LINE = re.compile(r"^[ \t]*###[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def atomic_facts(reply: str) -> list[str] | None:
    """The facts of a decomposition reply, one per line starting with ###; [] for "### NONE" (no independent fact);
    None when the reply has no such line (docs/methods.md §13.6)."""
    facts = [match.group(1) for match in FACT_LINE.finditer(reply) if match.group(1)]
    if not facts:
        return None
    return [fact for fact in facts if fact.upper().rstrip(".") != "NONE"]


@dataclass(frozen=True)
class SentenceDecomposition:
    """One sentence the model was asked about: the prompt, its reply, the facts read (None: unreadable) and the note."""

    sample: int
    sentence: int
    text: str
    prompt: str
    reply: str | None
    facts: list[str] | None
    note: str | None = None


@dataclass(frozen=True)
class Decomposition:
    """The atomic claims of every answer and, per sentence, what the model was asked and replied."""

    claims: AnswerClaims
    sentences: list[SentenceDecomposition]


def _decomposed(stats: RunStatistics, template: str, max_new_tokens: int) -> Decomposition:
    sentences = CLAIMS(stats)
    texts = list(dict.fromkeys(claim.text for claim in sentences.flat))
    asked = texts[:MAX_DECOMPOSED_SENTENCES]
    prompts = {text: filled(template, passage=text) for text in asked}
    replies = asked_once(stats, list(prompts.values()), max_new_tokens, "the model did not decompose the claims")
    read = {text: replies[prompt] for text, prompt in prompts.items()}
    claims, records, left_out = [], [], []
    for sample_claims in sentences.claims:
        atomic: list[Claim] = []
        for claim in sample_claims:
            reply = read.get(claim.text)
            facts = None if reply is None else atomic_facts(reply)
            note = (f"not asked: the run has more than {MAX_DECOMPOSED_SENTENCES} distinct sentences; the sentence is kept"
                    if reply is None else "the reply has no ### lines; the sentence is kept" if facts is None
                    else "the model found no independent fact" if not facts else None)
            records.append(SentenceDecomposition(claim.sample, claim.index, claim.text, prompts.get(claim.text, ""), reply, facts, note))
            for fact in (facts if facts is not None else [claim.text]):
                atomic.append(Claim(claim.sample, len(atomic), fact, claim.start, claim.end, claim.first_token,
                                    claim.last_token, claim.index))
        claims.append(atomic[:MAX_CLAIMS_PER_ANSWER])
        left_out.append(max(len(atomic) - MAX_CLAIMS_PER_ANSWER, 0))
    return Decomposition(AnswerClaims(claims, left_out), records)


ATOMIC_CLAIMS = Statistic("atomic_claims", _decomposed)
"""The run's model (local or a server) asked to decompose each distinct sentence claim into atomic facts, one greedy
reply each, keyed by the prompt and the reply's token limit (Zhang et al. 2025; docs/methods.md §13.6)."""


def run_claims(stats: RunStatistics) -> AnswerClaims:
    """The claims the config asks for: the sentences, or the atomic claims the run's model decomposes them into."""
    config = stats.config
    if config.claim_unit == SENTENCE:
        return CLAIMS(stats)
    if config.claim_unit == ATOMIC:
        return ATOMIC_CLAIMS(stats, config.claim_decomposition_prompt, config.claim_decomposition_max_new_tokens).claims
    raise ValueError(f"unknown claim unit {config.claim_unit!r}; expected one of {', '.join(CLAIM_UNITS)}")


@dataclass(frozen=True)
class ClaimSupport:
    """For every claim (in AnswerClaims.flat order) and every sample: the NLI probabilities (contradiction, neutral,
    entailment) of the claim given that sample's answer, and the argmax label; NaN and "" for the claim's own sample."""

    probabilities: np.ndarray  # claims × samples × 3
    labels: np.ndarray  # claims × samples


def claim_support(claims: Sequence[Claim], answers: Sequence[str], nli: NliModel) -> ClaimSupport:
    """NLI(answer_k → claim) for every claim and every other answer k, in one batched, cached call (§13.2)."""
    pairs = [(row, k) for row, claim in enumerate(claims) for k in range(len(answers)) if k != claim.sample]
    probabilities = np.full((len(claims), len(answers), 3), np.nan)
    labels = np.full((len(claims), len(answers)), "", dtype=object)
    if pairs:
        logits = nli.pair_logits([answers[k] for _, k in pairs], [claims[row].text for row, _ in pairs])
        for (row, k), probability, label in zip(pairs, label_probabilities(logits), argmax_labels(logits)):
            probabilities[row, k] = probability
            labels[row, k] = label
    return ClaimSupport(probabilities, labels)


def _claim_support(stats: RunStatistics) -> ClaimSupport:
    if len(stats.run.samples) < 2:
        raise MissingInputError("support needs at least two answers: each claim is judged against the other answers")
    return claim_support(run_claims(stats).flat, stats.answers, stats.nli)


CLAIM_SUPPORT = Statistic("claim_support", _claim_support)
"""NLI probabilities of every claim (sentence or atomic, as the config says) given every other answer."""


def contradicted(support: ClaimSupport) -> np.ndarray:
    """claims × samples: True where the sample's answer contradicts the claim."""
    return support.labels == CONTRADICTION
