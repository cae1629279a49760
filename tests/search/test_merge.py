"""Merge nodes: the three-way merge, the candidate rule, and the scheduler end to end
(two parents in the tree and the store, status, export of the diff and of the series)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
from pathlib import Path

from synthetic import ScriptedProposer, git, true_metric, until

from autoresearch_tui.app.cli import main as cli
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.merge import merge3, merge_candidate, merge_files
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.snapshot import export_patch, load_snapshot
from autoresearch_tui.search.tree import Tree

BASE = "A = 1\nB = 2\nC = 3\nD = 4\n"


def test_merge3_keeps_both_sides_of_disjoint_and_adjacent_edits() -> None:
    ours, theirs = BASE.replace("A = 1", "A = 10"), BASE.replace("B = 2", "B = 20")
    assert merge3(BASE, ours, theirs) == "A = 10\nB = 20\nC = 3\nD = 4\n"
    theirs = BASE.replace("D = 4", "D = 40") + "E = 5\n"
    assert merge3(BASE, ours, theirs) == "A = 10\nB = 2\nC = 3\nD = 40\nE = 5\n"
    # the same change on both sides is taken once
    assert merge3(BASE, ours, ours) == ours
    assert merge3(BASE, BASE, theirs) == theirs


def test_merge3_conflicts_on_the_same_lines() -> None:
    assert merge3(BASE, BASE.replace("A = 1", "A = 10"), BASE.replace("A = 1", "A = 11")) is None
    assert merge3(BASE, "X = 0\n" + BASE, "Y = 0\n" + BASE) is None  # two inserts, one place
    merged, conflicts = merge_files(
        {"t.py": BASE, "u.py": "x\n"},
        {"t.py": BASE.replace("C = 3", "C = 0"), "u.py": "x\n"},
        {"t.py": BASE.replace("C = 3", "C = 9"), "u.py": "y\n"},
    )
    assert merged is None and conflicts == ["t.py"]


def test_merge_candidate_pairs_the_best_with_an_improving_branch() -> None:
    def n(nid: str, parent: str | None, metric: float, kind: str = "improve") -> Node:
        return Node(nid, parent, status="done", kind=kind, metric=metric, commit=nid * 2)

    tree = Tree(
        "min",
        [
            n("n0000", None, 1.0, "root"),
            n("n0001", "n0000", 0.9),  # branch A: improving
            n("n0002", "n0001", 0.8),  # the best, below A
            n("n0003", "n0000", 0.95),  # branch B: improving, on another branch
            n("n0004", "n0000", 1.1),  # worse
            n("n0005", "n0000", 0.97),  # improving, but less than B
        ],
    )
    plan = merge_candidate(tree, set())
    assert plan is not None and (plan.ours, plan.theirs) == ("n0002", "n0003")
    # an ancestor of the best (n0001) is never a candidate; tried pairs are skipped
    plan = merge_candidate(tree, {frozenset(("n0002", "n0003"))})
    assert plan is not None and plan.theirs == "n0005"
    assert merge_candidate(tree, {frozenset(("n0002", x)) for x in ("n0003", "n0005")}) is None


def run_merge_search(ws: Path, script: list) -> Scheduler:
    config = load_config(ws, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0)
    )
    s = Scheduler(config, [ScriptedProposer(script)], slots=[Slot("cpu0", threads=1)],
                  max_experiments=len(script) + 1)  # fmt: skip
    asyncio.run(s.run())
    return s


def run_until_a_merge_was_tried(s: Scheduler) -> None:
    """Run until a merge was tried and settled, then stop (the script is spent by then)."""

    async def until_the_merge_was_tried() -> None:
        task = asyncio.create_task(s.run())
        await until(lambda: s.merges_tried and not s.merging, "a merge to be tried", 60)
        s.stop()
        await task

    asyncio.run(asyncio.wait_for(until_the_merge_was_tried(), 60))


def test_disjoint_improving_branches_are_merged_and_exported(workspace: Path, capsys) -> None:
    s = run_merge_search(
        workspace, [[("LR = 0.04", "LR = 0.08")], [('ACT = "relu"', 'ACT = "gelu"')]]
    )
    merges = [n for n in s.tree if n.kind == "merge"]
    assert len(merges) == 1
    merge = merges[0]
    lr, act = (next(n for n in s.tree if n.description.startswith(p)) for p in ("LR", "ACT"))
    assert merge.parent == lr.id and merge.other_parents == [act.id]  # the best first
    assert set(s.tree.graph.predecessors(merge.id)) == {lr.id, act.id}
    # both edits applied: the merged train.py measures what the formula says
    assert merge.status == "done"
    assert abs(merge.metric - true_metric(0.08, 8, 0.1, False, "gelu")) < 1e-6  # type: ignore[operator]
    assert s.tree.best().id == merge.id  # type: ignore[union-attr]
    repo_parents = git(workspace, "rev-list", "--parents", "-n", "1", merge.commit).split()[1:]
    assert repo_parents == [lr.commit, act.commit]  # a real merge commit
    # the store keeps both parents; status shows them
    snap = load_snapshot(load_config(workspace, check_clean=False))
    assert snap.tree[merge.id].other_parents == [act.id]
    assert cli(["status", str(workspace), "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["nodes"]}
    assert rows[merge.id]["parents"] == [lr.id, act.id] and rows[merge.id]["kind"] == "merge"
    assert cli(["status", str(workspace)]) == 0
    assert f"merge of {lr.id} + {act.id}" in capsys.readouterr().out
    # export: the diff vs base carries both edits and applies to the base
    patch = export_patch(snap, snap.tree[merge.id])
    assert "+LR = 0.08" in patch and '+ACT = "gelu"' in patch
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=workspace, input=patch,
                           text=True, capture_output=True)  # fmt: skip
    assert check.returncode == 0, check.stderr
    # the series: first-parent lineage with the merge as one commit; `git am` rebuilds it
    series = export_patch(snap, snap.tree[merge.id], series=True)
    assert series.count("\nSubject: ") == 2 and "merge " in series
    wt = workspace.parent / "am"
    git(workspace, "worktree", "add", "-q", "--detach", str(wt), snap.base)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "am", "-q"], cwd=wt,
                   input=series, text=True, check=True)  # fmt: skip
    assert (wt / "train.py").read_text() == git(workspace, "show", f"{merge.commit}:train.py")


def test_a_conflicting_pair_makes_no_merge_node(workspace: Path) -> None:
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0)
    )
    script = [[("LR = 0.04", "LR = 0.08")], [("LR = 0.04", "LR = 0.06")]]
    s = Scheduler(config, [ScriptedProposer(script)], slots=[Slot("cpu0", threads=1)],
                  max_experiments=3)  # fmt: skip
    run_until_a_merge_was_tried(s)
    assert not [n for n in s.tree if n.kind == "merge"]
    store_nodes = load_snapshot(load_config(workspace, check_clean=False)).tree
    assert not [n for n in store_nodes if n.kind == "merge"]
    from autoresearch_tui.search.store import Store

    events = Store(state_db_path(workspace), readonly=True).events("merge-skipped")
    assert events and "conflict in train.py" in events[0]["data"]["reason"]


def test_a_merge_that_would_only_change_a_seed_is_skipped(workspace: Path) -> None:
    """The other branch's gain (LR) is already in the best; what is left is its seed."""
    train = (workspace / "train.py").read_text().replace('ACT = "relu"', 'ACT = "relu"\nSEED = 1')
    (workspace / "train.py").write_text(train)
    git(workspace, "commit", "-qam", "a seed")
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config, search=dataclasses.replace(config.search, base_runs=1, confirm_runs=0)
    )
    script = [
        [("LR = 0.04", "LR = 0.08"), ('ACT = "relu"', 'ACT = "gelu"')],
        [("LR = 0.04", "LR = 0.08"), ("SEED = 1", "SEED = 2")],
    ]
    s = Scheduler(config, [ScriptedProposer(script)], slots=[Slot("cpu0", threads=1)],
                  max_experiments=3)  # fmt: skip
    run_until_a_merge_was_tried(s)
    assert not [n for n in s.tree if n.kind == "merge"]
    from autoresearch_tui.search.store import Store

    events = Store(state_db_path(workspace), readonly=True).events("merge-skipped")
    assert [e["data"]["reason"] for e in events] == ["nothing new but a seed"]
