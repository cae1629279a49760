"""`autoresearch-tui init DIR` on an existing git repository: read it, write the
`autoresearch.toml` it needs and show it (README: "Use it on your own repository").

What it finds: the training script (train.py, or the `.py` the run command names, or
`--editable`), the editable files (the script, or a config file the command passes it,
as nanoGPT's `config/*.py`), the repository files the script imports (readonly), the run
command (`uv run` with a `uv.lock`), git-ignored data directories (`[target] link`), and
the metric: `--metric`/`--metric-regex`, else the base run's own output (app/init_probe.py).
It commits nothing unless `--commit`; `init --preset` (trainer/workspace.py) makes a new
workspace instead.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autoresearch_tui.app.init_probe import (
    HIGHER_IS_BETTER,
    Metric,
    echo,
    probe_metric,
    run_probe,
    suggested_timeout,
)
from autoresearch_tui.app.init_scan import ignored_data, imported_files
from autoresearch_tui.search.checkout import link_problem
from autoresearch_tui.search.config import CONFIG_NAME, ConfigError, load_config, metric_name

FALLBACK_AUTHOR = ("-c", "user.name=autoresearch", "-c", "user.email=autoresearch@localhost")


class InitError(ValueError):
    """The repository cannot be set up as it is; the message is one line with the fix."""


@dataclass(frozen=True)
class InitOptions:
    """The flags of `init DIR` for an existing repository ("" / [] = find it out)."""

    editable: list[str] = field(default_factory=list)
    run: str = ""
    metric: str = ""
    metric_regex: str = ""
    link: list[str] = field(default_factory=list)
    probe_timeout_s: float = 900.0
    commit: bool = False


@dataclass
class Setup:
    """What the toml will say, and the notes shown with it."""

    editable: list[str]
    readonly: list[str]
    run: str
    link: list[str]
    notes: list[str] = field(default_factory=list)


def add_arguments(init: argparse.ArgumentParser) -> None:
    """The `init` flags for an existing repository (app/cli.py's init subparser)."""
    init.add_argument("--editable", action="append", default=[], metavar="FILE",
                      help="existing repo: a file agents may change (repeat for more; default: "
                      "train.py, or the config file --run passes it)")  # fmt: skip
    init.add_argument("--run", default="", metavar="CMD",
                      help="existing repo: one experiment's command (default: `uv run train.py` "
                      "with a uv.lock, else `python train.py`)")  # fmt: skip
    init.add_argument("--metric", default="", metavar="NAME",
                      help='existing repo: the result, printed as "NAME: <number>" (default: '
                      "found in the base run's output)")  # fmt: skip
    init.add_argument("--metric-regex", default="", metavar="RE",
                      help="existing repo: a regex whose one group is the result, e.g. "
                      "'val loss ([0-9.]+)' (default: found in the base run's output)")  # fmt: skip
    init.add_argument("--link", action="append", default=[], metavar="PATH",
                      help="existing repo: an uncommitted path every run sees from your "
                      "checkout (repeat; default: the git-ignored data directories)")  # fmt: skip
    init.add_argument("--probe-timeout-s", type=float, default=900.0, metavar="S",
                      help="existing repo: stop the base run that finds the metric after S "
                      "seconds (default: 900)")  # fmt: skip
    init.add_argument("--commit", action="store_true",
                      help="existing repo: commit autoresearch.toml (default: leave it "
                      "uncommitted; a run accepts it as it is)")  # fmt: skip


def options(args: argparse.Namespace) -> InitOptions:
    return InitOptions(editable=args.editable, run=args.run, metric=args.metric,
                       metric_regex=args.metric_regex, link=args.link,
                       probe_timeout_s=args.probe_timeout_s, commit=args.commit)  # fmt: skip


def repo_flags(args: argparse.Namespace) -> list[str]:
    """The existing-repository flags given on the command line (for the preset's check)."""
    given = {"--editable": args.editable, "--run": args.run, "--metric": args.metric,
             "--metric-regex": args.metric_regex, "--link": args.link, "--commit": args.commit}  # fmt: skip
    return [flag for flag, value in given.items() if value]


def is_existing_repo(path: Path) -> bool:
    """Whether `init` sets up this directory as it is (not empty) rather than a new one."""
    return path.is_dir() and any(path.iterdir())


def init_repo(
    directory: Path, opts: InitOptions, log: Callable[[str], None] = echo
) -> tuple[Path, str, list[str]]:
    """Write DIR/autoresearch.toml for the repository; (its path, its text, notes)."""
    root = _repo_root(directory)
    setup = inspect_repo(root, opts)
    if opts.metric or opts.metric_regex:
        name = opts.metric or metric_name(opts.metric_regex)
        metric = Metric(opts.metric, opts.metric_regex, _goal(name))
        timeout = 600
    else:
        if opts.probe_timeout_s <= 0:
            raise InitError("--probe-timeout-s must be > 0")
        print(f"running the base once to find its metric: {setup.run}", file=sys.stderr)
        probe = run_probe(root, setup.run, setup.link, opts.probe_timeout_s, log)
        metric, value = probe_metric(probe, opts.probe_timeout_s)
        timeout = suggested_timeout(probe.seconds)
        shown = f"metric_regex {metric.regex!r}" if metric.regex else metric.name
        setup.notes.append(f"metric: {shown} = {value:g} in the base run ({probe.seconds:.0f} s;"
                           f" timeout_s {timeout}, three times that)")  # fmt: skip
    text = render_toml(setup, metric, timeout)
    path = root / CONFIG_NAME
    path.write_text(text)
    try:
        load_config(root, check_clean=False)
    except ConfigError as exc:
        path.unlink()
        raise InitError(f"{exc} (nothing written)") from None
    if opts.commit:
        _commit(root)
        setup.notes.append(f"committed {CONFIG_NAME}")
    else:
        setup.notes.append(f"{CONFIG_NAME} is not committed (a run accepts it; --commit does)")
    return path, text, setup.notes


def _repo_root(directory: Path) -> Path:
    root = Path(directory).expanduser().resolve()
    if not root.is_dir():
        raise InitError(f"{root}: no such directory")
    top = _git(root, "rev-parse", "--show-toplevel", check=False).strip()
    if not top:
        raise InitError(f"{root} is not a git repository — run `git init && git add -A && git "
                        "commit -m base` there first (or init a new directory)")  # fmt: skip
    if Path(top).resolve() != root:
        raise InitError(f"{root} is inside the git repository {top} — init its root")
    if (root / CONFIG_NAME).exists():
        raise InitError(f"{root / CONFIG_NAME} already exists — edit it, or remove it and "
                        "run init again")  # fmt: skip
    if not _git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip():
        raise InitError(f"{root} has no commit yet — commit your files first "
                        "(git add -A && git commit -m base)")  # fmt: skip
    return root


def inspect_repo(root: Path, opts: InitOptions) -> Setup:
    """The editable, readonly and linked files and the run command, without running."""
    tracked = set(_git(root, "ls-files", "-z").split("\0"))
    runner = "uv run" if (root / "uv.lock").is_file() else "python"
    script, args = _script(root, opts)
    editable = opts.editable or args or [script]
    for path in editable:
        if not (root / path).is_file():
            raise InitError(f"--editable {path}: no such file in {root}")
        if path not in tracked:
            raise InitError(f"{path} is not committed — `git add {path}` and commit it first")
    run = opts.run or shlex.join([*runner.split(), script])
    notes = []
    if not opts.run and (passed := [p for p in editable if p.endswith(".py") and p != script]):
        imported = set(imported_files(root, [script]))
        if passed := [p for p in passed if p not in imported]:
            run = shlex.join([*runner.split(), script, *passed])
            notes.append(f"run: {script} is given {', '.join(passed)} as its argument")
    found = [p for p in imported_files(root, [script, *editable]) if p not in editable]
    readonly = [p for p in found if p in tracked]
    link = list(dict.fromkeys([*opts.link, *ignored_data(root), *(p for p in found
                                                               if p not in tracked)]))  # fmt: skip
    if problem := link_problem(root, link, editable + readonly):
        raise InitError(problem)
    if link:
        notes.append(f"link: {', '.join(link)} (not committed: every run sees your checkout's)")
    if runner == "uv run":
        notes.append(f"uv: every run uses {root / '.venv'}, never an environment per worktree")
        if not (root / ".venv" / "pyvenv.cfg").is_file():
            notes.append(f"uv: no {root / '.venv'} yet — run `uv sync` in {root} first")
    return Setup(editable, readonly, run, link, notes)


def _script(root: Path, opts: InitOptions) -> tuple[str, list[str]]:
    """The training script and the repository `.py` files the run command passes it."""
    if opts.run:
        try:
            words = shlex.split(opts.run)
        except ValueError as exc:
            raise InitError(f"--run {opts.run!r}: {exc} — quote it as the shell would") from None
        files = [a for a in words if a.endswith(".py") and (root / a).is_file()]
        if not files:
            raise InitError(f"--run {opts.run!r} names no .py file of {root} — e.g. "
                            "--run 'python train.py'")  # fmt: skip
        return files[0], files[1:]
    if (root / "train.py").is_file():
        return "train.py", []
    if opts.editable:
        return opts.editable[0], []
    raise InitError(f"{root} has no train.py — name the training script: --editable FILE "
                    "(and --run 'python FILE ARGS' when it takes arguments)")  # fmt: skip


def _goal(name: str) -> str:
    return "max" if HIGHER_IS_BETTER.search(name) else "min"


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _toml_str(text: str) -> str:
    """A TOML string; with backslashes a literal one ('...': a regex reads as written)."""
    literal = "\\" in text and "'" not in text and "\n" not in text
    return f"'{text}'" if literal else json.dumps(text)


def render_toml(setup: Setup, metric: Metric, timeout_s: int) -> str:
    """The autoresearch.toml text, commented for the person who reads it first."""
    lines = [
        "# Written by `autoresearch-tui init`; edit it freely (README: Use it on your own",
        "# repository). Agents change only `editable`; a run that changes `readonly` is invalid.",
        "[target]",
        f"editable  = {_toml_list(setup.editable)}",
        f"readonly  = {_toml_list(setup.readonly)}",
        f"run       = {_toml_str(setup.run)}",
    ]
    if metric.name:
        lines.append(f"metric    = {_toml_str(metric.name)}")
    if metric.regex:
        lines.append(f"metric_regex = {_toml_str(metric.regex)}")
    lines += [f'goal      = "{metric.goal}"', f"timeout_s = {timeout_s}"]
    if setup.link:
        lines.append(f"link      = {_toml_list(setup.link)}  # uncommitted, from your checkout")
    lines += ["", "[[agents]]", 'persona = "explorer"',
              'backend = "mutator"  # offline; a model: backend = "anthropic" (README: Agents)', ""]  # fmt: skip
    return "\n".join(lines)


def _commit(root: Path) -> None:
    identity = _git(root, "config", "user.email", check=False).strip()
    author = () if identity else FALLBACK_AUTHOR
    _git(root, "add", "--", CONFIG_NAME)
    _git(root, *author, "-c", "commit.gpgsign=false", "commit", "-q", "-m",
         f"{CONFIG_NAME} (autoresearch-tui init)", "--", CONFIG_NAME)  # fmt: skip


def _git(root: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and out.returncode != 0:
        message = (out.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise InitError(f"git {args[0]} failed in {root}: {message}")
    return out.stdout if out.returncode == 0 else ""
