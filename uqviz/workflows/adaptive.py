"""Sampling until semantic entropy settles: answers drawn in rounds until the posterior of Bayesian semantic entropy is
tight, the adaptive rule of Ciosek, Felicioni & Ghiassian 2025 (docs/methods.md §12.14)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from uqviz.engine.sampling import ProgressCallback, SamplingError, sample
from uqviz.format.run import AdaptiveSampling, Run, SamplingSettings
from uqviz.measures.bayesian_entropy import DEFAULT_MAX_VARIANCE, from_statistics, settled
from uqviz.statistics.base import RunStatistics

DEFAULT_FIRST = 4
DEFAULT_STEP = 2

RoundCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class AdaptiveRule:
    """Draw `first` answers, then `step` more per round, until Var[H | answers] ≤ `max_variance` (or N answers)."""

    first: int = DEFAULT_FIRST
    step: int = DEFAULT_STEP
    max_variance: float = DEFAULT_MAX_VARIANCE

    def __post_init__(self) -> None:
        if self.first < 1 or self.step < 1:
            raise SamplingError(f"Adaptive sampling needs at least 1 answer first and per round, not {self.first} and {self.step}.")
        if not 0 <= self.max_variance < float("inf"):
            raise SamplingError(f"The posterior variance to stop at must be a finite number ≥ 0, not {self.max_variance}.")


def joined(parts: list[Run]) -> Run:
    """One run of the rounds' answers, in the order drawn, with their sampling time added up."""
    seconds = [part.sampling_seconds for part in parts]
    return replace(parts[0], samples=[answer for part in parts for answer in part.samples],
                   sampling_seconds=None if None in seconds else round(sum(seconds), 4))


def sample_until_settled(
    lm: Any,
    prompt: str,
    settings: SamplingSettings,
    statistics_of: Callable[[Run], RunStatistics],
    rule: AdaptiveRule = AdaptiveRule(),
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    progress: ProgressCallback | None = None,
    on_round: RoundCallback | None = None,
) -> Run:
    """At most `settings.n` answers: round r draws its answers with seed `settings.seed` + the answers drawn before it
    (a server seeds answer k with seed + k, so its answers equal a fixed-N run's), and after each round the answers
    so far are classed with `statistics_of(run)`'s rule; sampling stops once the posterior variance of semantic entropy
    is at most `rule.max_variance`. `on_round(answers, posterior sd)` is told after each round."""
    parts: list[Run] = []
    deviations: list[float] = []
    drawn = 0
    while drawn < settings.n:
        count = min(rule.first if not parts else rule.step, settings.n - drawn)
        parts.append(sample(lm, prompt, replace(settings, n=count, seed=settings.seed + drawn), chat=chat,
                            system_prompt=system_prompt, progress=progress))
        drawn += count
        result = from_statistics(statistics_of(joined(parts)))
        deviations.append(result.detail.posterior_sd)
        if on_round is not None:
            on_round(drawn, result.detail.posterior_sd)
        if settled(result.detail.posterior_sd, rule.max_variance):
            break
    run = joined(parts)
    record = AdaptiveSampling(rule.first, rule.step, rule.max_variance, settings.n, deviations)
    return replace(run, settings=replace(settings, n=drawn), adaptive=record)


def sample_answers(
    lm: Any,
    prompt: str,
    settings: SamplingSettings,
    statistics_of: Callable[[Run], RunStatistics],
    rule: AdaptiveRule | None,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    progress: ProgressCallback | None = None,
    on_round: RoundCallback | None = None,
) -> Run:
    """The N answers at once when `rule` is None, else drawn in rounds until semantic entropy settles (above)."""
    if rule is None:
        return sample(lm, prompt, settings, chat=chat, system_prompt=system_prompt, progress=progress)
    return sample_until_settled(lm, prompt, settings, statistics_of, rule, chat=chat, system_prompt=system_prompt,
                                progress=progress, on_round=on_round)
