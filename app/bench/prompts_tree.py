"""The tree `bench prompts` measures (app/bench/prompts.py): a workspace of the built-in
target (`init`: its train.py, program.md and briefs) and a run opened as the scheduler
opens it, whose tree is grown by the real best-first policy. Each child is the mutator's
change to its parent (agents/mutator.py: its choice of constants and values, applied to
the file's text) with a model-like description, committed on its own branch (one
`git fast-import` for all, the parent's tree with train.py replaced); its result is a
synthetic landscape's value plus noise, its log and loss points shaped like the built-in
trainer's. About one child in ten crashes or times out (a debugger fixes some), the
base has its calibration runs and half the improving children a confirmation re-run.
"""

from __future__ import annotations

import io
import random
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from autoresearch_tui.agents.mutator import (
    MAX_TRIES,
    Constant,
    Value,
    apply_changes,
    describe,
    find_constants,
    mutate_value,
)
from autoresearch_tui.agents.proposer import ProposalFailed
from autoresearch_tui.search.config import Config, load_config
from autoresearch_tui.search.model import BROKEN, ROOT_ID, Node, NodeKind, NodeStatus, node_id
from autoresearch_tui.search.opening import OpenRun, open_run
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.trainer.workspace import init_workspace

PERSONAS = ("architect", "optimizer", "explorer", "simplifier")
BASE_BPB, NOISE_SD = 3.40, 0.02  # the metric's scale and run-to-run noise on the cpu preset
CRASHES: tuple[tuple[NodeStatus, str], ...] = (
    ("crashed", "exit code 1: RuntimeError: shape mismatch in attention (window pattern)"),
    ("crashed", "exit code 1: FAIL (loss diverged: nan)"),
    ("crashed", "exit code 137: killed (out of memory)"),
    ("timeout", "no metric after 2:00 (timeout_s)"),
)
PURPOSES = (
    "to use more of the short time budget",
    "so the model learns faster in the first steps",
    "for more capacity at the same cost",
    "to reduce overfitting on the small data set",
    "to stabilise the early loss",
    "since the schedule never completes in a run this short",
    "to trade width for depth",
    "as the loss curve is still falling at the end",
)


def prose(description: str, rng: random.Random) -> str:
    """A model-like description of a mutator's change ('MATRIX_LR 0.04 -> 0.06')."""
    moves = []
    for part in description.split("; "):
        name, _, rest = part.partition(" ")
        old, _, new = rest.partition(" -> ")
        try:
            verb = "raise" if float(new) > float(old) else "lower"
        except ValueError:
            verb = "change"
        moves.append(f"{verb} {name}")
    text = " and ".join(moves)
    return f"{text[0].upper()}{text[1:]} {rng.choice(PURPOSES)}"


def true_value(constants: dict[str, str], base: dict[str, str]) -> float:
    """The synthetic landscape: each (constant, value) away from the base moves the metric
    by a fixed, hashed amount (mostly worse, some better)."""
    value = BASE_BPB
    for name, text in constants.items():
        if base.get(name) != text:
            value += random.Random(f"{name}={text}").uniform(-0.06, 0.09)
    return value


def trainer_log(node: Node, rng: random.Random, steps: int, crash: str = "") -> str:
    """What the built-in train.py prints (summary keys as search/run_figures.py reads)."""
    head = [
        f"Device: cpu | threads: 1 | seed: {node.seed}",
        "Model config: {'sequence_len': 256, 'vocab_size': 257, 'n_layer': 4, "
        "'n_head': 4, 'n_embd': 128, 'window_pattern': 'SSSL'}",
        "Parameters: 1,104,513 | FLOPs per token: 6.627e+06",
        "Time budget: 60s | tokens per step: 2,048 | grad accum steps: 1",
    ]
    loss, lines = 5.6, []
    for step in range(steps if not crash else steps // 3):
        loss -= (loss - 3.3) * 0.08 + rng.uniform(-0.02, 0.02)
        lines.append(
            f"step {step:05d} ({100 * step / steps:.1f}%) | loss: {loss:.6f} | lrm: 1.00 | "
            f"dt: 1500ms | tok/sec: {1365 + rng.randrange(-40, 40):,} | mfu: 0.0% | "
            f"epoch: 0 | remaining: {60 - 1.5 * step:.0f}s"
        )
    if crash:
        tail = ["Traceback (most recent call last):", '  File "train.py", line 596, in <module>']
        return "\n".join([*head, *lines, *tail, crash.split(": ", 1)[-1]]) + "\n"
    summary = [
        "---",
        f"val_bpb:          {node.metric:.6f}",
        "training_seconds: 60.2",
        "total_seconds:    71.9",
        "peak_vram_mb:     0.0",
        "mfu_percent:      0.00",
        f"total_tokens_M:   {steps * 2048 / 1e6:.1f}",
        f"num_steps:        {steps}",
    ]
    return "\n".join([*head, *lines, *summary]) + "\n"


@dataclass
class Workspace:
    config: Config
    run: OpenRun
    tree: Tree
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> editable files
    constants: dict[str, list[Constant]] = field(default_factory=dict)  # node -> the mutator's
    base: dict[str, str] = field(default_factory=dict)  # the base's constants


def _values(ws: Workspace, node: Node) -> dict[str, str]:
    own = node.parent if node.kind == "rerun" and node.parent else node.id
    return {c.name: repr(c.value) for c in ws.constants[own]}


def finish(
    ws: Workspace, node: Node, rng: random.Random, crash: tuple[NodeStatus, str] | None
) -> None:
    """Give a node its run: status, metric (the landscape plus noise), log and points."""
    node.started_at = (node.created_at or time.time()) + 30
    node.finished_at = node.started_at + 72 + rng.random() * 4
    steps = 38 + rng.randrange(4)
    if crash is not None:
        node.status, node.reason = crash
        text = trainer_log(node, rng, steps, crash[1])
    else:
        node.status = "done"
        node.metric = true_value(_values(ws, node), ws.base) + rng.gauss(0, NOISE_SD)
        text = trainer_log(node, rng, steps)
        points = [(s, 5.0 - s / steps * 1.4, s * 1.5, s / steps) for s in range(0, steps, 2)]
        ws.run.store.add_points(node.id, points)
    log = ws.config.log_path(node.id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)


def mutate(
    constants: list[Constant], rng: random.Random, tried: set[str]
) -> tuple[str, list[tuple[Constant, Value]]]:
    """The mutator's choice (agents/mutator.py: one constant, sometimes two, its
    mutate_value and describe) from constants already found, so that a child's file
    needs no parse: (its description, the changes)."""
    for _ in range(MAX_TRIES):
        k = 1 if rng.random() < 0.7 else 2
        picked = rng.sample(constants, k)
        changes = [(c, new) for c in picked if (new := mutate_value(c, rng)) not in (None, c.value)]
        if changes and (text := describe(changes)) not in tried:
            return text, changes
    raise ProposalFailed("every change was tried")


def moved(
    constants: list[Constant], changes: list[tuple[Constant, Value]], old: str, new: str
) -> list[Constant]:
    """The constants after `changes` turned source `old` into `new` (apply_changes edits
    a literal in place on its line: the line's tail after it is unchanged)."""
    values = {c.name: v for c, v in changes}
    old_lines, new_lines = old.splitlines(), new.splitlines()
    out = []
    for c in constants:
        if c.name in values:
            v = values[c.name]
            tail = len(old_lines[c.line - 1].encode()) - c.end_col
            end = len(new_lines[c.line - 1].encode()) - tail
            strings = isinstance(v, str) and isinstance(c.value, str)
            choices = tuple(sorted({*c.choices, str(c.value)} - {str(v)})) if strings else ()
            c = replace(c, value=v, end_col=end, choices=choices)
        out.append(c)
    return out


def _child(ws: Workspace, parent: Node, persona: str, kind: NodeKind, rng: random.Random) -> Node:
    """The mutator's change to `parent` (committed later, see `commit_all`), and its node."""
    tree = ws.tree
    tried = {c.description for c in tree.experiments(parent.id)}
    text, changes = mutate(ws.constants[parent.id], rng, tried)
    index = tree.next_index()
    child = Node(
        id=node_id(index), parent=parent.id, status="ready", kind=kind,
        persona=persona, backend="anthropic", model="claude-opus-4-6", description=text,
        created_at=parent.created_at + 90, seed=rng.randrange(10**6),
        branch=ws.run.branch(node_id(index)),
    )  # fmt: skip
    before = ws.files[parent.id]
    ws.files[child.id] = after = {**before, **apply_changes(before, changes)}
    ws.constants[child.id] = moved(
        ws.constants[parent.id], changes, before["train.py"], after["train.py"]
    )
    tree.add(child)
    return child


def commit_all(ws: Workspace) -> None:
    """Every node's commit on its branch, in one `git fast-import` (real commits, as the
    engine's would be: the parent's tree with the editable files replaced)."""
    stream, marks = io.BytesIO(), ws.config.state_dir / "bench-marks"
    order = [n for n in sorted(ws.tree, key=lambda n: n.id) if n.parent and n.kind != "rerun"]
    for i, node in enumerate(order, start=1):
        body = ws.files[node.id]["train.py"].encode()
        message = f"{node.description}\n\npersona: {node.persona}\nparent: {node.parent}\n"
        parent = ws.tree[node.parent or ROOT_ID]
        source = parent.commit or f":{order.index(parent) * 2 + 2}"
        stream.write(b"blob\nmark :%d\ndata %d\n%s\n" % (2 * i - 1, len(body), body))
        stream.write(f"commit refs/heads/{node.branch}\nmark :{2 * i}\n".encode())
        stream.write(
            f"committer {node.persona} <bench@localhost> {int(node.created_at)} +0000\n".encode()
        )
        stream.write(b"data %d\n%s\n" % (len(message.encode()), message.encode()))
        stream.write(f"from {source}\nM 100644 :{2 * i - 1} train.py\n\n".encode())
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=ws.config.root, input=stream.getvalue(), check=True, capture_output=True,
    )  # fmt: skip
    shas = dict(line.split() for line in marks.read_text().splitlines())
    for i, node in enumerate(order, start=1):
        node.commit = shas[f":{2 * i}"]
    for node in ws.tree:
        if node.kind == "rerun" and node.parent:
            node.commit, node.branch = ws.tree[node.parent].commit, ws.tree[node.parent].branch
    marks.unlink()


def _rerun(ws: Workspace, node: Node, rng: random.Random) -> None:
    rerun = replace(
        node, id=node_id(ws.tree.next_index()), parent=node.id, kind="rerun", metric=None,
        description="", seed=rng.randrange(10**6), other_parents=[],
    )  # fmt: skip
    ws.tree.add(rerun)
    finish(ws, rerun, rng, None)


def grow(root: Path, nodes: int, seed: int = 0) -> Workspace:
    """A workspace of the built-in target and a run whose tree has `nodes` measured
    experiments (the base counts; re-runs and calibration runs are samples, not nodes)."""
    rng = random.Random(seed)
    init_workspace(root, preset="cpu", prepare_data=False, log=lambda _: None)
    config = load_config(root)
    run = open_run(config, seed)
    tree = Tree(config.target.goal, run.nodes, required_samples=1 + config.search.confirm_runs)
    ws = Workspace(config, run, tree)
    base = tree[ROOT_ID]
    ws.files[ROOT_ID] = run.git.read_files(base.commit, list(config.target.editable))
    ws.constants[ROOT_ID] = [
        c for c in find_constants("train.py", ws.files[ROOT_ID]["train.py"])
        if c.name.isupper() and "seed" not in c.name.lower()
    ]  # fmt: skip
    ws.base = _values(ws, base)
    base.created_at = time.time() - nodes * 120
    finish(ws, base, rng, None)
    for _ in range(config.search.base_runs - 1):  # the calibration runs
        _rerun(ws, base, rng)
    policy, measured = make_policy("best-first"), 1
    while measured < nodes:
        parent = tree[policy.choose(tree, can_debug=True, max_debug_depth=2) or ROOT_ID]
        kind: NodeKind = "debug" if parent.status in BROKEN else "improve"
        persona = "debugger" if kind == "debug" else PERSONAS[measured % len(PERSONAS)]
        try:
            child = _child(ws, parent, persona, kind, rng)
        except ProposalFailed:
            parent.pruned = True  # nothing left to try there
            tree.touch()
            continue
        child.description = prose(child.description, rng)
        finish(ws, child, rng, rng.choice(CRASHES) if rng.random() < 0.1 else None)
        measured += 1
        gain = tree.gain(child.id)
        if gain is not None and gain > 0 and rng.random() < 0.5:  # a confirmation re-run
            _rerun(ws, child, rng)
    commit_all(ws)
    with run.store.db.conn:
        for node in tree:
            run.store.save_node(node)
    return ws
