"""Limits on what a run may hold (format/run.py), enforced by the run reader and the paste import before any work,
and the word cap that bounds ROUGE-L (docs/methods.md §2.1)."""

import json
import random
import time

import pytest
from rouge_score.rouge_scorer import RougeScorer
from rouge_score.tokenizers import Tokenizer

from tests.conftest import make_run
from uqviz.engine import sampling
from uqviz.format.run import (
    MAX_ANSWER_TOKENS, MAX_PROMPT_CHARS, MAX_RUN_FILE_BYTES, MAX_SAMPLES, MAX_TEXT_CHARS, MAX_TOP_ALTERNATIVES,
    RunFormatError, SamplingSettings, read_run, run_from_dict, run_from_json, run_to_json,
)
from uqviz.measures.lexical import MAX_ROUGE_WORDS, WordTokenizer, lcs_length, lexical_similarity, rouge_l, rouge_l_matrix
from uqviz.workflows.importing import PastedSample, PastedSamplesError, parse_samples, run_from_samples


def sample_dict(tokens: int, alternatives: int = 2, text: str = "an answer") -> dict:
    """A valid sample of `tokens` tokens with `alternatives` alternatives each."""
    return {
        "text": text, "token_ids": [1] * tokens, "tokens": ["a"] * tokens, "logprobs": [-0.5] * tokens,
        "entropies": [0.5] * tokens, "finish_reason": "stop", "kl_from_uniform": [0.1] * tokens,
        "top_token_ids": [[1] * alternatives] * tokens, "top_tokens": [["a"] * alternatives] * tokens,
        "top_logprobs": [[-0.5] * alternatives] * tokens,
    }


def run_dict(**changes) -> dict:
    data = json.loads(run_to_json(make_run(["the cat sat", "a dog"])))
    data.update(changes)
    return data


def over(limit: int, unit: str) -> str:
    return f"has {limit + 1:,} {unit}, more than the {limit:,} allowed"


# (field named in the message, its limit, unit, the run at the limit, the run one over it)
RUN_LIMITS = [
    ("prompt", MAX_PROMPT_CHARS, "characters", lambda n: run_dict(prompt="x" * n)),
    ("system_prompt", MAX_PROMPT_CHARS, "characters", lambda n: run_dict(system_prompt="x" * n)),
    ("perturbations", MAX_SAMPLES, "entries", lambda n: run_dict(perturbations=["q"] * n)),
    ("perturbations[0]", MAX_PROMPT_CHARS, "characters", lambda n: run_dict(perturbations=["x" * n])),
    ("samples", MAX_SAMPLES, "entries", lambda n: run_dict(samples=[sample_dict(1)] * n)),
    ("samples[0].text", MAX_TEXT_CHARS, "characters", lambda n: run_dict(samples=[sample_dict(1, text="x" * n)])),
    ("samples[0].token_ids", MAX_ANSWER_TOKENS, "entries", lambda n: run_dict(samples=[sample_dict(n)])),
    ("samples[0].top_token_ids[0]", MAX_TOP_ALTERNATIVES, "entries", lambda n: run_dict(samples=[sample_dict(3, n)])),
]


@pytest.mark.parametrize("field, limit, unit, build", RUN_LIMITS, ids=[case[0] for case in RUN_LIMITS])
def test_the_run_reader_accepts_each_limit_and_refuses_one_more_in_one_sentence(field, limit, unit, build):
    assert run_from_dict(build(limit))
    with pytest.raises(RunFormatError) as caught:
        run_from_dict(build(limit + 1))
    assert str(caught.value) == f"{field} {over(limit, unit)}"


@pytest.mark.parametrize("name", ["tokens", "logprobs", "entropies", "kl_from_uniform", "top_tokens", "top_logprobs"])
def test_every_per_token_list_is_bounded_before_its_items_are_read(name):
    sample = sample_dict(2)
    sample[name] = [None] * (MAX_ANSWER_TOKENS + 1)  # each item is wrong too: the length is what is named
    with pytest.raises(RunFormatError) as caught:
        run_from_dict(run_dict(samples=[sample]))
    assert str(caught.value) == f"samples[0].{name} {over(MAX_ANSWER_TOKENS, 'entries')}"


@pytest.mark.parametrize("name", ["top_tokens", "top_logprobs"])
def test_every_row_of_alternatives_is_bounded(name):
    sample = sample_dict(2)
    sample[name] = [sample[name][0]] + [sample[name][0][:1] * (MAX_TOP_ALTERNATIVES + 1)]
    with pytest.raises(RunFormatError) as caught:
        run_from_dict(run_dict(samples=[sample]))
    assert str(caught.value) == f"samples[0].{name}[1] {over(MAX_TOP_ALTERNATIVES, 'entries')}"


def test_ten_thousand_samples_are_refused_before_any_is_read(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps(run_dict(samples=[None] * 10_000)))  # each would fail on its own: never looked at
    started = time.perf_counter()
    with pytest.raises(RunFormatError) as caught:
        read_run(path)
    assert time.perf_counter() - started < 1.0
    assert str(caught.value) == "samples has 10,000 entries, more than the 64 allowed"


def test_a_run_at_every_limit_at_once_round_trips():
    data = run_dict(prompt="p" * MAX_PROMPT_CHARS, samples=[sample_dict(MAX_ANSWER_TOKENS, MAX_TOP_ALTERNATIVES, "t" * MAX_TEXT_CHARS)] * 2)
    run = run_from_dict(data)
    assert run_from_json(run_to_json(run)) == run


def test_the_sampler_refuses_a_prompt_no_run_could_hold():
    sampling.validate("x" * MAX_PROMPT_CHARS, SamplingSettings())
    with pytest.raises(sampling.SamplingError, match="20,001 characters"):
        sampling.validate("x" * (MAX_PROMPT_CHARS + 1), SamplingSettings())


def json_line(text: str, tokens: int, logprobs: int | None = None) -> str:
    return json.dumps({"text": text, "tokens": ["a"] * tokens, "logprobs": [-0.5] * (tokens if logprobs is None else logprobs)})


# (message prefix, limit, unit, the paste at the limit, the paste one over it)
PASTE_LIMITS = [
    ("The paste", MAX_SAMPLES, "samples", lambda n: "\n".join(["an answer"] * n)),
    ("Line 2: the text", MAX_TEXT_CHARS, "characters", lambda n: "short\n" + "x" * n),
    ("Line 1: the text", MAX_TEXT_CHARS, "characters", lambda n: json_line("x" * n, 1)),
    ('Line 1: "tokens"', MAX_ANSWER_TOKENS, "entries", lambda n: json_line("a", n)),
    ('Line 1: "logprobs"', MAX_ANSWER_TOKENS, "entries", lambda n: json_line("a", MAX_ANSWER_TOKENS, n)),
]


@pytest.mark.parametrize("where, limit, unit, build", PASTE_LIMITS, ids=[case[0] for case in PASTE_LIMITS])
def test_a_paste_is_accepted_at_each_limit_and_refused_one_over_in_one_sentence(where, limit, unit, build):
    assert parse_samples(build(limit))
    with pytest.raises(PastedSamplesError) as caught:
        parse_samples(build(limit + 1))
    assert str(caught.value) == f"{where} {over(limit, unit)}"


def test_a_paste_of_ten_thousand_lines_is_refused_before_any_line_is_parsed():
    with pytest.raises(PastedSamplesError) as caught:
        parse_samples("\n".join(['{"text": '] * 10_000))  # every line is broken JSON: none was read
    assert str(caught.value) == "The paste has 10,000 samples, more than the 64 allowed"


def test_a_paste_larger_than_a_run_file_is_refused_before_it_is_split():
    with pytest.raises(PastedSamplesError) as caught:
        parse_samples("x" * (MAX_RUN_FILE_BYTES + 1))
    assert str(caught.value) == f"The paste {over(MAX_RUN_FILE_BYTES, 'characters')}"


# Samples given to run_from_samples directly (the Python API's score_texts) meet the same limits.
BUILT_LIMITS = [
    ("The question", MAX_PROMPT_CHARS, "characters", lambda n: ("x" * n, [PastedSample("a"), PastedSample("b")])),
    ("The run", MAX_SAMPLES, "samples", lambda n: ("Q?", [PastedSample("a")] * n)),
    ("Sample 2: the text", MAX_TEXT_CHARS, "characters", lambda n: ("Q?", [PastedSample("a"), PastedSample("x" * n)])),
    ('Sample 1: "tokens"', MAX_ANSWER_TOKENS, "entries", lambda n: ("Q?", [PastedSample("a", ["a"] * n, [-0.5] * n)])),
]


@pytest.mark.parametrize("where, limit, unit, build", BUILT_LIMITS, ids=[case[0] for case in BUILT_LIMITS])
def test_a_run_from_samples_is_built_at_each_limit_and_refused_one_over(where, limit, unit, build):
    run = run_from_samples(*build(limit))
    assert run_from_json(run_to_json(run)) == run  # what the import accepts, the run reader (and so the store) accepts
    with pytest.raises(PastedSamplesError) as caught:
        run_from_samples(*build(limit + 1))
    assert str(caught.value) == f"{where} {over(limit, unit)}"


def reference_lcs(first: list[str], second: list[str]) -> int:
    """The textbook dynamic programme, row by row."""
    previous = [0] * (len(second) + 1)
    for token in first:
        current = [0]
        for j, other in enumerate(second):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def test_the_bit_parallel_lcs_matches_the_dynamic_programme():
    generator = random.Random(0)
    for _ in range(500):
        first = [generator.choice("abcd") for _ in range(generator.randint(0, 70))]
        second = [generator.choice("abcde") for _ in range(generator.randint(0, 70))]
        assert lcs_length(first, second) == lcs_length(second, first) == reference_lcs(first, second)


class RougeScoreTokenizer(Tokenizer):
    """uqviz's WordTokenizer behind rouge-score's interface, to compare with rouge-score's own ROUGE-L."""

    def __init__(self, use_stemmer: bool) -> None:
        self.uqviz = WordTokenizer(use_stemmer)

    def tokenize(self, text: str) -> list[str]:
        return [self.uqviz.stem(word) for word in self.uqviz.words(text)]


@pytest.mark.parametrize("use_stemmer", [True, False])
def test_rouge_l_equals_rouge_scores_own_below_the_cap(use_stemmer):
    scorer = RougeScorer(["rougeL"], tokenizer=RougeScoreTokenizer(use_stemmer))
    words = "The cats sat running quickly on a mat Париж 東京 dogs sat, the".split()
    generator = random.Random(1)
    for _ in range(200):
        prediction, reference = (" ".join(generator.choices(words, k=generator.randint(0, 40))) for _ in range(2))
        expected = scorer.score(reference, prediction)["rougeL"]
        assert rouge_l(prediction, reference, "fmeasure", use_stemmer) == expected.fmeasure
        assert rouge_l(prediction, reference, "recall", use_stemmer) == expected.recall
        if prediction != reference:
            assert rouge_l_matrix([prediction, reference], use_stemmer=use_stemmer)[0, 1] == expected.fmeasure


def test_two_answers_of_20000_words_score_fast_on_their_first_words():
    generator = random.Random(2)
    vocabulary = [f"w{index}" for index in range(50)]
    heads = [generator.choices(vocabulary, k=MAX_ROUGE_WORDS) for _ in range(2)]
    tail = ["same"] * (20_000 - MAX_ROUGE_WORDS)  # identical tails: had they counted, the pair would look alike
    texts = [" ".join(head + tail) for head in heads]
    started = time.perf_counter()
    result = lexical_similarity(texts, tokenization="whitespace", use_stemmer=False)
    assert time.perf_counter() - started < 1.0
    common = reference_lcs(*heads)
    precision = recall = common / MAX_ROUGE_WORDS
    assert result.value == pytest.approx(-2 * precision * recall / (precision + recall), rel=1e-12)
    assert result.value > -0.9  # the tails alone would give about -0.95
    assert result.detail.truncated == (0, 1)
    assert result.reason == "ROUGE-L compared the first 1,000 words of each answer, and these answers are longer: 1, 2"


def test_the_cap_is_exact_and_only_long_answers_are_named():
    at_cap, over_cap = "a " * MAX_ROUGE_WORDS, "a " * (MAX_ROUGE_WORDS + 1)
    assert lexical_similarity([at_cap, "b"]).detail.truncated == ()
    assert lexical_similarity([at_cap, "b"]).reason is None
    result = lexical_similarity(["b", over_cap, at_cap])
    assert result.detail.truncated == (1,) and result.reason.endswith("longer: 2")
    assert result.detail.rouge_l[1, 2] == 1.0  # both are 1,000 × "a" once cut


def test_grading_reads_the_first_1000_words_of_an_answer():
    assert rouge_l("x " * (MAX_ROUGE_WORDS - 1) + "Paris", "Paris", "recall") == 1.0
    assert rouge_l("x " * MAX_ROUGE_WORDS + "Paris", "Paris", "recall") == 0.0
