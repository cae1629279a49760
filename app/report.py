"""`autoresearch-tui report DIR`: report.md and progress.png for the morning after.

progress.png is autoresearch's plot for a tree: every finished experiment's metric in
the order it finished (re-runs included, crashes marked at the top edge), the
best-so-far line, the base's run-to-run band, and the confirmed gains labelled with
their descriptions. report.md summarises the run: the best node (confirmed or not),
the lessons note, the confirmed gains in order, the best lineage, the personas' records,
merges, and the commands to export the result; each section is one function below.
Every value, Δ and verdict is search/values.py's, as the TUI and `status` show it. It
reads the store read-only, so it works while a search runs.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autoresearch_tui.agents.format import fmt_delta, fmt_duration, fmt_metric
from autoresearch_tui.search.counts import Counts
from autoresearch_tui.search.early_stopping import early_stops
from autoresearch_tui.search.model import FINISHED, Node, better
from autoresearch_tui.search.snapshot import Snapshot
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.values import CONFIRMED, NodeValue, best_text, node_value

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LABEL_CHARS = 48


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def finished_in_order(snap: Snapshot) -> list[Node]:
    """Every finished experiment (the base's first run included), oldest finish first."""
    nodes = [n for n in snap.tree if n.status in FINISHED]
    return sorted(nodes, key=lambda n: (n.finished_at or 0.0, n.id))


# -- progress.png ------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One measured experiment on the plot: its place in finishing order and its metric."""

    x: int
    node: Node
    metric: float


def measured_points(order: list[Node]) -> list[Point]:
    return [
        Point(x, n, n.metric) for x, n in enumerate(order) if n.has_metric and n.metric is not None
    ]


def y_limits(values: list[float], base_mean: float | None, goal: str) -> tuple[float, float]:
    """The metric range to show: every value, but disasters well past the base clipped
    so the interesting part stays in view; padded by 8%."""
    lo, hi = min(values), max(values)
    if base_mean is not None:
        span = max(abs(base_mean - (lo if goal == "min" else hi)), 1e-12)
        if goal == "min":
            hi = min(hi, base_mean + 2 * span)
        else:
            lo = max(lo, base_mean - 2 * span)
    pad = (hi - lo) * 0.08 or 1e-3
    return lo - pad, hi + pad


def best_so_far(
    points: list[Point], last_x: int, goal: str, values: dict[str, NodeValue] | None = None
) -> tuple[list[int], list[float]]:
    """The running best over the experiments' values (search/values.py: the mean of each
    node's runs, as every other surface shows it; without `values`, each point's own
    run), as steps; re-runs and seed-only edits are samples, not new code."""
    steps_x: list[int] = []
    steps_y: list[float] = []
    best: float | None = None
    for p in points:
        if p.node.kind == "rerun" or p.node.seed_only:
            continue
        value = values[p.node.id].value if values is not None else p.metric
        if value is not None and (best is None or better(value, best, goal)):
            best = value
        if best is not None:
            steps_x.append(p.x)
            steps_y.append(best)
    if steps_x:
        steps_x.append(last_x)
        steps_y.append(steps_y[-1])
    return steps_x, steps_y


def _label(node: Node) -> str:
    text = node.description
    if len(text) > LABEL_CHARS:
        text = text[: LABEL_CHARS - 1] + "…"
    return f"{node.id} {text}"


def _plot_experiments(
    ax: Axes, order: list[Node], points: list[Point], values: dict[str, NodeValue], goal: str
) -> None:
    """Grey dots (every run), red crosses at the bad edge for runs without a metric, green
    labelled dots for the confirmed gains at their value (the mean of their runs)."""
    ylo, yhi = ax.get_ylim()
    edge = yhi if goal == "min" else ylo
    confirmed = [
        Point(p.x, p.node, v)
        for p in points
        if values[p.node.id].verdict == CONFIRMED and (v := values[p.node.id].value) is not None
    ]
    kept = [p for p in points if values[p.node.id].verdict != CONFIRMED]
    ax.scatter(
        [p.x for p in kept],
        [min(max(p.metric, ylo), yhi) for p in kept],
        s=14, color="#9e9e9e", alpha=0.7, label="experiment", zorder=2,
    )  # fmt: skip
    broken = [x for x, n in enumerate(order) if not n.has_metric]
    if broken:
        ax.scatter(broken, [edge] * len(broken), marker="x", color="#d62728", s=22,
                   label="crashed / timeout / invalid", zorder=3, clip_on=False)  # fmt: skip
    if confirmed:
        ax.scatter([p.x for p in confirmed], [p.metric for p in confirmed], s=46,
                   color="#2ca02c", edgecolor="black", label="confirmed gain", zorder=4)  # fmt: skip
        for p in confirmed:
            ax.annotate(_label(p.node), (p.x, p.metric), xytext=(4, 6),
                        textcoords="offset points", fontsize=7, rotation=28,
                        color="#1b5e20")  # fmt: skip


def _plot_base(ax: Axes, base_mean: float | None, spread: float | None) -> None:
    if base_mean is None:
        return
    ax.axhline(base_mean, color="black", lw=0.8, ls="--", label="base (mean)")
    if spread:
        ax.axhspan(base_mean - spread, base_mean + spread, color="black", alpha=0.06,
                   label="base ± noise spread")  # fmt: skip


def plot_progress(snap: Snapshot, path: Path) -> Path:
    """Write progress.png (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree, goal = snap.tree, snap.config.target.goal
    spread = tree.noise_spread()
    order = finished_in_order(snap)
    points = measured_points(order)
    root = tree.root
    base_mean = tree.metric_mean(root.id) if root is not None else None
    fig, ax = plt.subplots(figsize=(12, 5.5))
    if points:
        ax.set_ylim(*y_limits([p.metric for p in points], base_mean, goal))
    values = {n.id: node_value(tree, n.id, spread) for n in order}
    _plot_experiments(ax, order, points, values, goal)
    steps_x, steps_y = best_so_far(points, len(order) - 1, goal, values)
    if steps_x:
        ax.step(steps_x, steps_y, where="post", color="#1f77b4", lw=1.8, label="best so far",
                zorder=3)  # fmt: skip
    _plot_base(ax, base_mean, spread)
    ax.set_xlabel("experiment (in the order they finished)")
    ax.set_ylabel(
        f"{snap.config.target.metric} ({'lower' if goal == 'min' else 'higher'} is better)"
    )
    ax.set_title(f"autoresearch-tui run {snap.run}: {Counts.of(tree).text(snap.cap)}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right" if goal == "min" else "lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- report.md ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What every section of report.md reads, computed once."""

    snap: Snapshot
    tree: Tree
    metric: str
    goal: str
    spread: float | None
    nodes: list[Node]  # by id
    experiments: list[Node]  # finished, the base left out
    values: dict[str, NodeValue]  # node id -> value, Δ, verdict (search/values.py)

    @classmethod
    def of(cls, snap: Snapshot) -> Facts:
        tree = snap.tree
        spread = tree.noise_spread()
        nodes = sorted(tree, key=lambda n: n.id)
        return cls(
            snap=snap,
            tree=tree,
            metric=snap.config.target.metric,
            goal=snap.config.target.goal,
            spread=spread,
            nodes=nodes,
            experiments=[n for n in nodes if n.kind != "root" and n.status in FINISHED],
            values={n.id: node_value(tree, n.id, spread) for n in nodes},
        )

    def cells(self, node: Node) -> str:
        """A node's value, runs, Δ vs its reference (with the word) and verdict as table
        cells: "1.9047 | 3 | -0.0100 better vs n0003 | confirmed"."""
        v = self.values[node.id]
        change = f"{fmt_delta(v.delta)} {v.word} vs {v.reference}" if v.delta is not None else "-"
        return f"{fmt_metric(v.value)} | {v.runs} | {change} | {v.verdict}"


def _header(facts: Facts, png_name: str) -> list[str]:
    cfg = facts.snap.config
    return [
        f"# autoresearch-tui report — run {facts.snap.run}",
        "",
        f"Workspace `{cfg.root}`, metric `{facts.metric}` ({facts.goal}), written "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"![progress]({png_name})",
    ]


def _summary(facts: Facts) -> list[str]:
    """Counts, wall time, the base, the noise spread, the best node and how to export it."""
    tree, nodes = facts.tree, facts.nodes
    counts = Counts.of(tree)  # one definition of the counts (search/counts.py)
    outcomes = ", ".join(f"{v} {k}" for k, v in counts.outcomes.items())
    lines = [
        "## Summary",
        "",
        f"- **{counts.text(facts.snap.cap)}**" + (f": {outcomes}" if outcomes else ""),
    ]
    starts = [n.started_at for n in nodes if n.started_at]
    ends = [n.finished_at for n in nodes if n.finished_at]
    if starts and ends:
        lines.append(f"- wall time {fmt_duration(max(ends) - min(starts))}")
    if (stops := early_stops(tree)).runs or facts.snap.config.early_stop.enabled:
        lines.append(f"- {stops.line()}")  # search/early_stopping.py
    root = tree.root
    if root is not None and root.has_metric:
        samples = tree.samples(root.id)
        lines.append(
            f"- **base** {facts.values[root.id].value_text()}: "
            f"{', '.join(fmt_metric(s) for s in samples)}"
        )
    lines.append(
        f"- **noise spread** {fmt_delta(facts.spread, signed=False)} (two standard deviations of one run; a "
        "gain counts as confirmed when a re-run node beats its parent by more)"
        if facts.spread is not None
        else "- **noise spread** unknown (no commit was run twice)"
    )
    lines += _best(facts)
    total = facts.snap.calls.get("", {})
    if total.get("calls"):
        lines.append(
            f"\nAgent calls: {int(total['calls'])}, cost ${total.get('cost_usd') or 0:.2f}."
        )
    return lines


def _best(facts: Facts) -> list[str]:
    tree, root, best = facts.tree, facts.tree.root, facts.tree.best()
    if best is None or root is None:
        return []
    lines = [  # the headline: search/values.py's best_text
        f"- **{best_text(tree, facts.spread)}** — {best.description or 'the base'}"
    ]
    confirmed_best = tree.best(confirmed=True)
    if confirmed_best is not None and confirmed_best.id != best.id:
        lines.append(
            f"- best *confirmed* node: {confirmed_best.id} "
            f"{facts.values[confirmed_best.id].text()} — "
            f"{confirmed_best.description or 'the base'}"
        )
    root_dir = facts.snap.config.root
    return [
        *lines,
        "",
        "Export it:",
        "",
        "```",
        f"autoresearch-tui export {root_dir} {best.id} -o best.patch      # one diff vs base",
        f"autoresearch-tui export {root_dir} {best.id} --series -o series.mbox  # git am",
        "```",
    ]


def _confirmed_gains(facts: Facts) -> list[str]:
    gains = [n for n in facts.nodes if facts.values[n.id].verdict == CONFIRMED]
    gains.sort(key=lambda n: (n.finished_at or 0.0, n.id))
    lines = ["## Confirmed gains", ""]
    if not gains:
        return [*lines, "None yet: no re-run node has beaten its parent by more than the noise."]
    lines += [
        f"| # | node | parent | persona | {facts.metric} (mean) | runs | Δ | verdict | "
        "description |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, n in enumerate(gains, 1):
        parent = "+".join([n.parent or "-", *n.other_parents])
        lines.append(
            f"| {i} | {n.id} | {parent} | {n.persona} | {facts.cells(n)} | {_cell(n.description)} |"
        )
    return lines


def _lineage(facts: Facts) -> list[str]:
    best = facts.tree.best()
    if best is None:
        return []
    lines = [f"## Lineage of the best node ({best.id})", ""]
    lines += [f"| node | persona | {facts.metric} (mean) | runs | Δ | verdict | description |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for n in facts.tree.lineage(best.id):
        merged = f" (merged {', '.join(n.other_parents)})" if n.other_parents else ""
        lines.append(
            f"| {n.id} | {n.persona} | {facts.cells(n)} | "
            f"{_cell(n.description if n.kind != 'root' else 'base commit')}{merged} |"
        )
    return lines


def _best_mean(facts: Facts, nodes: list[Node]) -> float | None:
    top: float | None = None
    for n in nodes:
        mean = facts.tree.metric_mean(n.id)
        if mean is not None and (top is None or better(mean, top, facts.goal)):
            top = mean
    return top


def _personas(facts: Facts) -> list[str]:
    personas: dict[str, list[Node]] = {}
    for n in facts.nodes:
        if n.kind not in ("root", "rerun"):
            label = f"{n.persona}@{n.backend}" if n.backend else n.persona
            personas.setdefault(label, []).append(n)
    if not personas:
        return []
    lines = ["## Personas", ""]
    lines += ["| persona | proposals | ran | crashed | confirmed gains | best | cost $ |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, mine in sorted(personas.items()):
        ran = [n for n in mine if n.status in FINISHED]
        top = _best_mean(facts, [n for n in ran if n.has_metric])
        cost = facts.snap.calls.get(mine[0].persona, {}).get("cost_usd") or 0.0
        lines.append(
            f"| {label} | {len(mine)} | {len(ran)} | "
            f"{sum(1 for n in ran if n.status in ('crashed', 'timeout'))} | "
            f"{sum(1 for n in mine if facts.values[n.id].verdict == CONFIRMED)} | {fmt_metric(top)} | "
            f"{cost:.2f} |"
        )
    return lines


def _merges(facts: Facts) -> list[str]:
    merges = [n for n in facts.nodes if n.kind == "merge"]
    if not merges:
        return []
    lines = ["## Merges", ""]
    lines += [f"| node | parents | {facts.metric} (mean) | runs | Δ | verdict |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for n in merges:
        lines.append(f"| {n.id} | {n.parent} + {', '.join(n.other_parents)} | {facts.cells(n)} |")
    return lines


def _top_nodes(facts: Facts) -> list[str]:
    tree = facts.tree
    sign = 1.0 if facts.goal == "min" else -1.0
    ranked = [(m, n) for n in tree.measured() if n.kind != "root"
              if (m := tree.metric_mean(n.id)) is not None]  # fmt: skip
    ranked.sort(key=lambda pair: sign * pair[0])
    if not ranked:
        return []
    lines = ["## Top 10 nodes", ""]
    lines += [f"| node | persona | {facts.metric} (mean) | runs | Δ | verdict | description |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for _, n in ranked[:10]:
        lines.append(f"| {n.id} | {n.persona} | {facts.cells(n)} | {_cell(n.description)} |")
    return lines


def _lessons(facts: Facts) -> list[str]:
    """The current lessons note (search/lessons.py), and who wrote it when."""
    note = facts.snap.lessons
    if note is None or not note.text.strip():
        return []
    byline = note.byline()
    text = re.sub(r"^(#{1,5}) ", r"#\1 ", note.text.strip(), flags=re.MULTILINE)  # below ours
    return ["## Lessons so far", "", f"_{byline[:1].upper()}{byline[1:]}._", "", text]


def _crashes(facts: Facts) -> list[str]:
    crashed = [n for n in facts.experiments if n.status in ("crashed", "timeout")]
    if not crashed:
        return []
    seconds = [n.run_seconds for n in crashed if n.run_seconds is not None]
    if not seconds:
        return [f"{len(crashed)} experiments crashed or timed out."]
    return [
        f"{len(crashed)} experiments crashed or timed out, {fmt_duration(sum(seconds))} of "
        f"slot time (median {fmt_duration(statistics.median(seconds))} each)."
    ]


SECTIONS: tuple[Callable[[Facts], list[str]], ...] = (
    _summary,
    _lessons,
    _confirmed_gains,
    _lineage,
    _personas,
    _merges,
    _top_nodes,
    _crashes,
)


def report_markdown(snap: Snapshot, png_name: str = "progress.png") -> str:
    """report.md: the header, then each of SECTIONS that has something to say."""
    facts = Facts.of(snap)
    lines = _header(facts, png_name)
    for section in SECTIONS:
        if body := section(facts):
            lines += ["", *body]
    return "\n".join(lines) + "\n"


def write_report(snap: Snapshot, out_dir: Path) -> tuple[Path, Path]:
    """Write out_dir/report.md and out_dir/progress.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_progress(snap, out_dir / "progress.png")
    md = out_dir / "report.md"
    md.write_text(report_markdown(snap, png.name))
    return md, png
