"""What-if comparisons: the same question at several temperatures, under several framings, or on two models.

Pure orchestration over `sampling.sample` and `scoring.score_run`: every function returns the runs and their
scores; the seed stays the same across runs, so the only difference is the one being asked about.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from uqviz.engine.sampling import sample
from uqviz.format.run import Run, SamplingSettings
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import LanguageModel
from uqviz.scoring.scores import Scores, score_run
from uqviz.statistics.base import RunStatistics

QUESTION = "{question}"
MAX_RUNS = 8
MAX_TEMPERATURE = 2.0
# Run index, run count and label, called before each run is sampled.
RunProgress = Callable[[int, int, str], None]
StatisticsFactory = Callable[[Run], RunStatistics]


@dataclass(frozen=True)
class Framing:
    """A way of asking: `{question}` in the template is replaced by the question; without it, the template is a prefix."""

    label: str
    template: str

    def apply(self, question: str) -> str:
        if QUESTION in self.template:
            return self.template.replace(QUESTION, question)
        return f"{self.template.rstrip()} {question}"


# Sharma et al. 2023 (sycophancy): a belief stated in the prompt moves the answers and their accuracy.
DEFAULT_FRAMINGS = (
    Framing("as asked", QUESTION),
    Framing("I think the answer is…", QUESTION + "\nI think the answer is"),
    Framing("I'm sure the answer is…", QUESTION + "\nI'm sure the answer is"),
)


@dataclass(frozen=True)
class WhatIfRun:
    label: str
    run: Run
    scores: Scores


def parse_temperatures(text: str) -> list[float]:
    """Temperatures separated by commas or spaces, each in [0, 2], at most MAX_RUNS; ValueError names the problem."""
    words = text.replace(",", " ").split()
    if not words:
        raise ValueError("Give at least one temperature, for example 0.3, 0.7, 1.2.")
    if len(words) > MAX_RUNS:
        raise ValueError(f"{len(words)} temperatures were given; at most {MAX_RUNS} are allowed.")
    temperatures = []
    for word in words:
        try:
            value = float(word)
        except ValueError:
            raise ValueError(f"{word!r} is not a number; give temperatures such as 0.3, 0.7, 1.2.") from None
        if not 0 <= value <= MAX_TEMPERATURE:
            raise ValueError(f"Temperature {word} is outside [0, {MAX_TEMPERATURE:g}].")
        temperatures.append(value)
    return temperatures


def temperature_sweep(
    lm: LanguageModel,
    prompt: str,
    temperatures: Sequence[float],
    settings: SamplingSettings,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    statistics_for: StatisticsFactory = RunStatistics,
    progress: RunProgress | None = None,
) -> list[WhatIfRun]:
    """One run per temperature, same prompt and seed, each scored with every measure."""
    jobs = [(f"T={temperature:g}", lm, prompt, replace(settings, temperature=float(temperature))) for temperature in temperatures]
    return _sample_and_score(jobs, chat, system_prompt, statistics_for, progress)


def framing_comparison(
    lm: LanguageModel,
    question: str,
    framings: Sequence[Framing],
    settings: SamplingSettings,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    statistics_for: StatisticsFactory = RunStatistics,
    progress: RunProgress | None = None,
) -> list[WhatIfRun]:
    """One run per framing of the same question."""
    jobs = [(framing.label, lm, framing.apply(question), settings) for framing in framings]
    return _sample_and_score(jobs, chat, system_prompt, statistics_for, progress)


def model_comparison(
    models: Sequence[LanguageModel],
    prompt: str,
    settings: SamplingSettings,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    statistics_for: StatisticsFactory = RunStatistics,
    progress: RunProgress | None = None,
) -> list[WhatIfRun]:
    """One run per model on the same prompt; two models of the same name are told apart by their position."""
    names = [lm.info.name for lm in models]
    labels = [name if names.count(name) == 1 else f"{index + 1}. {name}" for index, name in enumerate(names)]
    jobs = [(label, lm, prompt, settings) for label, lm in zip(labels, models)]
    return _sample_and_score(jobs, chat, system_prompt, statistics_for, progress)


def measure_series(results: Sequence[WhatIfRun]) -> dict[str, list[float | None]]:
    """measure name → its U in each run (registry order), for `viz.history.measures_figure`."""
    names = [name for name in REGISTRY if any(name in result.scores.measures for result in results)]
    return {
        name: [
            result.scores.measures[name].result.value if name in result.scores.measures else None
            for result in results
        ]
        for name in names
    }


def _sample_and_score(
    jobs: list[tuple[str, LanguageModel, str, SamplingSettings]],
    chat: bool,
    system_prompt: str | None,
    statistics_for: StatisticsFactory,
    progress: RunProgress | None,
) -> list[WhatIfRun]:
    results = []
    for index, (label, lm, prompt, settings) in enumerate(jobs):
        if progress is not None:
            progress(index, len(jobs), label)
        run = sample(lm, prompt, settings, chat=chat, system_prompt=system_prompt)
        results.append(WhatIfRun(label, run, score_run(run, statistics_for(run))))
    return results
