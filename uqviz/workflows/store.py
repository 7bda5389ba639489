"""The embedded run store: one SQLite file (WAL) holding every run, its scores and a name (docs/architecture.md)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from uqviz.format.run import Run, run_from_json, run_to_json
from uqviz.measures.registry import REGISTRY
from uqviz.models.loading import cache_root
from uqviz.scoring.scores import Scores

STORE_ENV = "UQVIZ_STORE"
STORE_FILE = "runs.sqlite3"
SCHEMA_VERSION = 1
HEADLINE_MEASURES = ("ln_predictive_entropy", "semantic_entropy", "sar", "semantic_volume", "self_certainty")
BUSY_TIMEOUT_SECONDS = 5.0
LISTED_CHARS = 200
_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    created TEXT NOT NULL,
    saved TEXT NOT NULL,
    samples INTEGER NOT NULL,
    run_json TEXT NOT NULL,
    scores_json TEXT
)
"""


class StoreError(RuntimeError):
    """A run id that is not in the store, a busy or read-only store, or a value it cannot keep; one sentence."""


class MissingRunError(StoreError):
    """The run id is not (or no longer) in the store."""


@dataclass(frozen=True)
class StoredRun:
    """One row of the history list: everything but the run itself, its name and prompt cut to LISTED_CHARS."""

    id: int
    name: str
    prompt: str
    model: str
    created: str
    saved: str
    samples: int
    headline: dict[str, float | None]


@dataclass(frozen=True)
class MeasureDelta:
    """One measure of two runs: both U values and b − a (None where either value is missing)."""

    name: str
    a: float | None
    b: float | None
    delta: float | None
    reason: str | None = None


def default_store_path() -> Path:
    """$UQVIZ_STORE, else runs.sqlite3 in the uqviz data folder ($UQVIZ_HOME or ~/.cache/uqviz)."""
    configured = os.environ.get(STORE_ENV)
    return Path(configured).expanduser() if configured else cache_root() / STORE_FILE


class RunStore:
    """Runs and their scores in one SQLite file; each call opens its own connection, so threads may share it.

    A store locked by another process is retried for `busy_timeout` seconds, then reported as busy. A file or folder
    this process may not write (or that SQLite finds read-only) opens `read_only`: runs list and load, writes raise
    StoreError. Only a file that fails the integrity or schema check is moved aside (kept, never deleted); a fresh
    store starts and `recovery_message` says so. `read_only=True` opens a writable file read-only too.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        busy_timeout: float = BUSY_TIMEOUT_SECONDS,
        read_only: bool | None = None,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.busy_timeout = busy_timeout
        self.read_only = not self._writable() if read_only is None else read_only
        self.recovery_message: str | None = None
        problem, ready = self._inspect()
        if problem is not None and self.read_only:
            raise StoreError(
                f"The run store {self.path} could not be read ({problem}) and is read-only, so it was left as it is."
            )
        if problem is not None:
            aside = self._move_aside()
            self.recovery_message = (
                f"The run store {self.path} could not be read ({problem}); it was moved to {aside} "
                f"and a fresh, empty store was started."
            )
        if not ready:
            self._create_schema()

    def save(self, run: Run, scores: Scores | dict | None = None, name: str | None = None) -> int:
        """Store a run (validated by reading its JSON back) and its scores in one transaction; returns its id."""
        text = run_to_json(run)
        run_from_json(text, origin="run to store")
        now = _now()
        created = run.created or now
        with self._transaction() as connection:
            cursor = connection.execute(
                "INSERT INTO runs (name, prompt, model, created, saved, samples, run_json, scores_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name if name is not None else default_name(run),
                    run.prompt, run.model.name, created, now, len(run.samples), text, _scores_json(scores),
                ),
            )
            return int(cursor.lastrowid)

    def list_runs(self) -> list[StoredRun]:
        """Every stored run, newest first, with its headline scores; SQLite cuts names and prompts to LISTED_CHARS."""
        with self._transaction(write=False) as connection:
            rows = connection.execute(
                "SELECT id, substr(name, 1, ?), substr(prompt, 1, ?), model, created, saved, samples, scores_json "
                "FROM runs ORDER BY id DESC",
                (LISTED_CHARS, LISTED_CHARS),
            ).fetchall()
        return [
            StoredRun(row[0], row[1], row[2], row[3], row[4], row[5], row[6], headline_scores(_loads(row[7])))
            for row in rows
        ]

    def load(self, run_id: int) -> Run:
        """The stored run, validated again on the way out."""
        return run_from_json(self._column(run_id, "run_json"), origin=f"stored run {run_id}")

    def load_scores(self, run_id: int) -> dict[str, Any] | None:
        """The stored `uqviz.scores/1` dict, or None when the run was saved without scores."""
        return _loads(self._column(run_id, "scores_json"))

    def update_scores(self, run_id: int, scores: Scores | dict) -> None:
        self._update(run_id, scores_json=_scores_json(scores))

    def update_run(self, run_id: int, run: Run, scores: Scores | dict | None) -> None:
        """Replace a stored run (it gained perturbations, say) and its scores in one transaction."""
        self._update(run_id, run_json=run_to_json(run), samples=len(run.samples), scores_json=_scores_json(scores))

    def rename(self, run_id: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise StoreError("A run name cannot be empty.")
        self._update(run_id, name=name)

    def delete(self, run_id: int) -> None:
        with self._transaction() as connection:
            if connection.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount == 0:
                raise MissingRunError(f"There is no stored run with id {run_id}.")

    def compare(self, a_id: int, b_id: int) -> list[MeasureDelta]:
        """The delta (b − a) of every measure of two stored runs, from their stored scores."""
        return compare_scores(self.load_scores(a_id) or {}, self.load_scores(b_id) or {})

    def _column(self, run_id: int, column: str) -> Any:
        with self._transaction(write=False) as connection:
            row = connection.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise MissingRunError(f"There is no stored run with id {run_id}.")
        return row[0]

    def _update(self, run_id: int, **columns: Any) -> None:
        assignments = ", ".join(f"{column} = ?" for column in columns)  # column names come from this class only
        with self._transaction() as connection:
            if connection.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*columns.values(), run_id)).rowcount == 0:
                raise MissingRunError(f"There is no stored run with id {run_id}.")

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction (IMMEDIATE for writes) on its own connection: committed on success, rolled back on error."""
        connection = self._begin(write)
        try:
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_READONLY:
                raise
            self.read_only = True  # SQLite knows what the permission bits do not say: a read-only mount, say
            raise self._read_only_error() from error
        finally:
            connection.close()

    def _begin(self, write: bool) -> sqlite3.Connection:
        """A connection with its transaction and lock taken; a locked store is retried with backoff for busy_timeout."""
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.01
        while True:
            if write and self.read_only:
                raise self._read_only_error()
            connection = self._connect(max(deadline - time.monotonic(), 0.0))
            try:
                if write:
                    connection.execute("PRAGMA journal_mode = WAL")
                    connection.execute("PRAGMA synchronous = FULL")
                    connection.execute("BEGIN IMMEDIATE")
                else:
                    connection.execute("BEGIN")
                    connection.execute("SELECT count(*) FROM sqlite_master")  # takes the read lock inside the retry
                return connection
            except BaseException as error:
                connection.close()
                code = getattr(error, "sqlite_errorcode", 0) & 0xFF
                if code == sqlite3.SQLITE_READONLY and not self.read_only:
                    self.read_only = True  # as in _transaction; a read goes on through a read-only connection
                    continue
                if code not in _BUSY_CODES:
                    raise
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"The run store {self.path} is busy (locked by another process) and stayed so for "
                        f"{self.busy_timeout:g} s; try again when that process is done."
                    ) from error
                time.sleep(max(min(pause, deadline - time.monotonic()), 0.0))
                pause = min(pause * 2, 0.5)

    def _read_only_error(self) -> StoreError:
        return StoreError(
            f"The run store {self.path} is read-only, so its runs can be listed and opened "
            f"but nothing can be saved, renamed or deleted."
        )

    def _connect(self, timeout: float) -> sqlite3.Connection:
        """Read-write, or mode=ro (immutable where SQLite could not create its shared-memory file beside the store)."""
        if not self.read_only:
            return sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        if not os.access(self.path.parent, os.W_OK) and not self.path.with_name(self.path.name + "-shm").exists():
            uri += "&immutable=1"
        return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)

    def _writable(self) -> bool:
        """Whether this process may write the file and its folder (made here if it can be; WAL files live there)."""
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if not os.access(self.path.parent, os.W_OK):
            return False
        return not self.path.exists() or os.access(self.path, os.W_OK)

    def _inspect(self) -> tuple[str | None, bool]:
        """Why the existing file cannot serve as this store (None when it can), and whether it holds the runs table."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return None, False
        try:
            with self._transaction(write=False) as connection:
                check = connection.execute("PRAGMA quick_check").fetchall()
                version = connection.execute("PRAGMA user_version").fetchone()[0]
                tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            if getattr(error, "sqlite_errorcode", 0) & 0xFF not in _CORRUPT_CODES:
                raise
            return str(error), False
        if check != [("ok",)]:
            return "integrity check failed: " + "; ".join(str(row[0]) for row in check[:3]), False
        if tables - {"sqlite_sequence"} and (version != SCHEMA_VERSION or "runs" not in tables):
            return f"it is an SQLite file of another kind (schema version {version})", False
        return None, "runs" in tables

    def _create_schema(self) -> None:
        try:
            with self._transaction() as connection:
                connection.execute(_SCHEMA)
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except StoreError:
            if self.read_only:
                raise StoreError(
                    f"The run store {self.path} cannot be created because it is read-only; set {STORE_ENV} to a "
                    f"writable file."
                ) from None
            raise

    def _move_aside(self) -> Path:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        while aside.exists():
            aside = aside.with_name(aside.name + "+")
        self.path.rename(aside)
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + suffix))
        return aside


def short_text(text: str, limit: int = 60) -> str:
    """The text on one line, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_name(run: Run) -> str:
    return f"{short_text(run.prompt)} · T={run.settings.temperature:g}"


def measure_values(scores: dict[str, Any]) -> dict[str, float | None]:
    """name → U value of a `uqviz.scores/1` dict."""
    return {name: entry.get("value") for name, entry in scores.get("measures", {}).items()}


def headline_scores(scores: dict[str, Any] | None) -> dict[str, float | None]:
    values = measure_values(scores or {})
    return {name: values[name] for name in HEADLINE_MEASURES if name in values}


def compare_scores(a: dict[str, Any], b: dict[str, Any]) -> list[MeasureDelta]:
    """Every measure in either scores dict, registry order first: both values and the delta b − a."""
    a_measures, b_measures = a.get("measures", {}), b.get("measures", {})
    names = [name for name in REGISTRY if name in a_measures or name in b_measures]
    names += sorted((set(a_measures) | set(b_measures)) - set(names))
    deltas = []
    for name in names:
        first, second = a_measures.get(name, {}), b_measures.get(name, {})
        value_a, value_b = _finite(first.get("value")), _finite(second.get("value"))
        delta = None if value_a is None or value_b is None else value_b - value_a
        reason = None
        if delta is None:
            reason = first.get("reason") or second.get("reason") or "not scored in both runs"
        deltas.append(MeasureDelta(name, value_a, value_b, delta, reason))
    return deltas


def _finite(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _scores_json(scores: Scores | dict | None) -> str | None:
    if scores is None:
        return None
    return json.dumps(scores.to_dict() if isinstance(scores, Scores) else scores, allow_nan=False)


def _loads(text: str | None) -> dict[str, Any] | None:
    return None if text is None else json.loads(text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
