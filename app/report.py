"""`autoresearch-tui report DIR`: report.md and progress.png for the morning after.

progress.png is autoresearch's plot for a tree: every finished experiment's metric in
the order it finished (re-runs included, crashes marked at the top edge), the
best-so-far line, the base's run-to-run band, and the confirmed gains labelled with
their descriptions. report.md summarises the run: the best node (confirmed or not),
the confirmed gains in order, the best lineage, the personas' records, merges, and the
commands to export the result. It reads the store read-only, so it works while a search
runs.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

from autoresearch_tui.search.model import FINISHED, Node, better
from autoresearch_tui.search.snapshot import Snapshot

LABEL_CHARS = 48


def _fmt(value: float | None, digits: int = 6) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def finished_in_order(snap: Snapshot) -> list[Node]:
    """Every finished experiment (the base's first run included), oldest finish first."""
    nodes = [n for n in snap.tree if n.status in FINISHED]
    return sorted(nodes, key=lambda n: (n.finished_at or 0.0, n.id))


def plot_progress(snap: Snapshot, path: Path) -> Path:
    """Write progress.png (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tree, goal = snap.tree, snap.config.target.goal
    spread = tree.noise_spread()
    order = finished_in_order(snap)
    xs = list(range(len(order)))
    fig, ax = plt.subplots(figsize=(12, 5.5))
    measured = [(x, n) for x, n in zip(xs, order, strict=True) if n.has_metric]
    values = [n.metric for _, n in measured]
    root = tree.root
    base_mean = tree.metric_mean(root.id) if root is not None else None
    if values:
        lo, hi = min(values), max(values)  # type: ignore[type-var]
        if base_mean is not None:
            # Keep the interesting part in view: clip disasters well past the base.
            span = max(abs(base_mean - (lo if goal == "min" else hi)), 1e-12)  # type: ignore[operator]
            if goal == "min":
                hi = min(hi, base_mean + 2 * span)  # type: ignore[type-var,operator]
            else:
                lo = max(lo, base_mean - 2 * span)  # type: ignore[type-var,operator]
        pad = (hi - lo) * 0.08 or 1e-3  # type: ignore[operator]
        ax.set_ylim(lo - pad, hi + pad)  # type: ignore[operator]
    ylo, yhi = ax.get_ylim()
    edge = yhi if goal == "min" else ylo
    states = {n.id: tree.gain_state(n.id, spread) for n in order}
    kept = [(x, n) for x, n in measured if states[n.id] != "confirmed"]
    ax.scatter(
        [x for x, _ in kept],
        [min(max(n.metric, ylo), yhi) for _, n in kept],  # type: ignore[type-var]
        s=14, color="#9e9e9e", alpha=0.7, label="experiment", zorder=2,
    )  # fmt: skip
    broken = [x for x, n in zip(xs, order, strict=True) if not n.has_metric]
    if broken:
        ax.scatter(broken, [edge] * len(broken), marker="x", color="#d62728", s=22,
                   label="crashed / timeout / invalid", zorder=3, clip_on=False)  # fmt: skip
    confirmed = [(x, n) for x, n in measured if states[n.id] == "confirmed"]
    if confirmed:
        ax.scatter([x for x, _ in confirmed], [n.metric for _, n in confirmed], s=46,
                   color="#2ca02c", edgecolor="black", label="confirmed gain", zorder=4)  # fmt: skip
        for x, n in confirmed:
            text = n.description if len(n.description) <= LABEL_CHARS else (
                n.description[: LABEL_CHARS - 1] + "…"
            )  # fmt: skip
            ax.annotate(f"{n.id} {text}", (x, n.metric), xytext=(4, 6),  # type: ignore[arg-type]
                        textcoords="offset points", fontsize=7, rotation=28,
                        color="#1b5e20")  # fmt: skip
    # Best so far: the running best over the experiments' own metrics (re-runs and
    # seed-only edits are samples, not new code, so they do not move it).
    steps_x, steps_y, best = [], [], None
    for x, n in measured:
        if n.kind == "rerun" or n.seed_only:
            continue
        if best is None or better(n.metric, best, goal):  # type: ignore[arg-type]
            best = n.metric
        steps_x.append(x)
        steps_y.append(best)
    if steps_x:
        steps_x.append(xs[-1])
        steps_y.append(steps_y[-1])
        ax.step(steps_x, steps_y, where="post", color="#1f77b4", lw=1.8, label="best so far",
                zorder=3)  # fmt: skip
    if base_mean is not None:
        ax.axhline(base_mean, color="black", lw=0.8, ls="--", label="base (mean)")
        if spread:
            ax.axhspan(base_mean - spread, base_mean + spread, color="black", alpha=0.06,
                       label="base ± noise spread")  # fmt: skip
    metric = snap.config.target.metric
    ax.set_xlabel("experiment (in the order they finished)")
    ax.set_ylabel(f"{metric} ({'lower' if goal == 'min' else 'higher'} is better)")
    ax.set_title(f"autoresearch-tui run {snap.run}: {len(order) - 1} experiments", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right" if goal == "min" else "lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report_markdown(snap: Snapshot, png_name: str = "progress.png") -> str:
    tree, cfg = snap.tree, snap.config
    metric, goal = cfg.target.metric, cfg.target.goal
    spread = tree.noise_spread()
    nodes = sorted(tree, key=lambda n: n.id)
    experiments = [n for n in nodes if n.kind != "root" and n.status in FINISHED]
    counts = {s: sum(1 for n in experiments if n.status == s) for s in sorted(FINISHED)}
    root, best, confirmed_best = tree.root, tree.best(), tree.best(confirmed=True)
    states = {n.id: tree.gain_state(n.id, spread) for n in nodes}
    failed = sum(1 for n in nodes if n.status == "failed")
    lines = [
        f"# autoresearch-tui report — run {snap.run}",
        "",
        f"Workspace `{cfg.root}`, metric `{metric}` ({goal}), written "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"![progress]({png_name})",
        "",
        "## Summary",
        "",
        f"- **{len(experiments)} experiments**: "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        + (f"; {failed} proposals failed" if failed else ""),
    ]
    starts = [n.started_at for n in nodes if n.started_at]
    ends = [n.finished_at for n in nodes if n.finished_at]
    if starts and ends:
        lines.append(f"- wall time {(max(ends) - min(starts)) / 3600:.2f} h")
    if root is not None and root.has_metric:
        samples = tree.samples(root.id)
        lines.append(
            f"- **base** {_fmt(tree.metric_mean(root.id))} (mean of {len(samples)} run(s): "
            f"{', '.join(_fmt(s) for s in samples)})"
        )
    lines.append(
        f"- **noise spread** {_fmt(spread, 3)} (two standard deviations of one run; a gain "
        "counts as confirmed when a re-run node beats its parent by more)"
        if spread is not None
        else "- **noise spread** unknown (no commit was run twice)"
    )
    if best is not None and root is not None:
        delta = tree.delta_base(best)
        mean = tree.metric_mean(best.id)
        rel = (
            f", {100 * (mean - tree.metric_mean(root.id)) / tree.metric_mean(root.id):+.2f}%"  # type: ignore[operator]
            if root.has_metric and tree.metric_mean(root.id)
            else ""
        )
        lines.append(
            f"- **best** {best.id} {_fmt(mean)} ({_signed(delta)} vs base{rel}), "
            f"**{states[best.id]}**: {best.description}"
        )
        if confirmed_best is not None and confirmed_best.id != best.id:
            lines.append(
                f"- best *confirmed* node: {confirmed_best.id} "
                f"{_fmt(tree.metric_mean(confirmed_best.id))}: {confirmed_best.description}"
            )
        lines += [
            "",
            "Export it:",
            "",
            "```",
            f"autoresearch-tui export {cfg.root} {best.id} -o best.patch      # one diff vs base",
            f"autoresearch-tui export {cfg.root} {best.id} --series -o series.mbox  # git am",
            "```",
        ]
    total = snap.calls.get("", {})
    if total.get("calls"):
        lines.append(
            f"\nAgent calls: {int(total['calls'])}, cost ${total.get('cost_usd') or 0:.2f}."
        )

    gains = [n for n in nodes if states[n.id] == "confirmed"]
    gains.sort(key=lambda n: (n.finished_at or 0.0, n.id))
    lines += ["", "## Confirmed gains", ""]
    if gains:
        lines += [
            f"| # | node | parent | persona | {metric} (mean) | runs | gain vs parent | description |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for i, n in enumerate(gains, 1):
            parent = "+".join([n.parent or "-", *n.other_parents])
            lines.append(
                f"| {i} | {n.id} | {parent} | {n.persona} | {_fmt(tree.metric_mean(n.id))} | "
                f"{len(tree.samples(n.id))} | {_fmt(tree.gain(n.id), 4)} | {_cell(n.description)} |"
            )
    else:
        lines.append("None yet: no re-run node has beaten its parent by more than the noise.")

    if best is not None:
        lines += ["", f"## Lineage of the best node ({best.id})", ""]
        lines += [f"| node | persona | {metric} | Δ parent | gain | description |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for n in tree.lineage(best.id):
            merged = f" (merged {', '.join(n.other_parents)})" if n.other_parents else ""
            lines.append(
                f"| {n.id} | {n.persona} | {_fmt(tree.metric_mean(n.id))} | "
                f"{_signed(tree.delta_parent(n))} | {states[n.id]} | "
                f"{_cell(n.description if n.kind != 'root' else 'base commit')}{merged} |"
            )

    personas: dict[str, list[Node]] = {}
    for n in nodes:
        if n.kind not in ("root", "rerun"):
            personas.setdefault(f"{n.persona}@{n.backend}" if n.backend else n.persona, []).append(
                n
            )
    if personas:
        lines += ["", "## Personas", ""]
        lines += ["| persona | proposals | ran | crashed | confirmed gains | best | cost $ |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for label, mine in sorted(personas.items()):
            ran = [n for n in mine if n.status in FINISHED]
            done = [n for n in ran if n.has_metric]
            top = None
            for n in done:
                m = tree.metric_mean(n.id)
                if top is None or better(m, top, goal):  # type: ignore[arg-type]
                    top = m
            cost = snap.calls.get(mine[0].persona, {}).get("cost_usd") or 0.0
            lines.append(
                f"| {label} | {len(mine)} | {len(ran)} | "
                f"{sum(1 for n in ran if n.status in ('crashed', 'timeout'))} | "
                f"{sum(1 for n in mine if states[n.id] == 'confirmed')} | {_fmt(top)} | "
                f"{cost:.2f} |"
            )

    merges = [n for n in nodes if n.kind == "merge"]
    if merges:
        lines += ["", "## Merges", ""]
        lines += [f"| node | parents | {metric} | gain | state |", "|---|---|---|---|---|"]
        for n in merges:
            lines.append(
                f"| {n.id} | {n.parent} + {', '.join(n.other_parents)} | "
                f"{_fmt(tree.metric_mean(n.id))} | {_fmt(tree.gain(n.id), 4)} | {states[n.id]} |"
            )

    top_nodes = [n for n in tree.measured() if n.kind != "root"]
    sign = 1.0 if goal == "min" else -1.0
    top_nodes.sort(key=lambda n: sign * tree.metric_mean(n.id))  # type: ignore[operator]
    if top_nodes:
        lines += ["", "## Top 10 nodes", ""]
        lines += [f"| node | persona | {metric} (mean) | runs | gain | description |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for n in top_nodes[:10]:
            lines.append(
                f"| {n.id} | {n.persona} | {_fmt(tree.metric_mean(n.id))} | "
                f"{len(tree.samples(n.id))} | {states[n.id]} | {_cell(n.description)} |"
            )
    crashed = [n for n in experiments if n.status in ("crashed", "timeout")]
    if crashed:
        seconds = [n.run_seconds for n in crashed if n.run_seconds is not None]
        lines += [
            "",
            f"{len(crashed)} experiments crashed or timed out"
            + (f", {sum(seconds) / 60:.1f} slot-minutes" if seconds else "")
            + f" (median {statistics.median(seconds):.0f}s each)."
            if seconds
            else f"{len(crashed)} experiments crashed or timed out.",
        ]
    return "\n".join(lines) + "\n"


def write_report(snap: Snapshot, out_dir: Path) -> tuple[Path, Path]:
    """Write out_dir/report.md and out_dir/progress.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_progress(snap, out_dir / "progress.png")
    md = out_dir / "report.md"
    md.write_text(report_markdown(snap, png.name))
    return md, png
