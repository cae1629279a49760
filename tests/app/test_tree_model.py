"""The TUI's tree model (no Textual): incremental rows, best node, prunes, filter, folds."""

from __future__ import annotations

import copy
import random
from typing import Any

from autoresearch_tui.app.bench.tui import synthetic_nodes
from autoresearch_tui.app.widgets.tree_model import TreeModel
from autoresearch_tui.search.model import Node, node_index
from autoresearch_tui.search.tree import Tree


def dfs(model: TreeModel) -> list[str]:
    """The rows a full rebuild gives: depth first, children in id order."""
    out: list[str] = []

    def visit(nid: str) -> None:
        out.append(nid)
        if nid not in model.collapsed:
            for kid in sorted(model.children(nid), key=node_index):
                visit(kid)

    for root in model.roots():
        visit(root)
    return out


def node(nid: str, parent: str | None, metric: float | None = None, **kw: Any) -> Node:
    status = kw.pop("status", "done" if metric is not None else "ready")
    return Node(
        id=nid,
        parent=parent,
        status=status,
        metric=metric,
        persona=kw.pop("persona", "explorer"),
        **kw,
    )


def test_incremental_rows_match_a_rebuild_in_any_arrival_order() -> None:
    nodes = synthetic_nodes(400, seed=3)
    rng = random.Random(1)
    model = TreeModel("min")
    model.update(nodes[:50])
    rest = nodes[50:]
    # nodes arrive in small batches, ids slightly out of order within a batch
    while rest:
        batch, rest = rest[:7], rest[7:]
        rng.shuffle(batch)
        changes = model.update(batch)
        assert changes.rows_changed and changes.first_row is not None
        assert model.rows == dfs(model)
    assert len(model.rows) == 400
    assert all(model.row_of(nid) == i for i, nid in enumerate(model.rows))


def test_best_matches_tree_best_through_prunes_reruns_and_changes() -> None:
    rng = random.Random(7)
    nodes = synthetic_nodes(300, seed=7)
    model = TreeModel("min")
    model.update(nodes)
    reference = Tree("min", [copy.copy(n) for n in nodes])
    assert model.best_id == (reference.best().id if reference.best() else None)
    for step in range(60):
        target = copy.copy(reference[rng.choice(nodes[1:]).id])
        action = step % 3
        if action == 0:
            target.pruned = not target.pruned
        elif action == 1 and target.has_metric:
            target.metric = (target.metric or 1.0) - rng.uniform(-0.05, 0.05)
        else:  # a re-run sample of the target
            rerun = node(
                f"n{1000 + step:04d}", target.id, (target.metric or 1.0) + 0.01, kind="rerun"
            )
            reference.add(copy.copy(rerun))
            model.update([rerun])
            continue
        reference.add(copy.copy(target))
        model.update([target])
        best = reference.best()
        assert model.best_id == (best.id if best else None), step
        assert model.pruned_eff == {n.id for n in reference if reference.is_pruned(n.id)}


def test_prune_propagates_to_new_children() -> None:
    model = TreeModel("min")
    model.update([node("n0000", None, 1.0, kind="root"), node("n0001", "n0000", 0.9)])
    assert model.best_id == "n0001"
    model.update([node("n0001", "n0000", 0.9, pruned=True)])
    assert model.best_id == "n0000" and "n0001" in model.pruned_eff
    model.update([node("n0002", "n0001", 0.5)])
    assert "n0002" in model.pruned_eff and model.best_id == "n0000"
    model.update([node("n0001", "n0000", 0.9, pruned=False)])
    assert model.pruned_eff == set() and model.best_id == "n0002"


def test_collapse_expand_and_reveal() -> None:
    model = TreeModel("min")
    model.update(
        [node("n0000", None, 1.0, kind="root"), node("n0001", "n0000", 0.9),
         node("n0002", "n0001", 0.8), node("n0003", "n0000", 0.95)]
    )  # fmt: skip
    assert model.rows == ["n0000", "n0001", "n0002", "n0003"]
    assert model.toggle("n0001", expand=False)
    assert model.rows == ["n0000", "n0001", "n0003"] and model.hidden_below("n0001") == 1
    changes = model.update([node("n0004", "n0002", 0.7)])  # under a collapsed node: no row
    assert not changes.rows_changed and model.row_of("n0004") is None
    model.reveal("n0004")
    assert model.rows == ["n0000", "n0001", "n0002", "n0004", "n0003"]


def test_filter_by_persona_status_and_flags() -> None:
    model = TreeModel("min")
    model.update(
        [node("n0000", None, 1.0, kind="root", persona="base"),
         node("n0001", "n0000", 0.9, persona="architect"),
         node("n0002", "n0001", None, status="crashed", persona="explorer"),
         node("n0003", "n0000", 0.95, persona="explorer", boost=3.0)]
    )  # fmt: skip
    model.set_filter("crashed")
    assert model.rows == ["n0000", "n0001", "n0002"]
    assert [model.is_match(n) for n in model.rows] == [False, False, True]
    model.set_filter("arch")  # a prefix is enough
    assert model.rows == ["n0000", "n0001"]
    model.set_filter("boosted, crashed")
    assert model.rows == ["n0000", "n0001", "n0002", "n0003"]
    model.update([node("n0004", "n0003", None, status="crashed", persona="optimizer")])
    assert "n0004" in model.rows  # new matches show up while filtered
    model.set_filter("")
    assert model.rows == dfs(model) and len(model.rows) == 5


def test_counts_and_running_slots() -> None:
    model = TreeModel("min")
    model.update(
        [
            node("n0000", None, 1.0, kind="root"),
            node("n0001", "n0000", status="running", slot="gpu1"),
        ]
    )
    assert model.running() == {"gpu1": "n0001"} and model.finished_count == 0
    changes = model.update([node("n0001", "n0000", 0.9)])
    assert changes.finished == ["n0001"] and model.running() == {} and model.finished_count == 1
