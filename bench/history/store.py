"""The history index: one SQLite file (results/history.sqlite) holding, per run, what it was and every
figure of every label's summary (bench/analysis/summary.py), the generator floor's included.

The index is a cache of results/runs/: `index_run` adds (or replaces) one run, `rebuild` writes it anew
from the run folders, and `open_index` rebuilds it when the file is missing, damaged or of another schema
version, so a damaged index is never trusted.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.analysis.summary import FIGURES, summarize
from bench.results import RUN_FILE, RunResult, load_run

INDEX = "history.sqlite"
VERSION = 1  # bump on any change of the tables below: an index of another version is rebuilt
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, scenario TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, status TEXT NOT NULL,
    lab_commit TEXT, app_target TEXT, app_commit TEXT, machine TEXT NOT NULL, backend TEXT NOT NULL,
    load TEXT NOT NULL, folder TEXT NOT NULL
);
CREATE TABLE figures (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, role TEXT NOT NULL, label TEXT NOT NULL,
    stack TEXT NOT NULL, params TEXT NOT NULL, figure TEXT NOT NULL,
    median REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (run_id, role, label, figure)
);
"""


@dataclass(frozen=True)
class Point:
    """One label's figure in one run: the median of its ok repeats and their min-max."""

    run_id: str
    started: str
    lab_commit: str | None
    app_commit: str | None
    median: float
    low: float
    high: float
    n: int


def index_path(results_dir: Path) -> Path:
    return results_dir / INDEX


def load_key(run: RunResult) -> str:
    """The load shape a run's stacks were measured under, as canonical JSON ("" when none applied)."""
    shapes = sorted({json.dumps(m.load.__dict__, sort_keys=True) for m in run.rows("stack") if m.load})
    return shapes[0] if len(shapes) == 1 else json.dumps(shapes)


def app_commit(run: RunResult) -> str | None:
    """The --app folder's git commit when it is in a git work tree (None: no --app, or not in git)."""
    if not run.settings.get("app"):
        return None
    folder = str(run.settings.get("app_dir") or ".")
    try:
        out = subprocess.run(["git", "-C", folder, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _create(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO meta VALUES ('version', ?)", (str(VERSION),))
    db.commit()
    return db


def _healthy(path: Path) -> bool:
    """The file is an SQLite database of this version that passes its own integrity check."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            if db.execute("PRAGMA integrity_check").fetchone() != ("ok",):
                return False
            row = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            return row is not None and row[0] == str(VERSION)
    except sqlite3.Error:
        return False


def _insert(db: sqlite3.Connection, run: RunResult, folder: Path, commit: str | None) -> None:
    db.execute("DELETE FROM figures WHERE run_id = ?", (run.run_id,))
    db.execute("INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (
        run.run_id, run.scenario, run.started_at, run.finished_at, run.status, run.machine.get("git_commit"),
        run.settings.get("app"), commit, json.dumps(_machine(run), sort_keys=True), run.backend, load_key(run),
        str(folder)))  # fmt: skip
    rows = []
    for s in summarize(run).labels:
        first = s.repeats[0]
        for key in FIGURES:
            spread = s.spread(key)
            if spread is not None:
                rows.append((run.run_id, s.role, s.label, first.stack, json.dumps(first.params, sort_keys=True), key,
                             spread.mid, spread.low, spread.high, spread.n))  # fmt: skip
    db.executemany("INSERT OR REPLACE INTO figures VALUES (?,?,?,?,?,?,?,?,?,?)", rows)


def _machine(run: RunResult) -> dict[str, Any]:
    """What tells one machine from another (not the load averages, which change every run)."""
    return {k: run.machine.get(k) for k in ("hostname", "cpu_model", "cpu_count", "kernel") if k in run.machine}


def rebuild(results_dir: Path) -> int:
    """Write the index anew from every readable run folder; returns how many runs it holds."""
    path = index_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with closing(_create(path)) as db:
        for run_file in sorted((results_dir / "runs").glob(f"*/{RUN_FILE}")):
            try:
                run = load_run(run_file.parent)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                print(f"WARNING: history: skipping {run_file}: damaged ({exc})", file=sys.stderr)
                continue
            if run.status == "running":
                continue  # not finished (or killed without its end): indexed when it ends
            _insert(db, run, run_file.parent, app_commit(run))
            count += 1
        db.commit()
    return count


@contextmanager
def open_index(results_dir: Path) -> Iterator[sqlite3.Connection]:
    """The index, rebuilt first from results/runs/ when it is missing, damaged or of another version."""
    path = index_path(results_dir)
    if not _healthy(path):
        if path.exists():
            print(f"WARNING: history: {path} is damaged or of another version; rebuilding it from the runs",
                  file=sys.stderr)  # fmt: skip
        rebuild(results_dir)
    with closing(sqlite3.connect(path)) as db:
        yield db


def index_run(results_dir: Path, run_dir: Path) -> None:
    """Add one ended run (complete, failed or interrupted) to the index, replacing what it held of it."""
    run = load_run(run_dir)
    with open_index(results_dir) as db:
        _insert(db, run, run_dir, app_commit(run))
        db.commit()


def series(db: sqlite3.Connection, label: str, figure: str, role: str = "stack", scenario: str | None = None,
           since: str | None = None) -> list[Point]:  # fmt: skip
    """One label's figure over the runs that measured it, oldest first."""
    query = (
        "SELECT r.run_id, r.started, r.lab_commit, r.app_commit, f.median, f.low, f.high, f.n "
        "FROM figures f JOIN runs r USING (run_id) WHERE f.label = ? AND f.figure = ? AND f.role = ?"
    )
    args: list[Any] = [label, figure, role]
    if scenario:
        query, args = query + " AND r.scenario = ?", [*args, scenario]
    if since:
        query, args = query + " AND r.started >= ?", [*args, since]
    return [Point(*row) for row in db.execute(query + " ORDER BY r.started, r.run_id", args)]


def labels(db: sqlite3.Connection, role: str = "stack") -> list[str]:
    """Every label the index holds in this role, in the order first measured."""
    rows = db.execute("SELECT f.label, MIN(r.started) FROM figures f JOIN runs r USING (run_id) WHERE f.role = ? "
                      "GROUP BY f.label ORDER BY 2, 1", (role,))  # fmt: skip
    return [label for label, _ in rows]


def runs_like(db: sqlite3.Connection, run: RunResult, labels_of: Sequence[str]) -> list[str]:
    """Run ids, oldest first, of the same scenario and load shape that measured every one of these labels."""
    rows = db.execute("SELECT r.run_id FROM runs r WHERE r.scenario = ? AND r.load = ? AND r.run_id != ? "
                      "ORDER BY r.started, r.run_id", (run.scenario, load_key(run), run.run_id))  # fmt: skip
    found = []
    for (run_id,) in rows:
        have = {
            label
            for (label,) in db.execute(
                "SELECT DISTINCT label FROM figures WHERE run_id = ? AND role = 'stack'", (run_id,)
            )
        }
        if set(labels_of) <= have:
            found.append(run_id)
    return found
