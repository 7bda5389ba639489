"""CSL's pass: the answer inside the authors' attention-eliciting prompt, and what the last token's every head pays
to each answer token (Lin, Trivedi & Sun EMNLP 2024; docs/methods.md §12.12)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from uqviz.engine.attention import AttentionPassError, attention_modules, check_length, eager_attention
from uqviz.engine.probing import budget_batches, pad_id, right_padded
from uqviz.models.loading import LanguageModel

ELICITATION_PROMPT = (
    "Read the following question with optional context and decide if the answer correctly answer the question. "
    "Focus on the answer, and reply Y or N.\n\n\n"
    "Context: Luxor International Airport is a airport near Luxor in Egypt (EG). It is 353km away from the nearest "
    "seaport (Duba). The offical IATA for this airport is LXR.\n"
    "Question: Luxor international airport is in which country?\n"
    "Answer: It is in the United States, and its IATA is LXR.\n"
    " Decision: N. (The airport is in Egypt, not the United States.)\n\n\n"
    "Context: Harry is a good witcher.\n"
    "Question: How old is Harry?\n"
    "Answer: Harry practices witchcraft.\n"
    " Decision: N. (The answer does not mention Harry's age.)\n\n\n"
    "Question: What is the capital of Kenya?\n"
    "Answer: Nairobi is the capital of Kenya.\n"
    " Decision: Y.\n\n\n"
    "Question: Who has won the most Premier League titles since 2015?\n"
    "Answer: Manchester City have win the most Premier League title after 2015.\n"
    " Decision: Y. (Grammar errors are ignored.)\n\n\n"
    "Question: {question}\n"
    "Answer:"
)
"""The authors' prompt (`utils/nlg.py`, `_create_prompt_qa`, no context), typos kept; {question} is the run's prompt."""

DECISION = " Decision:"
"""Appended after the answer, on a new line unless the answer ends with one (the authors' `_suffix_prompt`)."""

ATTENTION_BUDGET = 2**27
"""Attention weights (batch × heads × T × T) one layer of a batched pass may hold: 512 MiB in float32."""


def elicitation_ids(tokenizer, question: str, answer_ids: Sequence[int]) -> tuple[list[int], int]:
    """Prompt + answer + decision ids and the answer's start; a space after "Answer:" unless the answer opens with one (§12.12)."""
    answer_ids = [int(token) for token in answer_ids]
    answer = tokenizer.decode(answer_ids)
    prompt = ELICITATION_PROMPT.replace("{question}", question.strip())
    if answer and not answer[0].isspace():
        prompt += " "
    prompt_ids = list(tokenizer.encode(prompt))
    suffix = DECISION if answer.endswith("\n") else "\n" + DECISION
    return prompt_ids + answer_ids + list(tokenizer.encode(suffix, add_special_tokens=False)), len(prompt_ids)


def batches(lengths: Sequence[int], heads: int, budget: int = ATTENTION_BUDGET) -> list[list[int]]:
    """Positions grouped in order so that each group's batch × heads × T² stays within the budget (one sequence at least)."""
    return [list(group) for group in budget_batches(lengths, lambda length: heads * length**2, budget, len(lengths))]


def elicited_attention(lm: LanguageModel, question: str, answers: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Per answer, (layers × heads × n) attention of the elicitation's last token to its tokens, from batched eager passes (§12.12)."""
    import torch

    model, tokenizer = lm.model, lm.tokenizer
    built = [elicitation_ids(tokenizer, question, answer) for answer in answers]
    vocabulary = model.get_input_embeddings().num_embeddings
    for (sequence, _), answer in zip(built, answers):
        check_length(lm, len(sequence))
        if answer and max(answer) >= vocabulary:
            raise AttentionPassError(
                f"Token id {max(answer)} is outside this model's vocabulary of {vocabulary}; was the run sampled with another model?"
            )
    modules = attention_modules(model)
    heads = int(model.config.num_attention_heads)
    results = [np.zeros((len(modules), heads, 0), dtype=np.float32) for _ in answers]
    todo = [index for index, answer in enumerate(answers) if len(answer)]
    state: dict = {"reads": [], "layers": []}

    def keep_last_row(module, args, output) -> None:
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if weights is None:
            raise AttentionPassError(f"{type(module).__name__} returned no attention weights even in eager mode.")
        state["layers"].append([weights[row, :, last, start:end].float().cpu() for row, (last, start, end) in enumerate(state["reads"])])

    with lm.lock:
        hooks = [module.register_forward_hook(keep_last_row) for module in modules]
        try:
            with eager_attention(model), torch.inference_mode():
                for group in batches([len(built[index][0]) for index in todo], heads):
                    chosen = [todo[position] for position in group]
                    ids, mask, _ = right_padded([built[index][0] for index in chosen], pad_id(lm), model.device)
                    state["reads"] = [
                        (len(built[index][0]) - 1, built[index][1], built[index][1] + len(answers[index])) for index in chosen
                    ]
                    state["layers"] = []
                    lm.calls += 1
                    model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
                    for row, index in enumerate(chosen):
                        results[index] = torch.stack([layer[row] for layer in state["layers"]]).numpy()
        finally:
            for hook in hooks:
                hook.remove()
    return results
