"""The run's persistent state: `.autoresearch/state.db`, SQLite through sqlite-utils.

Tables: `meta` (run name, base commit, seed), `nodes` (one row per `Node`), `points`
(loss curves), `events` (every user action and scheduler decision, timestamped) and
`calls` (agent calls: tokens, cost, latency). WAL mode, so readers (`status`, the TUI)
never block the writer. A `Store` is used from one thread at a time; the scheduler gives
it a thread of its own.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import sqlite_utils

from autoresearch_tui.agents.proposer import CallRecord, safe_text
from autoresearch_tui.agents.request import LessonsNote
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.output import MAX_POINTS

NODE_FIELDS = [f.name for f in fields(Node)]
CALL_FIELDS = [f.name for f in fields(CallRecord)]
THIN_POINTS = """delete from points where rowid in (select rowid from (
    select rowid, row_number() over (order by rowid) as r, count(*) over () as n
    from points where node = ?) where r % 2 = 0 and r < n)"""


def _node_row(node: Node) -> dict[str, Any]:
    row = _safe(asdict(node))  # a reason may hold what git decoded with surrogateescape
    row["pruned"] = int(node.pruned)
    row["seed_only"] = int(node.seed_only)
    row["full_run"] = int(node.full_run)
    row["other_parents"] = json.dumps(node.other_parents)
    return row


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    """The row with every text as UTF-8 can store it (agents/proposer.safe_text)."""
    return {k: safe_text(v) if isinstance(v, str) else v for k, v in row.items()}


def _row_node(row: dict[str, Any]) -> Node:
    values = {k: row[k] for k in NODE_FIELDS if k in row}
    values["pruned"] = bool(values.get("pruned"))
    values["seed_only"] = bool(values.get("seed_only"))
    values["full_run"] = bool(values.get("full_run"))
    values["other_parents"] = json.loads(values.get("other_parents") or "[]")
    return Node(**values)


class StoreFailed(RuntimeError):
    """state.db could not be written; the search stopped (the message says what to do)."""


class Store:
    """Typed access to state.db. `path=None` opens an in-memory database (tests, benches)."""

    def __init__(self, path: Path | None, *, readonly: bool = False):
        if path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
        elif readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        if not readonly:
            if path is not None:
                self.db.enable_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._create()

    def _create(self) -> None:
        db = self.db
        if "meta" not in db.table_names():
            db.table("meta").create({"key": str, "value": str}, pk="key")
        if "nodes" not in db.table_names():
            db.table("nodes").create(
                {
                    "id": str, "parent": str, "status": str, "kind": str, "persona": str,
                    "backend": str, "model": str, "description": str, "rationale": str,
                    "branch": str, "commit": str, "metric": float, "reason": str,
                    "pruned": int, "boost": float, "slot": str, "seed": int, "pid": int,
                    "created_at": float, "started_at": float, "finished_at": float,
                    "other_parents": str, "seed_only": int, "full_run": int,
                },
                pk="id",
            )  # fmt: skip
            db.table("nodes").create_index(["parent"])
        for column in ("seed_only", "full_run"):  # a state.db of an older version
            if column not in db.table("nodes").columns_dict:
                db.table("nodes").add_column(column, int, not_null_default=0)
        if "points" not in db.table_names():
            db.table("points").create(
                {"node": str, "step": int, "loss": float, "elapsed": float, "progress": float}
            )
            db.table("points").create_index(["node", "step"])
        if "events" not in db.table_names():
            db.table("events").create(
                {"id": int, "ts": float, "kind": str, "node": str, "data": str}, pk="id"
            )
        if "calls" not in db.table_names():
            db.table("calls").create(
                {
                    "id": int, "ts": float, "node": str, "persona": str, "backend": str,
                    "model": str, "input_tokens": int, "output_tokens": int,
                    "cached_tokens": int, "latency_s": float, "cost_usd": float, "error": str,
                    "cache_write_tokens": int, "priced": int, "reasoning_tokens": int,
                },
                pk="id",
            )  # fmt: skip
        for column in ("cache_write_tokens", "priced", "reasoning_tokens"):  # an older state.db
            if column not in db.table("calls").columns_dict:
                db.table("calls").add_column(column, int, not_null_default=int(column == "priced"))

    # -- meta --------------------------------------------------------------------------
    def get_meta(self, key: str, default: str = "") -> str:
        rows = list(self.db.query("select value from meta where key = ?", [key]))
        return rows[0]["value"] if rows else default

    def set_meta(self, key: str, value: str) -> None:
        self.db.table("meta").upsert({"key": key, "value": value}, pk="key")

    # -- nodes -------------------------------------------------------------------------
    def save_node(self, node: Node) -> None:
        self.db.table("nodes").upsert(_node_row(node), pk="id")

    def delete_node(self, node_id: str) -> None:
        self.db.table("nodes").delete_where("id = ?", [node_id])

    def load_nodes(self, ids: Iterable[str] | None = None) -> list[Node]:
        """Every node, or those of `ids`."""
        if ids is None:
            return [_row_node(r) for r in self.db.query("select * from nodes order by id")]
        wanted = list(ids)
        rows: list[dict[str, Any]] = []
        for i in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows += self.db.query(f"select * from nodes where id in ({marks}) order by id", chunk)
        return [_row_node(r) for r in rows]

    def node_versions(self) -> dict[str, tuple[Any, ...]]:
        """id -> the fields a running search changes (cheap: to find what to reload)."""
        rows = self.db.execute(
            "select id, status, metric, reason, pruned, boost, slot, pid, started_at, "
            'finished_at, "commit" from nodes'
        ).fetchall()
        return {r[0]: r[1:] for r in rows}

    # -- points, events, calls ---------------------------------------------------------
    def add_points(self, node_id: str, points: Iterable[tuple[int, float, float, float]]) -> None:
        rows = [
            {"node": node_id, "step": s, "loss": loss, "elapsed": t, "progress": p}
            for s, loss, t, p in points
        ]
        if rows:
            self.db.table("points").insert_all(rows)
            self._thin_points(node_id)

    def _thin_points(self, node_id: str) -> None:
        """At most MAX_POINTS a node: past it every other one goes, the first and the latest
        stay (search/output.py also keeps fewer as a run goes on)."""
        count = "select count(*) from points where node = ?"
        while self.db.execute(count, [node_id]).fetchone()[0] > MAX_POINTS:
            with self.db.conn:
                self.db.execute(THIN_POINTS, [node_id])

    def clear_points(self, node_id: str) -> None:
        self.db.table("points").delete_where("node = ?", [node_id])

    def load_points(self, node_id: str) -> list[tuple[int, float]]:
        rows = self.db.query(
            "select step, loss from points where node = ? order by rowid", [node_id]
        )
        return [(r["step"], r["loss"]) for r in rows]

    def point_rows(self, node_id: str) -> list[tuple[int, float, float, float]]:
        """A node's loss points as stored: (step, loss, elapsed s, progress %)."""
        rows = self.db.execute(
            "select step, loss, elapsed, progress from points where node = ? order by rowid",
            [node_id],
        ).fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def add_event(self, kind: str, node: str = "", **data: Any) -> None:
        self.db.table("events").insert(
            {"ts": time.time(), "kind": kind, "node": node, "data": json.dumps(data)}
        )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        where, args = ("where kind = ?", [kind]) if kind else ("", [])
        rows = self.db.query(f"select * from events {where} order by id", args)
        return [{**r, "data": json.loads(r["data"] or "{}")} for r in rows]

    def lessons_note(self) -> LessonsNote | None:
        """The current lessons note: the newest `lessons` event (search/lessons.py)."""
        rows = list(
            self.db.query("select data from events where kind = 'lessons' order by id desc limit 1")
        )
        if not rows:
            return None
        data = json.loads(rows[0]["data"] or "{}")
        return LessonsNote(
            text=str(data.get("text", "")),
            persona=str(data.get("persona", "")),
            at=int(data.get("at", 0)),
            edited=data.get("source") == "user",
        )

    def add_calls(self, node_id: str, calls: Iterable[CallRecord]) -> None:
        rows = [_safe({"ts": time.time(), "node": node_id, **asdict(c)}) for c in calls]
        if rows:
            self.db.table("calls").insert_all(rows, alter=True)

    def call_totals(self) -> dict[str, dict[str, float]]:
        """Per persona: calls, tokens, cost; key "" is the run total."""
        rows = list(
            self.db.query(
                "select persona, count(*) as calls, sum(input_tokens) as input_tokens, "
                "sum(output_tokens) as output_tokens, sum(cached_tokens) as cached_tokens, "
                "sum(cache_write_tokens) as cache_write_tokens, sum(cost_usd) as cost_usd, "
                "sum(error != '') as errors, sum(priced = 0) as unpriced "
                "from calls group by persona order by persona"
            )
        )
        totals: dict[str, dict[str, float]] = {r.pop("persona"): r for r in rows}
        keys = (
            "calls", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens",
            "cost_usd", "errors", "unpriced",
        )  # fmt: skip
        totals[""] = {k: sum(r[k] or 0 for r in rows) for k in keys}
        return totals

    def agent_usd(self) -> dict[tuple[str, str], float]:
        """(persona, backend) -> the dollars of its agent calls."""
        rows = self.db.query(
            "select persona, backend, sum(cost_usd) as usd from calls group by persona, backend"
        )
        return {(r["persona"], r["backend"]): r["usd"] or 0.0 for r in rows}

    def close(self) -> None:
        self.db.conn.close()
