"""What the tree's node keys do to the search: p (prune), b (boost), r (re-run), e and E
(export). Plain functions of the search (and, for export, the run's reader); each returns
what to tell the person, which the main screen shows. Whether the person may act at all
(a watched or stopped search) is the app's call (`ResearchApp.need_search`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass

from textual.notifications import SeverityLevel

from autoresearch_tui.app.run_reader import RunReader
from autoresearch_tui.search.counts import CAP_EVENT
from autoresearch_tui.search.early_stopping import run_to_end
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler


@dataclass(frozen=True)
class Reply:
    """What to tell the person once an action is done (a toast)."""

    text: str
    severity: SeverityLevel = "information"
    title: str = ""
    timeout: float | None = None  # None: Textual's default


async def toggle_prune(search: Scheduler, node: Node) -> Reply:
    """Prune the node's subtree (its running experiments stop), or unprune it."""
    if node.kind == "root":
        return Reply("the base cannot be pruned — space pauses the search", "warning")
    await search.prune(node.id, not node.pruned)
    return Reply(f"{'unpruned' if node.pruned else 'pruned'} {node.id} and its subtree")


async def toggle_boost(search: Scheduler, node: Node, boost: float) -> Reply:
    """Boost the node (the policy expands it more), or back to 1."""
    new = 1.0 if node.boost != 1.0 else boost
    await search.set_boost(node.id, new)
    return Reply(f"{node.id} boost {new:g}" + (" (unboosted)" if new == 1.0 else ""))


async def rerun(search: Scheduler, node: Node) -> Reply:
    """Queue a re-run of the node with another seed (it confirms or refutes its gain);
    a node stopped early runs again instead, to the end, never stopped early."""
    try:
        if node.status == "stopped":  # search/early_stopping.py
            await run_to_end(search.parts().ctx, node.id)
            text = f"{node.id} runs again, to the end: never stopped early"
        else:
            new = await search.rerun(node.id)
            text = f"queued {new.id}: a re-run of {node.id} (seed {new.seed})"
    except ValueError as exc:
        return Reply(str(exc), "warning")
    spent = search.max_experiments is not None and search.started >= search.max_experiments
    note = " — it waits: the experiment budget is spent" if spent else ""
    return Reply(text + note)


async def go_on(search: Scheduler, more: int) -> Reply:
    """Raise the search's cap to `more` experiments beyond those in the tree, saved as
    `run --more` saves it (search/counts.py), and go on (a pause ends)."""
    search.max_experiments = search.started + more
    await search.record(CAP_EVENT, total=search.max_experiments, more=more)
    if search.paused:
        await search.set_paused(False)
    search.wake()
    return Reply(f"going on: {more} more experiments, {search.max_experiments} in all")


async def export(search: Scheduler, reader: RunReader, node: Node, *, record: bool) -> Reply:
    """Write the node's patch against the base to .autoresearch/exports/<node>.patch; with
    `record`, log an "export" event (a watcher, or a stopped search, writes nothing)."""
    if node.kind == "root" or not node.commit:
        return Reply(f"{node.id} has no change to export ({node.kind}/{node.status})", "warning")
    path = search.config.state_dir / "exports" / f"{node.id}.patch"
    editable = search.config.target.editable
    try:
        await reader.write_patch(search.base_commit, node.commit, editable, path)
    except Exception as exc:
        return Reply(f"export failed: {exc}", "error")
    if record:
        with contextlib.suppress(sqlite3.Error):  # a failing store says so itself
            await search.record("export", node.id, path=str(path))
    return Reply(f"exported {node.id} → {path}\napply with: git apply {path}", "information",
                 "export", 12)  # fmt: skip
