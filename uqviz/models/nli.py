"""An optional local NLI model (e.g. a DeBERTa-MNLI folder) for entailment-based clustering and graph affinities (docs/methods.md §0.2, §2.3, §3.2)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import softmax

from uqviz.models.loading import ModelLoadError, hide_loading_bars, hub_is_reachable, in_hub_cache, looks_like_path, resolve_device
from uqviz.models.similarity import has_fast_bfloat16

if TYPE_CHECKING:
    import torch

ENTAILMENT = "entailment"
NEUTRAL = "neutral"
CONTRADICTION = "contradiction"
NLI_LABELS = (CONTRADICTION, NEUTRAL, ENTAILMENT)
DEFAULT_NLI = "default"

NLI_BATCH_SIZE = 32
PAIR_CACHE_SIZE = 100_000
SELF_PAIR_LOGITS = (-np.inf, -np.inf, 0.0)
LABEL_PREFIXES = ("contra", "neutral", "entail")


def label_columns(label2id: Mapping[str, int]) -> tuple[int, int, int]:
    """The model's output columns of contradiction, neutral and entailment, read from config.label2id."""
    columns = []
    for prefix in LABEL_PREFIXES:
        matches = [int(index) for name, index in label2id.items() if name.lower().startswith(prefix)]
        if len(matches) != 1:
            raise ModelLoadError(
                f"The NLI model's config.label2id {dict(label2id)} does not name exactly one {prefix}… label; "
                "expected a 3-way NLI head with contradiction, neutral and entailment labels."
            )
        columns.append(matches[0])
    return columns[0], columns[1], columns[2]


@dataclass
class NliModel:
    """A sequence-classification NLI model; `pair_logits` columns follow NLI_LABELS whatever the model's order.

    Scores are kept per (premise, hypothesis), so re-clustering under other settings costs no model calls.
    """

    model: Any
    tokenizer: Any
    name: str
    columns: tuple[int, int, int]
    device: str = "cpu"
    batch_size: int = NLI_BATCH_SIZE
    text_layers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    calls: int = 0
    _cache: OrderedDict = field(default_factory=OrderedDict, repr=False)

    def pair_logits(self, premises: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
        """len(premises) × 3 logits in NLI_LABELS order (contradiction, neutral, entailment); cached per pair, batched
        by length so that short pairs are not padded to the longest. A judge with text layers reads each distinct text
        through them once per call, not once per pair."""
        import torch

        pairs = list(zip(premises, hypotheses))
        with self.lock:
            missing = sorted(dict.fromkeys(pair for pair in pairs if pair not in self._cache), key=lambda p: len(p[0]) + len(p[1]))
            with torch.inference_mode():
                states = self._text_states(missing) if self.text_layers else None
                for start in range(0, len(missing), self.batch_size):
                    batch = missing[start : start + self.batch_size]
                    if states:
                        logits = joined_logits(self.model, [states[0][premise] for premise, _ in batch],
                                               [states[1][hypothesis] for _, hypothesis in batch], self.text_layers)
                    else:
                        encoded = self.tokenizer(
                            [premise for premise, _ in batch], [hypothesis for _, hypothesis in batch],
                            padding=True, truncation=True, max_length=self.context_length, return_tensors="pt",
                        ).to(self.device)
                        logits = self.model(**encoded).logits
                    self.calls += 1
                    for pair, row in zip(batch, logits.float().cpu().numpy()[:, list(self.columns)].astype(np.float64)):
                        self._cache[pair] = row
            while len(self._cache) > PAIR_CACHE_SIZE:
                self._cache.popitem(last=False)
            if not pairs:
                return np.zeros((0, 3))
            return np.stack([self._cache[pair] for pair in pairs])

    def _text_states(self, pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The text-layer states of the pairs' distinct premises (segment 0) and hypotheses (segment 1), batched by length."""
        states: tuple[dict, dict] = ({}, {})
        for segment, side in enumerate(states):
            texts = sorted({pair[segment] for pair in pairs}, key=len)
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                side.update(zip(batch, text_states(self.model, self.tokenizer, batch, segment, self.text_layers, self.context_length)))
        return states

    def texts_over_context(self, texts: Sequence[str]) -> int:
        """How many of the texts are longer than the judge reads: each is judged on its first `context_length` tokens."""
        if not texts:
            return 0
        with self.lock:
            lengths = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return sum(len(ids) > self.context_length for ids in lengths)

    @property
    def context_length(self) -> int:
        """The tokens of one text the judge reads (the rest is cut): its own context, a text alone with text layers, a
        pair shares it without."""
        limits = [getattr(self.tokenizer, "model_max_length", None), getattr(self.model.config, "max_position_embeddings", None)]
        return min(limit for limit in limits + [512] if isinstance(limit, int) and limit > 0)


def text_layer_count(model: Any) -> int:
    """How many lower layers of the model read each text alone (config `text_layers`, 0 for a plain cross-encoder)."""
    count = int(getattr(model.config, "text_layers", 0) or 0)
    if count and (model.config.model_type != "bert" or not 0 < count < model.config.num_hidden_layers):
        raise ModelLoadError(f"NLI model config sets text_layers={count}; uqviz reads it only for a BERT model with more layers than that.")
    return count


def text_states(model: Any, tokenizer: Any, texts: Sequence[str], segment: int, text_layers: int, max_length: int) -> list[torch.Tensor]:
    """Every text alone as "[CLS] text [SEP]" in token-type `segment`, through the embeddings and the first `text_layers`
    layers: one (tokens × hidden) tensor per text, which every pair the text is in reuses (MacAvaney et al. 2020,
    PreTTR; docs/methods.md §0.2)."""
    import torch
    from transformers.masking_utils import create_bidirectional_mask

    encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(model.device)
    hidden = model.bert.embeddings(input_ids=encoded["input_ids"], token_type_ids=torch.full_like(encoded["input_ids"], segment))
    mask = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=encoded["attention_mask"])
    for layer in model.bert.encoder.layer[:text_layers]:
        hidden = layer(hidden, mask)
    return [row[:length] for row, length in zip(hidden, encoded["attention_mask"].sum(dim=1).tolist())]


def joined_logits(model: Any, premises: Sequence[torch.Tensor], hypotheses: Sequence[torch.Tensor], text_layers: int) -> torch.Tensor:
    """Pairs × labels logits (in the model's label order) from the text states of each pair's premise and hypothesis
    (the hypothesis's own [CLS] dropped), joined and read together by the remaining layers, the pooler and the head."""
    import torch
    from transformers.masking_utils import create_bidirectional_mask

    rows = [torch.cat([premise, hypothesis[1:]]) for premise, hypothesis in zip(premises, hypotheses)]
    hidden = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([len(row) for row in rows], device=hidden.device)
    attention_mask = (torch.arange(hidden.shape[1], device=hidden.device)[None, :] < lengths[:, None]).long()
    mask = create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=attention_mask)
    for layer in model.bert.encoder.layer[text_layers:]:
        hidden = layer(hidden, mask)
    return model.classifier(model.dropout(model.bert.pooler(hidden)))


def default_nli_path() -> Path:
    """The NLI judge trained by the project and shipped in the package (its model card is README.md there)."""
    return Path(__file__).resolve().parent.parent / "data" / "nli-minilm"


def load_nli(spec: str = DEFAULT_NLI, device: str | None = None) -> NliModel:
    """An NLI model: 'default' (the packaged judge), a local sequence-classification folder with a 3-way label2id, or a
    Hugging Face hub id when online (e.g. microsoft/deberta-large-mnli, the papers' model). Weights load as float32,
    the packaged judge's as bfloat16 where the device computes in it natively."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hide_loading_bars()
    spec = spec.strip()
    path = default_nli_path() if spec == DEFAULT_NLI else Path(os.path.expanduser(spec))
    local = (path / "config.json").is_file()
    if not local and (spec == DEFAULT_NLI or path.exists() or looks_like_path(spec)):
        raise ModelLoadError(f"NLI model {spec!r} is not a folder with config.json; expected a sequence-classification model folder.")
    cached_only = local or not hub_is_reachable()
    try:
        # remote code refused outright: transformers' default asks on the terminal, and a piped "y" would run the folder's code
        tokenizer = AutoTokenizer.from_pretrained(path if local else spec, local_files_only=cached_only, trust_remote_code=False)
        model = AutoModelForSequenceClassification.from_pretrained(path if local else spec, local_files_only=cached_only,
                                                                   dtype=torch.float32, trust_remote_code=False)
    except Exception as error:  # a damaged folder raises many kinds (TypeError for a config that is no object, SafetensorError)
        where = "a sequence-classification model folder" if local else "a local folder, or a hub id reachable from here"
        if cached_only and not local and not in_hub_cache(spec):
            raise ModelLoadError(f"NLI model {spec!r} is not in the local Hugging Face cache and the hub cannot be reached from here; "
                                 f"expected {where}.") from error
        detail = " ".join(str(error).split())[:160]
        raise ModelLoadError(f"Could not load NLI model {spec!r} ({type(error).__name__}: {detail}); expected {where}.") from error
    if len(tokenizer) < model.config.vocab_size // 2:
        raise ModelLoadError(f"NLI model {spec!r} has a tokenizer of {len(tokenizer)} tokens for {model.config.vocab_size} embeddings; "
                             "its tokenizer files are missing or belong to another model.")
    columns = label_columns(model.config.label2id)
    text_layers = text_layer_count(model)
    device = resolve_device(device)
    model.to(device)
    model.eval()
    per_text = f", the first {text_layers} per text" if text_layers else ""
    packaged = f"packaged NLI judge (MiniLM, {model.config.num_hidden_layers} layers{per_text}, SNLI, QA pairs and real answers)"
    name = packaged if spec == DEFAULT_NLI else (path.name if local else spec)
    if spec == DEFAULT_NLI and has_fast_bfloat16(device):
        # measured for the packaged judge's cross-encoder teacher: bf16 weights take bench/judge.py 0.98 s against float32's 2.14 s, about 15 %
        # less than bf16 autocast, and change 2 argmax labels of 1,388 (the hand-written pairs both ways and 1,000 SNLI
        # test pairs); other NLI models keep float32
        model.to(torch.bfloat16)
    return NliModel(model=model, tokenizer=tokenizer, name=name, columns=columns, device=device, text_layers=text_layers)


def load_nli_outcome(spec: str) -> NliModel | ModelLoadError:
    """load_nli with its failure returned, not raised, so that a cache keeps it: a judge that does not load is not tried
    again on every question or rerun (an uncached hub id asks the hub each time)."""
    try:
        return load_nli(spec)
    except ModelLoadError as error:
        return error


def loaded_nli(outcome: NliModel | ModelLoadError) -> NliModel:
    """The model of a kept load outcome, or its failure raised again."""
    if isinstance(outcome, ModelLoadError):
        raise ModelLoadError(str(outcome))
    return outcome


def unique_texts(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """The distinct texts in first-occurrence order and, for every text, the index of its distinct text."""
    position: dict[str, int] = {}
    for text in texts:
        position.setdefault(text, len(position))
    return list(position), [position[text] for text in texts]


def pairwise_logits(nli: NliModel, question: str, texts: Sequence[str]) -> np.ndarray:
    """U × U × 3 logits of e(t_i → t_j) on "question answer" pairs, all ordered pairs i ≠ j; the diagonal is certain entailment."""
    count = len(texts)
    logits = np.tile(np.asarray(SELF_PAIR_LOGITS), (count, count, 1))
    pairs = [(i, j) for i in range(count) for j in range(count) if i != j]
    if pairs:
        sentences = [f"{question} {text}" for text in texts]
        scores = nli.pair_logits([sentences[i] for i, _ in pairs], [sentences[j] for _, j in pairs])
        for (i, j), row in zip(pairs, scores):
            logits[i, j] = row
    return logits


def context_note(nli: NliModel, texts: Sequence[str]) -> str | None:
    """One sentence when some of the "question answer" texts are longer than the judge reads, counting them."""
    cut = nli.texts_over_context(list(dict.fromkeys(texts)))
    if not cut:
        return None
    many = cut > 1
    return (f"{cut} answer{'s are' if many else ' is'} longer than the NLI judge reads ({nli.context_length} tokens with the "
            f"question) and judged on {'their' if many else 'its'} beginning only.")


def argmax_labels(logits: np.ndarray) -> np.ndarray:
    """The argmax NLI label (a string of NLI_LABELS) of every pair."""
    return np.asarray(NLI_LABELS, dtype=object)[np.argmax(logits, axis=-1)]


def label_probabilities(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / T) over the NLI_LABELS axis."""
    return softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)
