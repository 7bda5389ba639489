"""`uqviz sample|score|report|batch|claims|judge|app` (also `python -m uqviz …`): the command-line contract (README.md, "Command line")."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import ipaddress
import json
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from uqviz.engine.sampling import SamplingError, validate_settings
from uqviz.format.run import Run, RunFormatError, SamplingSettings
from uqviz.models.loading import DEFAULT_MODEL, ModelLoadError
from uqviz.models.nli import NliModel
from uqviz.models.similarity import PRECISIONS

if TYPE_CHECKING:
    from uqviz.workflows.adaptive import AdaptiveRule
from uqviz.statistics.base import MissingModelError, RunStatistics, ScoreConfig
from uqviz.workflows.calibration import ProfileError

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit code 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="uqviz", description="Sample answers and score their uncertainty.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    sample = commands.add_parser("sample", help="sample N answers to a prompt and write run.json")
    sample.add_argument("prompt")
    add_sampling_arguments(sample)
    sample.add_argument("--trust-remote-code", action="store_true")
    sample.add_argument("--out", required=True)

    score = commands.add_parser("score", help="score a run.json with every registered measure")
    score.add_argument("run")
    score.add_argument("--out", default=None, help="scores.json path; stdout when left out")
    add_embedder_argument(score)
    add_judge_arguments(score)
    score.add_argument("--cross-encoder", default=None, metavar="PATH",
                       help="a local cross-encoder folder (e.g. stsb-roberta-large) scores text pairs: SAR relevance as in the paper")
    add_on_demand_argument(score)
    score.add_argument("--run-model", action="store_true",
                       help="load the model the run file names (UQAC, EigenScore, P(True)); a run file chooses that path or "
                            "hub id, so it loads only when asked, never with remote code (the packaged default model "
                            "loads without asking)")
    score.add_argument("--profile", default=None, metavar="PROFILE",
                       help="a calibration profile (uqviz calibrate): adds each covered measure's chance of being wrong")
    score.add_argument("--uqac-sample", type=int, default=None, metavar="K",
                       help="0-based index of the sample UQAC analyses with the run's model (default: the first)")
    score.add_argument("--relevance-precision", choices=PRECISIONS, default="auto",
                       help="SAR token relevance at float32, or bfloat16 (about 2.4x faster on CPUs with AVX512-BF16; "
                            "R within about 1e-3); auto picks bfloat16 where it runs natively")
    add_relevance_budget_argument(score, ScoreConfig.relevance_budget)

    report = commands.add_parser("report", help="write a standalone HTML report of a run.json (no network needed to open it)")
    report.add_argument("run")
    report.add_argument("--out", required=True, help="report.html path")
    add_embedder_argument(report)
    add_judge_arguments(report)

    batch = commands.add_parser("batch", help="score every question of a CSV/JSONL file; AUROC and PRR per measure")
    batch.add_argument("questions", help="a .csv or .jsonl file with 'question' and optional 'answer' (golds separated by '|')")
    add_sampling_arguments(batch)
    batch.add_argument("--out", required=True, help="results CSV; rows already in it are kept and their questions skipped")
    add_on_demand_argument(batch)
    batch.add_argument("--report", default=None, help="report.json path (AUROC, PRR, risk-coverage, calibration per measure)")
    batch.add_argument("--match", choices=("rouge", "rouge-recall", "embedding", "judge"), default="rouge-recall",
                       help="how the greedy answer is graded: ROUGE-L recall of the gold answer (default: the gold answer "
                            "appears in it), ROUGE-L F (Kuhn et al. 2023), embedding cosine, or the meaning judge's "
                            "P(entailment) of 'question gold' given 'question answer'")
    batch.add_argument("--threshold", type=float, default=None,
                       help="correct when the match reaches it (default 0.3 for rouge, 1.0 for rouge-recall, 0.75 for "
                            "embedding, 0.5 for judge)")
    add_embedder_argument(batch)
    add_judge_arguments(batch)
    add_relevance_budget_argument(batch, 0)

    claims = commands.add_parser("claims", help="split a run.json's answers into sentence claims and score each one (CSV)")
    claims.add_argument("run")
    claims.add_argument("--out", required=True, help="claims CSV: one row per claim with its spans and scores")
    claims.add_argument("--ccp", action="store_true",
                        help="also claim-level CCP: 2 NLI pairs per top-k alternative of every answer token (slow)")
    add_embedder_argument(claims)
    claims.add_argument("--nli", default="default", metavar="PATH_OR_ID",
                        help="the NLI judge of support: 'default' (the packaged one), a local folder, or 'none'")
    claims.add_argument("--atomic", action="store_true",
                        help="decompose each sentence into atomic claims with the run's model (Zhang et al. 2025's prompt, "
                             "one greedy reply per sentence); a reply without ### lines keeps its sentence, with a note")
    claims.add_argument("--run-model", action="store_true",
                        help="with --atomic: load the model the run file names (the packaged default loads without it)")

    calibrate = commands.add_parser("calibrate", help="fit a calibration profile (U -> chance of being wrong) from batch results")
    calibrate.add_argument("results", help="the results CSV that `uqviz batch` writes")
    calibrate.add_argument("--report", default=None, help="its report.json: the model and settings the profile is valid for")
    calibrate.add_argument("--out", required=True, help="profile.json path")

    claims_eval = commands.add_parser("claims-eval", help="claim-level AUROC and PRR of every claim score on labelled claims")
    claims_eval.add_argument("labels", nargs="?", default=None,
                             help="a labelled claims CSV with its runs beside it (default: the packaged uqviz/data/labelled_claims.csv)")
    claims_eval.add_argument("--ccp", action="store_true", help="also claim-level CCP (slow: 2 NLI pairs per token alternative)")

    judge_command = commands.add_parser("judge", help="judge whether answer pairs mean the same thing (CSV with question,a,b)")
    judge_command.add_argument("pairs", help="a CSV file with columns question, a, b")
    judge_command.add_argument("--out", required=True, help="judged CSV: the pairs plus same, both NLI labels and probabilities")
    add_embedder_argument(judge_command)
    add_judge_arguments(judge_command)

    commands.add_parser("app", help="start the web app (http://localhost:8501 by default); other options go to streamlit, "
                                    "e.g. --server.port 8502 (the address stays localhost unless you set it)")
    return parser


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """The model and sampling options that `sample` and `batch` share."""
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=0, help="0 turns top-k off")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="'default', a model directory, a .gguf file, a hub id, or an OpenAI-compatible server as "
                             "openai:http://127.0.0.1:8080/v1#MODEL (llama.cpp, vLLM)")
    parser.add_argument("--api-key-env", default=None, metavar="NAME",
                        help="server only: the environment variable holding its API key (the key itself is never written)")
    parser.add_argument("--concurrency", type=int, default=4, help="server only: requests in flight at once (default 4)")
    parser.add_argument("--timeout", type=float, default=120.0, help="server only: seconds to wait for one answer (default 120)")
    parser.add_argument("--device", default="auto", help="auto, cuda, mps or cpu")
    parser.add_argument("--no-chat", action="store_true", help="do not apply the chat template")
    parser.add_argument("--system", default=None, help="system prompt (chat template only)")
    parser.add_argument("--until-settled", action="store_true",
                        help="draw the answers in rounds (4, then 2 at a time, at most --n) and stop once the posterior "
                             "variance of semantic entropy is at most --settle-variance, Bayesian semantic entropy's "
                             "adaptive rule (docs/methods.md §12.14)")
    parser.add_argument("--settle-variance", type=float, default=None, metavar="VARIANCE",
                        help="with --until-settled: the posterior variance to stop at (default 0.01)")


def adaptive_rule(args: argparse.Namespace) -> AdaptiveRule | None:
    """The adaptive sampling rule --until-settled asks for, or None; a bad variance is a SamplingError."""
    if not args.until_settled:
        if args.settle_variance is not None:
            raise SamplingError("--settle-variance applies only with --until-settled.")
        return None
    from uqviz.workflows.adaptive import AdaptiveRule

    return AdaptiveRule() if args.settle_variance is None else AdaptiveRule(max_variance=args.settle_variance)


def add_relevance_budget_argument(parser: argparse.ArgumentParser, default: int | None) -> None:
    """How many characters of removal variants SAR's token relevance may embed (docs/methods.md §4.6); 0: no cap."""
    parser.add_argument("--relevance-budget", type=int, default=default or 0, metavar="CHARS",
                        help=f"characters of removal variants SAR's token relevance may embed (default {default or 0}: "
                             f"{'no cap' if not default else 'about 20 s on a 2-core CPU'}); 0 removes the cap; beyond it "
                             "TokenSAR, SAR and MARS are null with the reason")


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    """How "same meaning" is judged: the NLI model and the clustering rule (docs/methods.md §3.2)."""
    from uqviz.statistics.clustering import AUTO_RULE, RULES

    parser.add_argument("--nli", default="default", metavar="PATH_OR_ID",
                        help="the NLI judge: 'default' (the packaged one), a local folder, a hub id when online, or 'none'")
    parser.add_argument("--rule", choices=(AUTO_RULE, *RULES), default=AUTO_RULE,
                        help="auto: strict bidirectional entailment when the NLI model loads, else embedding cosine")


def judge(args: argparse.Namespace) -> tuple[ScoreConfig, str | None]:
    """The clustering rule and the NLI model (None: embeddings only) the options ask for; an NLI rule without one is refused."""
    from uqviz.statistics.clustering import RULES

    nli = nli_spec(args.nli)
    if nli is None and args.rule in RULES and RULES[args.rule].needs_nli:
        raise ValueError(f"--rule {args.rule} judges with an NLI model, and --nli none names none; drop one of the two")
    return ScoreConfig(cluster_rule=args.rule), nli


def nli_spec(value: str) -> str | None:
    """The NLI judge an --nli option names; None for 'none' (embeddings only)."""
    return None if value.strip().lower() == "none" else value


def print_note(note: str | None) -> None:
    """Why the meaning judge in force is not the one asked for, on stderr (the results say it too)."""
    if note:
        print(f"note: {note}", file=sys.stderr)


def nli_loader(spec: str | None) -> Callable[[], NliModel] | None:
    """Loads the NLI model on first use, once per process."""
    from uqviz.api import load_nli_model

    return None if spec is None else functools.partial(load_nli_model, spec)


def add_on_demand_argument(parser: argparse.ArgumentParser) -> None:
    # checked in main, not as argparse choices: the names come from the registry, which every command would then import
    parser.add_argument("--on-demand", action="append", default=[], metavar="MEASURE",
                        help="also compute a costly measure computed only on demand (claim-conditioned probability, LUQ, "
                             "P(True), verbalized confidence, the LLM judge, BERTScore, PMI, CSL) by its registry name, or all; repeatable")


def on_demand(args: argparse.Namespace) -> tuple[str, ...]:
    """The on-demand measures asked for, in registry order; an unknown name is a ValueError naming the choices."""
    from uqviz.measures.registry import ON_DEMAND

    unknown = [name for name in args.on_demand if name not in (*ON_DEMAND, "all")]
    if unknown:
        raise ValueError(f"argument --on-demand: invalid choice: {unknown[0]!r} (choose from {', '.join((*ON_DEMAND, 'all'))})")
    return ON_DEMAND if "all" in args.on_demand else tuple(name for name in ON_DEMAND if name in args.on_demand)


def add_embedder_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embedder", default="default", help="'default' (packaged MiniLM) or a sentence-transformers folder")


def sampling_settings(args: argparse.Namespace) -> SamplingSettings:
    """The sampling options, refused with one sentence before any model loads when out of range."""
    settings = SamplingSettings(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
    )
    validate_settings(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "app":
        return _app(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "on_demand", None):
        try:
            on_demand(args)
        except ValueError as error:
            parser.error(str(error))
    if getattr(args, "rule", None) is not None:
        try:
            judge(args)
        except ValueError as error:
            parser.error(str(error))
    if getattr(args, "relevance_budget", 0) < 0:
        parser.error(f"argument --relevance-budget: expected at least 0 (0: no cap), got {args.relevance_budget}")
    outputs = [path for path in (getattr(args, "out", None), getattr(args, "report", None)) if path]
    try:
        for path in outputs:
            check_writable(path)
        if args.command == "sample":
            return _sample(args)
        if args.command == "report":
            return _report(args)
        if args.command == "batch":
            return _batch(args)
        if args.command == "judge":
            return _judge(args)
        if args.command == "claims":
            return _claims(args)
        if args.command == "claims-eval":
            return _claims_eval(args)
        if args.command == "calibrate":
            return _calibrate(args)
        return _score(args)
    except (RunFormatError, SamplingError, ModelLoadError, ProfileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # after the checks: a disk that fills up, a file removed or a pipe closed meanwhile
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: {error.strerror or error}{where}; {' and '.join(outputs) or 'the output'} may be incomplete", file=sys.stderr)
        return EXIT_FAILED


def open_model(args: argparse.Namespace, trust_remote_code: bool = False):
    """The local model or the server the options name, refused in one sentence when it cannot be used."""
    from uqviz.engine.server import load_model

    if args.concurrency < 1 or not args.timeout > 0:
        raise SamplingError(f"--concurrency must be at least 1 and --timeout positive, got {args.concurrency} and {args.timeout}.")
    return load_model(args.model, device=args.device, trust_remote_code=trust_remote_code, api_key_env=args.api_key_env,
                      timeout=args.timeout, concurrency=args.concurrency)


def _sample(args: argparse.Namespace) -> int:
    from uqviz.format.run import write_run
    from uqviz.workflows.adaptive import sample_answers

    settings = sampling_settings(args)
    rule = adaptive_rule(args)
    lm = open_model(args, args.trust_remote_code)

    def statistics_of(run: Run) -> RunStatistics:  # only when drawing in rounds: the API's models load on first use
        from uqviz.api import statistics

        return statistics(run, language_model=None)

    def told(drawn: int, deviation: float) -> None:
        print(f"{drawn} answers: posterior sd of semantic entropy {deviation:.3f}", file=sys.stderr)

    run = sample_answers(lm, args.prompt, settings, statistics_of, rule, chat=not args.no_chat, system_prompt=args.system,
                         on_round=told)
    write_run(run, args.out)
    print(f"wrote {len(run.samples)} samples to {args.out} in {run.sampling_seconds:.2f} s", file=sys.stderr)
    return 0


def _score(args: argparse.Namespace) -> int:
    from uqviz.api import statistics
    from uqviz.scoring.scores import score_run, write_scores
    from uqviz.workflows.calibration import calibrated_document, read_profile, run_conditions

    run = read_run_with_samples(args.run)
    profile = read_profile(args.profile) if args.profile else None
    config, nli = judge(args)
    config = replace(config, uqac_sample=args.uqac_sample, relevance_precision=args.relevance_precision,
                     relevance_budget=args.relevance_budget or None)
    run_statistics = statistics(
        run, embedder=args.embedder, nli=nli, cross_encoder=args.cross_encoder, config=config,
        language_model=run_model_choice(run, args.run_model),
    )
    scores = score_run(run, run_statistics, on_demand=on_demand(args))
    print_note(scores.judge and scores.judge.note)
    extra = {}
    if profile is not None:
        extra = calibrated_document(profile, {name: scored.result.value for name, scored in scores.measures.items()},
                                    run_conditions(profile_model(run), run.settings, scores.judge and scores.judge.description))
        for difference in extra["profile_differences"]:
            print(f"warning: the profile does not fit this run: {difference}", file=sys.stderr)
    if args.out:
        write_scores(scores, args.out, extra)
        print(f"wrote {len(scores.measures)} measures to {args.out}", file=sys.stderr)
    else:
        json.dump({**scores.to_dict(), **extra}, sys.stdout, indent=1, allow_nan=False)
        print()
    return 0


def profile_model(run: Run) -> str:
    """The run's model as a batch names it (its load spec), for comparison with a profile's."""
    from uqviz.models.loading import spec_from_source

    try:
        return spec_from_source(run.model.source)
    except ModelLoadError:
        return run.model.source


def _calibrate(args: argparse.Namespace) -> int:
    from uqviz.workflows.calibration import profile_from_results

    if not Path(args.results).is_file():
        raise ProfileError(f"{args.results}: no such file")
    def told(done: int, total: int, name: str) -> None:
        print(f"fitting {name} ({done + 1} of {total})", file=sys.stderr, flush=True)

    profile = profile_from_results(args.results, args.report, progress=told)
    Path(args.out).write_text(json.dumps(profile, indent=1, allow_nan=False), encoding="utf-8")
    for name, reason in profile["unfit"].items():
        print(f"note: {name} not calibrated: {reason}", file=sys.stderr)
    print(f"wrote a profile of {len(profile['measures'])} measures from {profile['valid_for']['data']['rows']} rows to {args.out}",
          file=sys.stderr)
    return 0


def read_run_with_samples(path: str) -> Run:
    """The run file at `path`, refused in one sentence when it holds no samples: there is nothing to score or show."""
    from uqviz.format.run import read_run

    run = read_run(path)
    if not run.samples:
        raise RunFormatError(f"{path}: the run has no samples; sample at least one answer (uqviz sample --n 1 or more)")
    return run


def run_model_not_asked_for(run: Run) -> None:
    """The measures that need the run's own model say how to load it, instead of loading what a file names."""
    raise MissingModelError(f"the run's model ({run.model.source}) is loaded only with --run-model")


def run_model_choice(run: Run, asked: bool) -> object:
    """The run's own model when asked for (--run-model) or packaged (it can only mean the installed weights), else a
    loader that says how to ask for it."""
    from uqviz.api import RUN_MODEL
    from uqviz.models.loading import is_packaged_source

    return RUN_MODEL if asked or is_packaged_source(run.model.source) else functools.partial(run_model_not_asked_for, run)


def _claims(args: argparse.Namespace) -> int:
    from uqviz.api import claims
    from uqviz.workflows.claims import write_claims_csv

    run = read_run_with_samples(args.run)
    table = claims(run, with_ccp=args.ccp, atomic=args.atomic, embedder=args.embedder, nli=nli_spec(args.nli),
                   **({"language_model": run_model_choice(run, args.run_model)} if args.atomic else {}))
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    for column, reason in sorted(table.reasons.items()):
        print(f"note: {column} is empty: {reason}", file=sys.stderr)
    write_claims_csv(table, args.out)
    print(f"wrote {len(table.rows)} claims of {len(run.samples)} answers to {args.out}", file=sys.stderr)
    return 0


def _claims_eval(args: argparse.Namespace) -> int:
    from uqviz.api import claims
    from uqviz.workflows.claims import LABELLED_CLAIMS, evaluate_claims

    labels = Path(args.labels) if args.labels else LABELLED_CLAIMS
    if not labels.is_file():
        raise RunFormatError(f"{labels}: no such file")
    result = evaluate_claims(labels, lambda run: claims(run, with_ccp=args.ccp))
    print(f"{result.true_claims} true and {result.false_claims} false claims scored "
          f"({result.unverifiable} unverifiable left out, {result.unmatched} not found in the runs)")
    print(f"{'claim score':28s} {'AUROC':>7s} {'PRR':>7s}")
    for name in result.auroc:
        auroc, prr = result.auroc[name], result.prr[name]
        print(f"{name:28s} {'—' if auroc is None else f'{auroc:.3f}':>7s} {'—' if prr is None else f'{prr:.3f}':>7s}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from uqviz.api import statistics
    from uqviz.viz.report import write_report
    from uqviz.workflows.importing import score_available

    run = read_run_with_samples(args.run)
    config, nli = judge(args)
    run_statistics = statistics(run, embedder=args.embedder, nli=nli, language_model=None, config=config)
    scores = score_available(run, run_statistics)
    print_note(scores.judge and scores.judge.note)
    write_report(run_statistics, args.out, scores)
    print(f"wrote the report of {len(run.samples)} samples to {args.out}", file=sys.stderr)
    return 0


def _batch(args: argparse.Namespace) -> int:
    from uqviz.api import load_embedder_model
    from uqviz.statistics.clustering import rule_in_force
    from uqviz.statistics.uqac import GREEDY
    from uqviz.workflows.batch import (
        DEFAULT_THRESHOLDS,
        BatchInputError,
        BatchProgress,
        BatchSettings,
        CorrectnessRule,
        build_report,
        grader_agreement,
        read_questions,
        run_batch,
        write_report,
    )

    settings = sampling_settings(args)
    try:
        questions = read_questions(args.questions)
        threshold = DEFAULT_THRESHOLDS[args.match] if args.threshold is None else args.threshold
        batch_settings = BatchSettings(settings, CorrectnessRule(args.match, threshold), not args.no_chat, args.system, on_demand(args),
                                       adaptive_rule(args))
        lm = open_model(args)
        embedder = functools.partial(load_embedder_model, args.embedder)

        def progress(state: BatchProgress) -> None:
            if state.question is not None:
                left = "" if state.seconds_left is None else f", about {state.seconds_left:.0f} s left"
                print(f"[{state.done}/{state.total}{left}] {state.question[:70]}", file=sys.stderr)
            elif state.resumed:
                print(f"resuming: {state.resumed} of {state.total} questions are already in {args.out}", file=sys.stderr)

        config, nli = judge(args)
        nli_model = nli_loader(nli)
        if nli_model:  # said once here; each question's results name the judge too
            print_note(rule_in_force(config.cluster_rule, nli_model)[2])
        rows = run_batch(questions, lm, args.out, batch_settings,
                         config=replace(config, uqac_sample=GREEDY, relevance_budget=args.relevance_budget or None), embedder=embedder,
                         nli=nli_model, progress=progress)
    except BatchInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.report:
        graders = grader_agreement(rows, questions, batch_settings.correctness, embedder, nli_model)
        for method, counts in graders.items():
            print(f"grader {method} (threshold {counts['threshold']:g}): " + (
                f"skipped: {counts['skipped']}" if "skipped" in counts else
                f"{counts['correct']} of {counts['labelled']} correct, {counts['changed']} labels differ from --match {args.match}"),
                file=sys.stderr)
        write_report(build_report(rows, batch_settings, lm.info.name, lm.has_chat_template, graders), args.report)
    print(f"wrote {len(rows)} rows to {args.out}" + (f" and the report to {args.report}" if args.report else ""), file=sys.stderr)
    return 0


def _judge(args: argparse.Namespace) -> int:
    from uqviz.api import load_embedder_model
    from uqviz.workflows.judging import PairFileError, judge_pairs, read_pairs, write_judged

    try:
        pairs = read_pairs(args.pairs)
    except PairFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    config, nli = judge(args)
    judged, note = judge_pairs(pairs, config.cluster_rule, nli_loader(nli), functools.partial(load_embedder_model, args.embedder),
                               config.cluster_threshold, progress=print_judge_progress)
    print_note(note)
    write_judged(args.out, judged)
    same = sum(pair.same for pair in judged)
    print(f"judged {len(judged)} pairs under the {judged[0].rule} rule: {same} same, {len(judged) - same} different; wrote {args.out}",
          file=sys.stderr)
    return 0


def print_judge_progress(done: int, total: int) -> None:
    """How far a long `judge` run is, on stderr (judge_pairs calls it between chunks of pairs only)."""
    print(f"judged {done:,} of {total:,} pairs ({done / total:.0%})", file=sys.stderr)


def check_writable(path: str) -> None:
    """Refuse an output path that cannot be written, before any work starts: a missing folder, a folder, a device or other
    special file, or a path that does not open for appending; an existing file is left as it is (batch resumes from it)."""
    target = Path(path)
    if target.is_dir():
        raise RunFormatError(f"{path} is a folder; expected a file path to write")
    if not target.parent.is_dir():
        raise RunFormatError(f"the folder of {path} does not exist")
    existed = os.path.lexists(target)
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):  # opening a pipe would wait for a reader
        raise RunFormatError(f"{path} is a device or other special file; expected a regular file path to write")
    try:
        with target.open("a"):
            pass
    except OSError as error:
        raise RunFormatError(f"{path} cannot be written ({error.strerror or error})") from None
    if not existed:  # a run that fails later leaves no empty file behind
        target.unlink()


def app_script() -> Path:
    """app.py of the installed package (`uqviz_app`), else of the repository this package was imported from."""
    spec = importlib.util.find_spec("uqviz_app")
    for folder in [] if spec is None else spec.submodule_search_locations or []:
        if (Path(folder) / "app.py").is_file():
            return Path(folder) / "app.py"
    return Path(__file__).resolve().parent.parent / "app.py"


def streamlit_config_options(script: Path) -> list[str]:
    """The app's .streamlit/config.toml as command-line options, so they hold whatever folder the app starts from."""
    config = script.parent / ".streamlit" / "config.toml"
    if not config.is_file():
        return []
    with config.open("rb") as file:
        sections = tomllib.load(file)
    return [
        f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
        for section, values in sections.items() for key, value in values.items()
    ]


def exposed_address(options: list[str]) -> str | None:
    """The address streamlit's options bind the app to when it reaches beyond this machine (the last `--server.address` wins)."""
    address = None
    for index, option in enumerate(options):
        if option == "--server.address" and index + 1 < len(options):
            address = options[index + 1]
        elif option.startswith("--server.address="):
            address = option.partition("=")[2]
    return None if address is None or is_loopback(address) else address


def is_loopback(address: str) -> bool:
    """Whether `address` (localhost, 127.0.0.1, ::1 or [::1], and the rest of the loopback range) stays on this machine."""
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address.lower() == "localhost"


def _app(streamlit_options: list[str]) -> int:
    script = app_script()
    if not script.is_file():
        print(f"error: the app is not installed beside this package (no {script})", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = [*streamlit_config_options(script), *(streamlit_options[1:] if streamlit_options[:1] == ["--"] else streamlit_options)]
    address = exposed_address(options)
    if address is not None:
        print(f"warning: server.address {address!r} serves the app beyond this machine: anyone who can reach it can run its "
              "models and read its run store", file=sys.stderr)
    try:
        return subprocess.call([sys.executable, "-m", "streamlit", "run", str(script), *options])
    except KeyboardInterrupt:  # Ctrl-C is how a user stops the app
        return 130
