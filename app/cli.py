"""The `autoresearch-tui` command line (README.md: "Start here" and "Use it on your own
repository"; the search is built in app/launch.py).

    autoresearch-tui [DIR]                          TUI: start or resume the search in DIR
    autoresearch-tui init DIR                       autoresearch.toml for an existing git repo
    autoresearch-tui init DIR [--preset cpu|gpu]    new workspace from the built-in trainer
    autoresearch-tui run DIR --headless [...]       the same search without the TUI
    autoresearch-tui status DIR [--json]            the tree and the best node
    autoresearch-tui export DIR [NODE|best] [-o FILE] [--series]
    autoresearch-tui bench overhead|search|prompts ...  benchmarks
    autoresearch-tui report DIR [-o OUTDIR]         report.md + progress.png for the morning
    autoresearch-tui runs DIR [--json]              the runs (a new one when the base changed)

status, export, report and the TUI take `--run NAME` (default: the latest run).
Exit codes: 0 finished, 1 failed (the base failed, the search stopped by an error),
2 usage or configuration (one line on stderr), 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from autoresearch_tui.app.runs import RUN_HELP, run_config, runs_text
from autoresearch_tui.search.config import ConfigError, load_config, parse_agents
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.runlock import WorkspaceBusy, busy, runner_pid
from autoresearch_tui.search.runs import BaseFailed
from autoresearch_tui.search.store import StoreFailed

if TYPE_CHECKING:
    from rich.console import Console
    from rich.tree import Tree as RichTree

    from autoresearch_tui.search.scheduler import Scheduler
    from autoresearch_tui.search.snapshot import Snapshot

SUBCOMMANDS = ("init", "run", "status", "export", "bench", "report", "runs")


WORKSPACE_HELP = "the workspace: a git repository with autoresearch.toml (default: .)"


class UsageError(Exception):
    """A one-line problem with what the person typed; exit code 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autoresearch-tui",
        description="Best-first search over git branches for autonomous ML research.",
        epilog="autoresearch-tui [DIR] [--run NAME] opens the TUI on DIR (NAME: a kept run, "
        "read-only). Exit codes: 0 finished, 1 failed, 2 usage or configuration, "
        "130 interrupted.",
    )
    sub = p.add_subparsers(dest="command")

    init = sub.add_parser("init", help="write autoresearch.toml for an existing git repository, "
                          "or create a workspace from the built-in trainer")  # fmt: skip
    init.add_argument("dir", type=Path, help="an existing git repository, or a new (absent or "
                      "empty) directory for the built-in trainer")  # fmt: skip
    init.add_argument("--preset", choices=("cpu", "gpu"), default=None,
                      help="new workspace: model and batch sizes for a CPU or a GPU (default: cpu)")  # fmt: skip
    init.add_argument("--budget-s", type=float, default=None,
                      help="a budget of training seconds per experiment (the gpu preset's kind)")  # fmt: skip
    init.add_argument("--budget-tokens", type=int, default=None,
                      help="a budget of training tokens per experiment (the cpu preset's kind)")  # fmt: skip
    init.add_argument("--dataset", default="stdlib",
                      help="stdlib (offline, default), climbmix or tinystories (downloaded)")  # fmt: skip
    from autoresearch_tui.app.init_repo import add_arguments as add_init_repo_arguments

    add_init_repo_arguments(init)  # --editable, --run, --metric, ... for an existing repository

    run = sub.add_parser("run", help="run the search (with --headless: no TUI)")
    run.add_argument("dir", type=Path, nargs="?", default=Path("."), help=WORKSPACE_HELP)
    run.add_argument("--headless", action="store_true",
                     help="no TUI: one line per event on stdout, a summary at the end")  # fmt: skip
    run.add_argument("--max-experiments", type=int, default=None, metavar="N",
                     help="cap the search at N experiments in all (re-runs included, the base's "
                     "runs not), counting those already in the tree; saved in state.db, so a "
                     "restart without it goes on toward the same cap (default: no cap)")  # fmt: skip
    run.add_argument("--more", type=int, default=None, metavar="N",
                     help="raise the cap to N experiments beyond those in the tree (and save it)")  # fmt: skip
    run.add_argument("--slots", type=int, default=None,
                     help="experiments at once (default: [search] slots, one per GPU)")  # fmt: skip
    run.add_argument("--agents", default=None,
                     help="persona@backend[:model],... instead of [[agents]], e.g. "
                     "architect@anthropic:claude-opus-4-6,explorer@mutator")  # fmt: skip
    run.add_argument("--policy", default=None,
                     help="best-first, uct, ratchet or parallel-greedy (default: [search] policy)")  # fmt: skip
    run.add_argument("--seed", type=int, default=None,
                     help="seed of the experiments and the agents' choices ([search] seed)")  # fmt: skip

    status = sub.add_parser("status", help="the tree and the best node")
    status.add_argument("dir", type=Path, nargs="?", default=Path("."), help=WORKSPACE_HELP)
    status.add_argument("--json", action="store_true", help="the nodes and totals as JSON")
    status.add_argument("--run", default=None, metavar="NAME", help=RUN_HELP)

    export = sub.add_parser("export", help="the patch of a node against the base commit")
    export.add_argument("dir", type=Path, nargs="?", default=Path("."), help=WORKSPACE_HELP)
    export.add_argument("node", nargs="?", default="best", help="a node id, or best (default)")
    export.add_argument("-o", "--output", type=Path, default=None,
                        help="write the patch to this file (default: stdout)")  # fmt: skip
    export.add_argument("--series", action="store_true", help="format-patch of the lineage")
    export.add_argument("--run", default=None, metavar="NAME", help=RUN_HELP)

    report = sub.add_parser("report", help="write report.md and progress.png for a run")
    report.add_argument("dir", type=Path, nargs="?", default=Path("."), help=WORKSPACE_HELP)
    report.add_argument(
        "-o", "--output", type=Path, default=None, help="folder (default DIR/.autoresearch/report)"
    )
    report.add_argument("--run", default=None, metavar="NAME", help=RUN_HELP)

    runs = sub.add_parser("runs", help="the workspace's runs, the latest first")
    runs.add_argument("dir", type=Path, nargs="?", default=Path("."), help=WORKSPACE_HELP)
    runs.add_argument("--json", action="store_true", help="the runs as JSON")

    bench = sub.add_parser("bench", help="benchmarks: overhead, search, prompts")
    bench.add_argument("suite", choices=("overhead", "search", "prompts"))
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="the benchmark's own flags")
    return p


def _tui_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="autoresearch-tui", add_help=False)
    p.add_argument("dir", type=Path, nargs="?", default=None)
    p.add_argument("--run", default=None)
    p.add_argument("-h", "--help", action="store_true")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from autoresearch_tui.app.launch import Overrides, build_search, load_workspace

    config = load_workspace(args.dir)
    agents = parse_agents(args.agents) if args.agents else None
    if args.max_experiments is not None and args.max_experiments < 0:
        raise UsageError("--max-experiments must be >= 0")
    if args.more is not None and (args.more < 0 or args.max_experiments is not None):
        raise UsageError("--more N takes N >= 0, without --max-experiments (a total)")
    if config.search.executor == "ray" and (pid := runner_pid(config.state_dir)):
        raise busy(config.state_dir, pid)  # before joining (or starting) a Ray cluster
    overrides = Overrides(agents=agents, policy=args.policy, slots=args.slots, seed=args.seed,
                          max_experiments=args.max_experiments, more=args.more)  # fmt: skip
    try:
        search = build_search(config, overrides, exit_when_idle=args.headless)
    except ConfigError:
        raise
    except ValueError as exc:  # a policy, slots, or agents that cannot start (AgentSetupError)
        raise UsageError(str(exc)) from None
    if not args.headless:
        from autoresearch_tui.app.launch import run_tui

        return run_tui(search)
    return _run_headless(search)


def _run_headless(search: Scheduler) -> int:
    """`run --headless`: one line per event on stdout, a summary at the end; Ctrl-C stops
    the search cleanly (exit 130 unless the budget was spent); a failed base: exit 1."""
    from autoresearch_tui.app.headless import HeadlessPrinter, cap_line, started_line
    from autoresearch_tui.search.runs import base_failure

    printer = HeadlessPrinter(search)
    search.listeners.append(printer)
    start = time.monotonic()

    async def main() -> None:
        await search.open()
        print(started_line(search), flush=True)
        if line := cap_line(search):  # the cap is reached: nothing more runs (search/counts.py)
            print(line, flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, search.stop)
        await search.run()

    try:
        asyncio.run(main())
    finally:  # also when a full disk stopped it (StoreFailed goes on to main())
        if search.run_name:  # it opened
            print(printer.summary(time.monotonic() - start), flush=True)
    if failed := base_failure(search.config, search.tree.root):
        print(f"autoresearch-tui: error: {failed}", file=sys.stderr)
        return 1
    return 130 if search.interrupted else 0


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console

    from autoresearch_tui.search.snapshot import load_snapshot

    snap = load_snapshot(run_config(args.dir, args.run))
    if args.json:
        print(json.dumps(snap.as_json(), indent=2))
        return 0
    if snap.tree.root is None:
        print("no nodes yet")
        return 0
    console = Console()
    console.print(_status_tree(snap))
    _print_status_totals(console, snap)
    return 0


def _status_tree(snap: Snapshot) -> RichTree:
    """The run's tree for `status`: one line per node (value, Δ, verdict, flags)."""
    from rich.markup import escape
    from rich.tree import Tree as RichTree

    from autoresearch_tui.search.values import node_value

    tree, best = snap.tree, snap.best
    spread = tree.noise_spread()

    def label(n: Node) -> str:
        value = node_value(tree, n.id, spread)  # search/values.py's one text form
        shown = value.text() if value.value is not None or value.sample_of else "-"
        merged = f" (merge of {n.parent} + {', '.join(n.other_parents)})" if n.other_parents else ""
        text = (
            f"{n.id} {n.persona} {shown}"
            f"{merged} "
            f"[{n.status}{', pruned' if n.pruned else ''}"
            f"{f', boost {n.boost:g}' if n.boost != 1 else ''}] "
            f"{n.description if n.kind != 'root' else 'base ' + snap.base[:10]}"
        )
        style = "bold green" if best and n.id == best.id else "dim" if n.pruned else ""
        return f"[{style}]{escape(text)}[/]" if style else escape(text)

    root = tree.root
    assert root is not None
    view = RichTree(label(root))
    stack = [(root.id, view)]
    while stack:
        nid, branch = stack.pop()
        added = []
        for c in sorted(tree.children(nid), key=lambda n: n.id):
            if c.parent != nid:  # a merge node seen from its second parent: a pointer only
                branch.add(escape(f"→ {c.id} (merged into {c.parent}'s branch)"))
            else:
                added.append((c.id, branch.add(label(c))))
        stack.extend(reversed(added))
    return view


def _print_status_totals(console: Console, snap: Snapshot) -> None:
    """`status` below the tree: the best node, the agents' calls, the runner, personas."""
    from rich.markup import escape

    from autoresearch_tui.search.counts import Counts, cap_reached, finished_line
    from autoresearch_tui.search.snapshot import persona_stats
    from autoresearch_tui.search.values import best_text

    tree, best = snap.tree, snap.best
    counts = Counts.of(tree)  # one definition of the counts (search/counts.py)
    console.print(escape(counts.text(snap.cap)))
    if best is not None:
        what = best.description if best.parent is not None else "the base"
        console.print(escape(f"{best_text(tree)} ({snap.config.target.metric}) — {what}"))
    total = snap.calls.get("", {})
    if total.get("calls"):
        unpriced = f" ({int(total['unpriced'])} unpriced)" if total.get("unpriced") else ""
        console.print(
            f"agent calls: {int(total['calls'])}, cost ${total['cost_usd'] or 0:.2f}{unpriced}"
        )
    running = sum(1 for n in tree if n.status == "running")
    if snap.config.archive is not None:
        console.print(f"run {snap.run}: kept when its base changed, read-only — "
                      f"`autoresearch-tui runs {snap.config.root}` lists the runs")  # fmt: skip
    elif snap.runner_pid:
        console.print(f"runner: pid {snap.runner_pid} is running this search")
    elif running:
        console.print(
            f"runner: none — the {running} node(s) marked running stopped with it; "
            f"`autoresearch-tui {snap.config.root}` re-queues them and goes on"
        )
    elif snap.cap is not None and cap_reached(counts, snap.cap):
        console.print(escape(finished_line(counts, snap.cap)))
    else:
        console.print(f"runner: none — `autoresearch-tui {snap.config.root}` resumes the search")
    if snap.sandbox:
        console.print(escape(snap.sandbox))
    for persona, st in persona_stats(tree, snap.calls).items():
        rate = f" ({st['improve_rate']:.0%})" if st["improve_rate"] is not None else ""
        console.print(
            escape(
                f"  {persona}: {st['proposals']} proposed, {st['failed']} failed, "
                f"{st['tried']} run, {st['improved']} improved{rate}; "
                f"{int(st['calls']['calls'])} calls, ${st['calls']['cost_usd'] or 0:.2f}"
            )
        )


def cmd_export(args: argparse.Namespace) -> int:
    from autoresearch_tui.search.snapshot import export_patch, load_snapshot, resolve_node
    from autoresearch_tui.search.values import BASE, CONFIRMED, node_value

    snap = load_snapshot(run_config(args.dir, args.run))
    try:
        node = resolve_node(snap, args.node)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from None
    if node.kind == "root" or not node.commit:  # an empty patch would say nothing
        why = "it is the base" if node.kind == "root" else f"{node.status}, no commit"
        print(f"autoresearch-tui: error: {node.id} has no change to export ({why}) — export a "
              f"child: `autoresearch-tui export {args.dir} best`, or a node id from "
              f"`autoresearch-tui status {args.dir}`", file=sys.stderr)  # fmt: skip
        return 1
    value = node_value(snap.tree, node.id)  # search/values.py's one text form
    if value.verdict not in (BASE, CONFIRMED):
        print(
            f"autoresearch-tui: warning: {node.id} is not a confirmed gain: {value.text()} "
            "(a gain counts once re-run and beyond the run-to-run noise of its parent) — "
            "`autoresearch-tui status` shows which nodes are",
            file=sys.stderr,
        )
    patch = export_patch(snap, node, series=args.series)
    if args.output is None:
        sys.stdout.write(patch)
    else:
        args.output.write_text(patch)
        print(
            f"wrote {args.output} ({node.id}, {snap.config.target.metric} {value.text()})",
            file=sys.stderr,
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autoresearch_tui.app.report import write_report
    from autoresearch_tui.search.snapshot import load_snapshot

    snap = load_snapshot(run_config(args.dir, args.run))
    out = args.output or (snap.config.archive or snap.config.state_dir) / "report"
    md, png = write_report(snap, out)
    print(f"wrote {md}\nwrote {png}")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    print(runs_text(load_config(args.dir, check_clean=False), as_json=args.json))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from autoresearch_tui.app.init_repo import is_existing_repo, repo_flags
    from autoresearch_tui.trainer.workspace import PrepareFailed, init_workspace

    if args.preset is None and is_existing_repo(args.dir):
        return _init_repo(args)
    if flags := repo_flags(args):
        raise UsageError(f"{flags[0]} is for an existing repository; {args.dir} gets the "
                         "built-in trainer (--preset, or an absent or empty DIR)")  # fmt: skip
    try:
        path = init_workspace(
            args.dir, preset=args.preset or "cpu", budget_s=args.budget_s, dataset=args.dataset,
            budget_tokens=args.budget_tokens,
        )  # fmt: skip
    except (ValueError, PrepareFailed) as exc:  # WorkspaceExists is a ValueError
        raise UsageError(str(exc)) from None
    print(f"workspace ready: {path}\nnext: autoresearch-tui {path}")
    return 0


def _init_repo(args: argparse.Namespace) -> int:
    """`init DIR` on an existing git repository: write and show its autoresearch.toml."""
    from autoresearch_tui.app.init_probe import ProbeFailed
    from autoresearch_tui.app.init_repo import init_repo, options

    try:
        path, text, notes = init_repo(args.dir, options(args))
    except ProbeFailed as exc:  # the base run failed: exit 1
        print(f"autoresearch-tui: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # InitError, NoMetric: what to give or fix
        raise UsageError(str(exc)) from None
    print(f"wrote {path}:\n\n{text}")
    print("\n".join(f"  {note}" for note in notes))
    print(
        f"next: autoresearch-tui {path.parent}  (or: autoresearch-tui run {path.parent} --headless)"
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if args.suite == "overhead":
        from autoresearch_tui.app.bench.overhead import main as overhead_main

        return overhead_main(args.rest)
    if args.suite == "prompts":
        from autoresearch_tui.app.bench.prompts import main as prompts_main

        return prompts_main(args.rest)
    from autoresearch_tui.app.bench.search import main as search_main

    return search_main(args.rest)


def cmd_tui(argv: list[str]) -> int:
    args = _tui_parser().parse_args(argv)
    if args.help:
        _parser().print_help()
        return 0
    from autoresearch_tui.app.launch import open_tui

    return open_tui(args.dir, args.run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
            return cmd_tui(argv)
        args = _parser().parse_args(argv)
        handler = {
            "init": cmd_init, "run": cmd_run, "status": cmd_status,
            "export": cmd_export, "bench": cmd_bench, "report": cmd_report,
            "runs": cmd_runs,
        }[args.command]  # fmt: skip
        return handler(args)
    except (ConfigError, UsageError, WorkspaceBusy) as exc:
        print(f"autoresearch-tui: error: {exc}", file=sys.stderr)
        return 2
    except (StoreFailed, BaseFailed) as exc:  # a state.db or a base that fails: not typing
        print(f"autoresearch-tui: error: {exc}", file=sys.stderr)
        return 1
    except LookupError as exc:  # NoRunError and friends
        print(f"autoresearch-tui: error: {exc.args[0]}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `status --json | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except KeyboardInterrupt:  # Ctrl-C before a search's own handler is in place
        return 130


if __name__ == "__main__":
    sys.exit(main())
