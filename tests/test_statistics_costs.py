"""What RunStatistics books to each statistic: its own model calls, never those a shared model made before it was
handed to this run (docs/architecture.md)."""

from dataclasses import dataclass

from tests.conftest import make_run
from uqviz.statistics.base import RunStatistics, Statistic


@dataclass
class CountingModel:
    calls: int = 0


def _one_call(stats: RunStatistics) -> int:
    stats.language_model.calls += 1
    return stats.language_model.calls


def _two_nli_calls(stats: RunStatistics) -> int:
    stats.nli.calls += 2
    return stats.nli.calls


def test_a_lazily_loaded_shared_model_books_only_the_calls_made_for_the_statistic():
    shared_lm, shared_nli = CountingModel(calls=103), CountingModel(calls=40)  # earlier runs used the cached models
    stats = RunStatistics(make_run(["a", "b"]), language_model=lambda: shared_lm, nli=lambda: shared_nli)
    first, second = Statistic("first", _one_call), Statistic("second", _two_nli_calls)
    assert first(stats) == 104 and second(stats) == 42
    assert stats.costs["first"].model_calls == 1 and stats.costs["second"].model_calls == 2
    third = Statistic("third", _one_call)
    assert third(stats) == 105 and stats.costs["third"].model_calls == 1
    # a model handed over already loaded counts from where it stands, as before
    loaded = RunStatistics(make_run(["a"]), language_model=shared_lm)
    Statistic("fourth", _one_call)(loaded)
    assert loaded.costs["fourth"].model_calls == 1
