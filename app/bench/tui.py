"""TUI benchmark: key-press latency and the cost of a new node with a 5,000-node tree.

    python -m autoresearch_tui.app.bench.tui [--nodes 5000] [--keys 200] [--adds 200]
                                             [--no-baseline] [--json]

Builds a synthetic in-memory tree (best-first shaped: most children hang off recent,
good nodes; some crashed, pruned, boosted, running), feeds it to the real app through
the scheduler's listener (`SearchBridge`) with no search behind it, and drives the app
with `App.run_test` + `Pilot` at 120x35. Each figure is the CPU time the process spent
from sending the key (or the scheduler's event) until the app is idle and the screen
update is rendered: the latency on an otherwise idle machine (the app is one asyncio
loop), without Pilot's own idle-detection sleeps (>= 20 ms per wait), which wall-clock
timing would add and which a loaded machine would stretch. The baseline adds one node
to Textual's own `Tree` with the same nodes expanded, measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from typing import Any

from autoresearch_tui.search.events import NodeChanged
from autoresearch_tui.search.model import ROOT_ID, Node, NodeStatus, node_id

PERSONAS = ("architect", "optimizer", "simplifier", "explorer", "debugger")


def synthetic_nodes(count: int, seed: int = 0) -> list[Node]:
    """A search-shaped tree of `count` nodes with realistic statuses and metrics."""
    rng = random.Random(seed)
    base = 1.0
    nodes = [
        Node(id=ROOT_ID, parent=None, status="done", kind="root", persona="base",
             description="base commit", commit="0" * 40, metric=base, started_at=0.0,
             finished_at=300.0)
    ]  # fmt: skip
    good: list[Node] = [nodes[0]]
    for i in range(1, count):
        parent = rng.choice(good[-30:]) if rng.random() < 0.85 else rng.choice(nodes)
        roll = rng.random()
        status: NodeStatus = "done" if roll < 0.8 else "crashed" if roll < 0.9 else "timeout"
        metric = None
        if status == "done":
            metric = (parent.metric or base) + rng.gauss(0.002, 0.01)
        node = Node(
            id=node_id(i), parent=parent.id, status=status, persona=rng.choice(PERSONAS),
            backend="mutator", description=f"change {i}", commit=f"{i:040x}", metric=metric,
            reason="" if status == "done" else "synthetic", pruned=rng.random() < 0.01,
            boost=3.0 if rng.random() < 0.01 else 1.0, created_at=float(i),
            started_at=float(i), finished_at=float(i) + 300.0,
        )  # fmt: skip
        nodes.append(node)
        if metric is not None and metric < (parent.metric or base) + 0.004:
            good.append(node)
    return nodes


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _summary(samples_s: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(_pct(ms, 0.95), 2),
        "max_ms": round(max(ms), 2),
        "n": len(ms),
    }


async def bench_app(nodes_count: int, keys: int, adds: int, seed: int = 0) -> dict[str, Any]:
    from autoresearch_tui.app.tui import ResearchApp

    nodes = synthetic_nodes(nodes_count + adds + 100, seed)
    first, rest = nodes[:nodes_count], nodes[nodes_count:]
    app = ResearchApp(None, clock=lambda: 1000.0)
    out: dict[str, Any] = {"nodes": nodes_count}
    async with app.run_test(size=(120, 35)) as pilot:
        clock = time.process_time
        start = clock()
        for node in first:
            app.bridge(NodeChanged(node))
        await pilot.pause()
        out["initial_load_ms"] = round((clock() - start) * 1000, 1)
        out["rows"] = len(app.model.rows)

        # what Pilot itself costs: a key nothing is bound to (routing + idle waits)
        samples: list[float] = []
        for _ in range(40):
            start = clock()
            await pilot.press("f12")
            await pilot.pause()
            samples.append(clock() - start)
        out["unbound_key"] = _summary(samples)

        # keys: down through the tree, then up, jump to best, page down
        await pilot.press("j")
        samples = []
        plan = ["j"] * (keys // 2) + ["k"] * (keys // 4) + ["g", "pagedown", "end", "home"]
        plan += ["j"] * max(0, keys - len(plan))
        for key in plan:
            start = clock()
            await pilot.press(key)
            await pilot.pause()
            samples.append(clock() - start)
        out["key_press"] = _summary(samples)

        # one new node per event (the scheduler's pace), cursor kept mid-tree
        await pilot.press("home", *["j"] * 15)
        samples = []
        for node in rest[:adds]:
            start = clock()
            app.bridge(NodeChanged(node))
            await pilot.pause()
            samples.append(clock() - start)
        out["add_one_node"] = _summary(samples)

        # a status change of a visible node (running -> done)
        samples = []
        for node in rest[adds : adds + 50]:
            app.bridge(NodeChanged(Node(**{**node.__dict__, "status": "running", "slot": "gpu0",
                                           "metric": None})))  # fmt: skip
            await pilot.pause()
            start = clock()
            app.bridge(NodeChanged(node))
            await pilot.pause()
            samples.append(clock() - start)
        out["finish_one_node"] = _summary(samples)

        # a burst of 100 nodes arriving in one tick (e.g. the resume of a run)
        burst = nodes[nodes_count + adds + 50 :][:50]
        start = clock()
        for node in burst:
            app.bridge(NodeChanged(node))
        await pilot.pause()
        out["batch_of_50_ms"] = round((clock() - start) * 1000, 1)
        out["cursor_kept"] = app.tree_view.cursor_id
    return out


async def bench_textual_tree(nodes_count: int, adds: int = 20) -> dict[str, Any]:
    """The baseline: Textual's Tree, every node expanded, one add per refresh."""
    from textual.app import App, ComposeResult
    from textual.widgets import Tree

    nodes = synthetic_nodes(nodes_count + adds)

    class TreeApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Tree("n0000", id="tree")

    app = TreeApp()
    async with app.run_test(size=(120, 35)) as pilot:
        tree = app.query_one(Tree)
        handles = {ROOT_ID: tree.root}
        tree.root.expand()
        for node in nodes[1:nodes_count]:
            handle = handles[node.parent or ROOT_ID].add(
                f"{node.id} {node.persona} {node.metric or 0:.4f}", expand=True
            )
            handles[node.id] = handle
        await pilot.pause()
        samples = []
        for node in nodes[nodes_count:]:
            start = time.process_time()
            parent = handles[node.parent or ROOT_ID]
            handles[node.id] = parent.add(f"{node.id} {node.persona}", expand=True)
            await pilot.pause()
            samples.append(time.process_time() - start)
    return {"nodes": nodes_count, "add_one_node": _summary(samples)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoresearch_tui.app.bench.tui")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--adds", type=int, default=200)
    parser.add_argument("--no-baseline", action="store_true", help="skip Textual's Tree")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"app": asyncio.run(bench_app(args.nodes, args.keys, args.adds))}
    if not args.no_baseline:
        result["textual_tree"] = asyncio.run(bench_textual_tree(args.nodes))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    app = result["app"]
    print(
        f"autoresearch-tui TUI benchmark — {app['nodes']} nodes, 120x35, Python {sys.version.split()[0]}"
    )
    print(f"  initial load ({app['rows']} rows):      {app['initial_load_ms']:8.1f} ms")
    for key, label in (
        ("unbound_key", "Pilot overhead (unbound key)"),
        ("key_press", "key press (j/k/g/PgDn/End)"),
        ("add_one_node", "new node, one per event"),
        ("finish_one_node", "node running -> done"),
    ):
        s = app[key]
        print(
            f"  {label:<33} p50 {s['p50_ms']:6.2f} ms  p95 {s['p95_ms']:6.2f} ms  max {s['max_ms']:6.2f} ms  (n={s['n']})"
        )
    print(f"  batch of 50 new nodes in one tick:  {app['batch_of_50_ms']:8.1f} ms")
    print("  (CPU ms from the key or event to the rendered screen update; the key press includes")
    print("   the node pane, and the loss chart redrawn once the cursor rests 60 ms)")
    if "textual_tree" in result:
        s = result["textual_tree"]["add_one_node"]
        print(
            f"  baseline: textual Tree, add one node  p50 {s['p50_ms']:6.2f} ms  p95 {s['p95_ms']:6.2f} ms  (n={s['n']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
