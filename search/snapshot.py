"""Read a workspace's run without running it: the tree, the best node, totals, export.

Used by `status`, `export` and the report; opens state.db read-only, so it works while
a search is running in another process.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from autoresearch_tui.agents.request import LessonsNote
from autoresearch_tui.search.config import Config
from autoresearch_tui.search.counts import Counts, saved_cap
from autoresearch_tui.search.early_stopping import early_stops
from autoresearch_tui.search.gitops import GitWorkspace
from autoresearch_tui.search.model import FINISHED, Node
from autoresearch_tui.search.runlock import runner_pid
from autoresearch_tui.search.store import Store, StoreFailed
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.values import node_value


class NoRunError(LookupError):
    """The workspace has no search state yet."""


@dataclass
class Snapshot:
    config: Config
    run: str
    base: str
    tree: Tree
    calls: dict[str, dict[str, float]]
    runner_pid: int = 0  # the process running this search now; 0: none
    lessons: LessonsNote | None = None  # the current lessons note (search/lessons.py)
    sandbox: str = ""  # how the runs are contained, as the runner said (search/sandbox.py)
    cap: int | None = None  # the search's experiment cap, as last saved (search/counts.py)

    @property
    def best(self) -> Node | None:
        return self.tree.best()

    def node_dict(self, node: Node, spread: float | None = -1.0) -> dict[str, Any]:
        """One node for `status --json`; pass `spread` (tree.noise_spread()) for many."""
        gain = self.tree.gain_state(node.id, spread)
        return {
            "id": node.id,
            "parent": node.parent,
            "parents": ([node.parent] if node.parent else []) + node.other_parents,
            "status": node.status,
            "kind": node.kind,
            "metric": node.metric,
            "delta_parent": self.tree.delta_parent(node),
            "delta_base": self.tree.delta_base(node),
            "persona": node.persona,
            "backend": node.backend,
            "model": node.model,
            "description": node.description,
            "reason": node.reason,
            "pruned": node.pruned,
            "boost": node.boost,
            "branch": node.branch,
            "commit": node.commit,
            "seconds": node.run_seconds,
            "metric_mean": self.tree.metric_mean(node.id),
            "samples": self.tree.samples(node.id) if node.kind != "rerun" else [],
            "gain": gain,
            "confirmed": gain in ("base", "confirmed"),
            "seed_only": node.seed_only,
            **node_value(self.tree, node.id, spread).as_json(),  # search/values.py
        }

    def as_json(self) -> dict[str, Any]:
        best = self.best
        nodes = list(self.tree)
        counts = Counts.of(self.tree)
        spread = self.tree.noise_spread()
        confirmed = self.tree.best(confirmed=True)
        root = self.tree.root
        return {
            "workspace": str(self.config.root),
            "run": self.run,
            "metric": self.config.target.metric,
            "goal": self.config.target.goal,
            "base": {
                "commit": self.base,
                "metric": root.metric if root else None,
                "metric_mean": self.tree.metric_mean(root.id) if root else None,
                "samples": self.tree.samples(root.id) if root else [],
            },
            "noise_spread": spread,
            "best": self.node_dict(best, spread) if best else None,
            "confirmed_best": self.node_dict(confirmed, spread) if confirmed else None,
            "experiments": counts.experiments,  # what the cap counts (search/counts.py)
            "counts": counts.as_json(self.cap),
            "early_stops": early_stops(self.tree).as_json(),  # search/early_stopping.py
            "statuses": {
                s: sum(1 for n in nodes if n.status == s) for s in sorted({n.status for n in nodes})
            },
            "calls": self.calls,
            "runner_pid": self.runner_pid or None,
            "personas": persona_stats(self.tree, self.calls, spread),
            "nodes": [self.node_dict(n, spread) for n in nodes],
        }


def persona_stats(
    tree: Tree, calls: dict[str, dict[str, float]], spread: float | None = -1.0
) -> dict[str, dict[str, Any]]:
    """Per persona: proposals, failures, experiments run (`tried`), those that beat their
    parent (`improved`, `confirmed`), its share of all improving children, and its agent
    calls' totals (tokens, cost; `unpriced`: calls of models the price table lacks)."""
    spread = tree.noise_spread() if spread is not None and spread < 0 else spread
    children = [n for n in tree if n.kind not in ("root", "rerun")]
    stats: dict[str, dict[str, Any]] = {}
    for persona in sorted({n.persona for n in children} | (set(calls) - {""})):
        mine = [n for n in children if n.persona == persona]
        tried = [n for n in mine if n.status in FINISHED]
        improved = [n for n in tried if (tree.gain(n.id) or 0.0) > 0]
        stats[persona] = {
            "proposals": len(mine),
            "failed": sum(1 for n in mine if n.status == "failed"),
            "tried": len(tried),
            "improved": len(improved),
            "confirmed": sum(1 for n in improved if tree.gain_state(n.id, spread) == "confirmed"),
            "improve_rate": len(improved) / len(tried) if tried else None,
            "calls": {"calls": 0, "cost_usd": 0.0, **calls.get(persona, {})},
        }
    total = sum(s["improved"] for s in stats.values())
    for s in stats.values():
        s["improved_share"] = s["improved"] / total if total else None
    return stats


def load_snapshot(config: Config) -> Snapshot:
    path = config.db_path
    if not path.exists():
        raise NoRunError(
            f"{config.root}: no search has run here yet — start one with "
            f"`autoresearch-tui run {config.root} --headless`"
        )
    try:
        return _read(config, Store(path, readonly=True))
    except sqlite3.Error as exc:
        raise StoreFailed(
            f"cannot read {path} ({exc}) — if the file is damaged, move .autoresearch aside "
            "(a new run starts from the base)"
        ) from None


def _read(config: Config, store: Store) -> Snapshot:
    try:
        return Snapshot(
            config=config,
            run=store.get_meta("run"),
            base=store.get_meta("base"),
            tree=Tree(
                config.target.goal,
                store.load_nodes(),
                required_samples=1 + config.search.confirm_runs,
            ),
            calls=store.call_totals(),
            runner_pid=0 if config.archive else runner_pid(config.state_dir),
            lessons=store.lessons_note(),
            sandbox=store.get_meta("sandbox"),
            cap=saved_cap(store),
        )
    finally:
        store.close()


def resolve_node(snapshot: Snapshot, which: str) -> Node:
    if which == "best":
        best = snapshot.best
        if best is None:
            raise LookupError("no node has a metric yet — wait for the first experiment to finish")
        return best
    if which not in snapshot.tree:
        raise LookupError(f"no node {which} in this run — `autoresearch-tui status` lists them")
    node = snapshot.tree[which]
    if not node.commit:
        raise LookupError(f"node {which} has no commit ({node.status}: {node.reason})")
    return node


def export_patch(snapshot: Snapshot, node: Node, *, series: bool = False) -> str:
    """`git diff base node -- editable`, or with series the lineage as format-patch mails
    (`git am` applies them on the base). A lineage with merge nodes is exported along
    first parents, each merge as one commit holding what the other branch brought in."""
    git = GitWorkspace(snapshot.config.root, snapshot.config.state_dir)
    if series and any(n.kind == "merge" for n in snapshot.tree.lineage(node.id)):
        return str(
            git.repo.git.log(
                "--format=email", "--patch", "--binary", "--diff-merges=first-parent",
                "--first-parent", "--reverse", f"{snapshot.base}..{node.commit}",
                strip_newline_in_stdout=False,
            )
        )  # fmt: skip
    if series:
        return git.format_patch(snapshot.base, node.commit)
    return git.diff(snapshot.base, node.commit, snapshot.config.target.editable)
