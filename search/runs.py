"""A workspace's runs: the current one and the ones kept when its base changed.

The current run lives in `.autoresearch/state.db` and `.autoresearch/logs/`. When the
user's HEAD (the commit a new tree would start from) or autoresearch.toml's `[target]`
table differs from the current run's base, the next start archives that run to
`.autoresearch/runs/<run>/` (its state.db and logs; its branches
`autoresearch/<run>/<node>` stay in git) and starts a new tree. Here: why a base
changed, archiving, the list of runs, a run by name (`--run NAME`), the one-line
refusal of a state.db that is empty or not ours next to an earlier run's logs, and the
line that says the base failed (docs/ARCHITECTURE.md §3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autoresearch_tui.search.config import CONFIG_NAME, Config
from autoresearch_tui.search.model import FINISHED, ROOT_ID, Node
from autoresearch_tui.search.runlock import runner_pid
from autoresearch_tui.search.store import Store
from autoresearch_tui.search.tree import Tree

RUNS_DIR = "runs"
STATE_FILES = ("state.db", "state.db-wal", "state.db-shm")
OUR_TABLES = frozenset({"meta", "nodes", "points", "events", "calls"})


class BaseFailed(RuntimeError):
    """The base commit's run failed: the search cannot go on (exit code 1)."""


class UnknownRun(LookupError):
    """`--run NAME` names no run of the workspace (exit code 2)."""


@dataclass(frozen=True)
class RunInfo:
    """One run as `autoresearch-tui runs` lists it."""

    name: str
    base: str
    nodes: int
    best: float | None
    status: str  # running, current, archived, base crashed, unreadable, ...
    started: float  # its created_at (0: unknown)
    current: bool


# -- a base that changed or failed -----------------------------------------------------
def target_digest(root: Path) -> str:
    """A digest of autoresearch.toml's `[target]` table ("" when it cannot be read)."""
    try:
        raw = tomllib.loads((root / CONFIG_NAME).read_text()).get("target", {})
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    text = json.dumps(raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def base_change(root: Path, base: str, digest: str, head: str) -> str:
    """Why a new tree starts instead of resuming the run on `base` ("" when none does):
    HEAD moved, or the `[target]` table differs (`digest`: the run's; "" for a state.db
    of an older version, which recorded none)."""
    if base and head != base:
        return f"HEAD moved from {base[:7]} to {head[:7]}"
    if digest and digest != target_digest(root):
        return f"the [target] table of {CONFIG_NAME} changed"
    return ""


def base_failure(config: Config, root: Node | None, *, still: bool = False) -> str:
    """The one line for a base commit whose run failed ("" when it has not failed)."""
    if root is None or root.status not in FINISHED or root.has_metric:
        return ""
    reason = " ".join(root.reason.split())[:200]
    what = f"{root.status}: {reason}" if reason else root.status
    log = os.path.relpath(config.log_path(ROOT_ID), config.root)
    files = ", ".join(config.target.editable)
    head = f"the base {ROOT_ID} still fails ({what})" if still else f"the base {ROOT_ID} {what}"
    return (
        f"{head}; see {log}; fix {files}, commit, and run again "
        "(a new run starts on the new commit)"
    )


# -- the state files -------------------------------------------------------------------
def state_problem(config: Config) -> str:
    """The one-line refusal of `.autoresearch/state.db` as it is ("" when it may be
    opened): next to an earlier run's logs, a state.db that is gone, empty or not ours
    would silently start a new run whose output is appended to the old logs."""
    db, logs = config.state_dir / "state.db", config.state_dir / "logs"
    old_logs = logs.is_dir() and any(p.is_file() for p in logs.iterdir())
    move_logs = f"mv {logs} {logs}.old"
    if not db.exists() or db.stat().st_size == 0:
        what = "is gone" if not db.exists() else "is empty (0 bytes)"
        return f"{db} {what} next to an earlier run's logs — `{move_logs}` to start a new run" if (
            old_logs
        ) else ""  # fmt: skip
    problem = _foreign(db)
    if not problem or (problem.endswith("holds no run") and not old_logs):
        return ""  # ours, or a new one (a start killed before it named its run)
    moves = f"mv {db} {db}.old" + (f"; {move_logs}" if old_logs else "")
    return f"{problem} — `{moves}` to start a new run"


def _foreign(db: Path) -> str:
    """Why `db` is not one of our state.db files with a run ("" when it is one)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = conn.execute("select name from sqlite_master where type='table'")
            tables = {r[0] for r in rows}
            if "meta" in tables and conn.execute("select 1 from meta where key='run'").fetchone():
                return ""
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return f"cannot open {db} ({exc}): not a state.db of autoresearch-tui"
    if tables - OUR_TABLES:
        return f"{db} is not a state.db of autoresearch-tui (tables {sorted(tables - OUR_TABLES)})"
    return f"{db} holds no run"


# -- archived runs ---------------------------------------------------------------------
def archive_dir(config: Config, name: str) -> Path:
    return config.state_dir / RUNS_DIR / name


def archive_current(config: Config, name: str) -> Path:
    """Move the current run (closed) to `runs/<name>/`: its logs first, state.db last, so
    a start killed in between finds the run still current and archives the rest."""
    dest = archive_dir(config, name)
    dest.mkdir(parents=True, exist_ok=True)
    logs = config.state_dir / "logs"
    if logs.is_dir() and not (dest / "logs").exists():
        os.replace(logs, dest / "logs")
    for file in reversed(STATE_FILES):  # the -wal before the database it belongs to
        if (config.state_dir / file).exists():
            os.replace(config.state_dir / file, dest / file)
    return dest


def run_names(config: Config) -> list[str]:
    """The archived runs' names, oldest first."""
    folder = config.state_dir / RUNS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "state.db").is_file())


def config_for_run(config: Config, name: str | None) -> Config:
    """The config whose state.db and logs are run `name`'s (None: the current run)."""
    if name is None:
        return config
    if (archive_dir(config, name) / "state.db").is_file():
        return dataclasses.replace(config, archive=archive_dir(config, name))
    if _read_info(config.state_dir / "state.db", config, current=True).name == name:
        return config
    known = [r.name for r in list_runs(config)]
    listed = ", ".join(known) if known else "none yet"
    raise UnknownRun(f"no run {name} in {config.root} — known runs: {listed}")


def list_runs(config: Config) -> list[RunInfo]:
    """Every run of the workspace, the latest first."""
    runs = []
    if (config.state_dir / "state.db").is_file():
        runs.append(_read_info(config.state_dir / "state.db", config, current=True))
    for name in run_names(config):
        runs.append(_read_info(archive_dir(config, name) / "state.db", config, current=False))
    return sorted(runs, key=lambda r: (r.current, r.started), reverse=True)


def _read_info(db: Path, config: Config, *, current: bool) -> RunInfo:
    fallback = db.parent.name if not current else ""
    try:
        store = Store(db, readonly=True)
        try:
            name, base = store.get_meta("run"), store.get_meta("base")
            started = float(store.get_meta("created_at") or 0)
            nodes = store.load_nodes()
        finally:
            store.close()
    except (sqlite3.Error, ValueError):
        return RunInfo(fallback, "", 0, None, "unreadable", 0.0, current)
    tree = Tree(config.target.goal, nodes)
    best = tree.best()
    root = tree.root
    if base_failure(config, root):
        status = f"base {root.status if root else 'failed'}"
    elif current and runner_pid(config.state_dir):
        status = "running"
    else:
        status = "current" if current else "archived"
    metric = tree.metric_mean(best.id) if best is not None else None  # its value (values.py)
    return RunInfo(name or fallback, base, len(nodes), metric, status, started, current)


def starts_new_run(config: Config) -> bool:
    """Whether the next start creates a run (none yet, or its base changed), which needs
    a clean checkout; False also for a state.db that cannot be read (opening says why)."""
    db = config.state_dir / "state.db"
    if not db.is_file():
        return True
    try:
        store = Store(db, readonly=True)
        try:
            run, base, digest = (store.get_meta(k) for k in ("run", "base", "target"))
        finally:
            store.close()
    except sqlite3.Error:
        return False
    if not run:
        return True
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=config.root, capture_output=True, text=True
    ).stdout.strip()
    return bool(head and base_change(config.root, base, digest, head))
