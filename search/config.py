"""The workspace file: `autoresearch.toml` read with tomllib into dataclasses, validated.

Each field of a table is declared once, in its dataclass: its default, and in its metadata
a `Rule` (a one-line doc and the check a value from the file must pass); `_read` walks the
declarations, so adding a setting is adding one field. Every problem is a `ConfigError`
whose message is one line naming the field or path and the fix; the CLI prints it and
exits with code 2. The names of the policies and backends come from their registries
(search/policies, agents/proposer.py's `BACKENDS`); an agent is checked by
`AgentSpec.problem`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import subprocess
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from autoresearch_tui.agents.proposer import BACKENDS, AgentSpec, lessons_agent_problem
from autoresearch_tui.search.checkout import clean_problem, files_problem, link_problem
from autoresearch_tui.search.contain import ContainConfig, read_contain
from autoresearch_tui.search.early_config import EarlyStopConfig, read_early_stop
from autoresearch_tui.search.executors import EXECUTORS
from autoresearch_tui.search.notify import EVENTS, NotifyConfig
from autoresearch_tui.search.policies import POLICIES

CONFIG_NAME = "autoresearch.toml"
STATE_DIR = ".autoresearch"
TABLES = ["target", "search", "agents", "notify"]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Check = Callable[[Any, str], Any]  # (value from the file, "[table] key") -> the value kept
Table = TypeVar("Table", bound="DataclassInstance")


class ConfigError(ValueError):
    """A workspace problem the person must fix; the message is one line."""


class _Missing(Exception):
    """A required value that is absent or blank: reported as `... is missing — add ...`."""


@dataclass(frozen=True)
class Rule:
    """How one field is read from the file: its one-line doc and the check of a value."""

    doc: str
    check: Check
    example: str = ""  # a required field: the value `is missing — add KEY = EXAMPLE` suggests


def rule(doc: str, check: Check, example: str = "") -> dict[str, Rule]:
    """A field's metadata: `field(default=..., metadata=rule("what it is", _check))`."""
    return {"rule": Rule(doc, check, example)}


# -- checks of one value ---------------------------------------------------------------
def _fail(message: str) -> ConfigError:
    return ConfigError(f"{CONFIG_NAME}: {message}")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Missing
    return value


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(f'{where} must be a list of paths, like ["train.py"]')
    return value


def _relative_path(path: str, where: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise _fail(f"{where} path {path!r} must be relative to the workspace, without '..'")
    return str(pure)


def _paths(value: Any, where: str) -> list[str]:
    return [_relative_path(p, where) for p in _string_list(value, where)]


def _paths_or_none(value: Any, where: str) -> list[str]:
    return _paths(value, where) if value else []


def _goal(value: Any, where: str) -> str:
    if value not in ("min", "max"):
        raise _fail(f'{where} must be "min" or "max", not {value!r}')
    return str(value)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _fail(f"{where} must be a positive number of seconds")
    return float(value)


def _regex(value: Any, where: str) -> str:
    if not value:
        return ""
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise _fail(f"{where} does not compile: {exc}") from None
    if compiled.groups < 1:
        raise _fail(f"{where} needs one group around the number, like 'val loss ([0-9.]+)'")
    return str(value)


def metric_name(regex: str) -> str:
    """A metric's name from the literal text before its regex's number: 'val loss
    ([0-9.]+)' -> val_loss, 'step \\d+: val_bpb=([0-9.]+)' -> val_bpb; else "metric"."""
    text = re.sub(r"\\[A-Za-z]|\[[^\]]*\]|[*+?]|\{[\d,]*\}", " ", regex.split("(", 1)[0])
    words = [part.split() for part in re.split(r"[^\w\s]", text) if part.strip()]
    return "_".join(words[-1]).lower() if words else "metric"


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(f"{where} must be an integer >= {minimum}")
    return value


def _whole(minimum: int) -> Check:
    return lambda value, where: _int(value, where, minimum)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _fail(f"{where} must be a number >= 0")
    return float(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(f"{where} must be true or false")
    return value


def _policy(value: Any, where: str) -> str:
    names = sorted(POLICIES)
    if value not in names:
        raise _fail(f"{where} {value!r} is unknown — use one of {', '.join(names)}")
    return str(value)


def _slots(value: Any, where: str) -> int | str | list[int]:
    if isinstance(value, list):
        return [_int(s, f"{where} (GPU ids)") for s in value]
    return value if value == "auto" else _int(value, where, minimum=1)


def _executor(value: Any, where: str) -> str:
    if value not in EXECUTORS:
        raise _fail(f"{where} {value!r} is unknown — use {' or '.join(EXECUTORS)}")
    return str(value)


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(f"{where} must be a non-empty string")
    return value


def _slot_price(value: Any, where: str) -> float:
    price = _number(value, where)
    if price == 0:  # free slots would make a free persona's experiments cost nothing
        raise _fail(
            f"{where} must be > 0 — the slots' time is what the bandit weighs agent dollars "
            "against; use e.g. 0.01 if yours cost nothing"
        )
    return price


def _shell_command(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(f"{where} must be a string (a shell command)")
    return value


def _persona(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(f'{where} must be the persona of an [[agents]] entry, like "architect"')
    return value.strip()


def _events(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or any(e not in EVENTS for e in value):
        raise _fail(f"{where} must be a list of {', '.join(EVENTS)} — got {value!r}")
    return tuple(value)


# -- the tables ------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetConfig:
    run: str = field(
        metadata=rule("one experiment's command, run in its worktree", _text, '"python train.py"')
    )
    editable: list[str] = field(
        metadata=rule("the only files agents may change", _paths, '["train.py"]')
    )
    metric: str = field(  # without it: named after metric_regex (`metric_name`)
        default="",
        metadata=rule('the result: the last "METRIC: <float>" line', _text, '"val_bpb"'),
    )
    readonly: list[str] = field(
        default_factory=list,
        metadata=rule("files hashed before and after each run; a change: invalid", _paths_or_none),
    )
    goal: Literal["min", "max"] = field(
        default="min", metadata=rule('"min" or "max": which way is better', _goal)
    )
    timeout_s: float = field(
        default=600.0, metadata=rule("hard wall-clock limit of one experiment", _seconds)
    )
    metric_regex: str = field(
        default="", metadata=rule("instead of METRIC: a regex's last match (one group)", _regex)
    )
    link: list[str] = field(
        default_factory=list,
        metadata=rule("uncommitted paths of the checkout each run sees (symlinks)", _paths_or_none),
    )


@dataclass(frozen=True)
class SearchConfig:
    policy: str = field(
        default="best-first", metadata=rule("which node to expand next (search/policies)", _policy)
    )
    slots: int | str | list[int] = field(
        default="auto", metadata=rule('"auto", a count, or a list of GPU ids', _slots)
    )
    cpu_threads: int = field(
        default=0, metadata=rule("threads per CPU slot; 0 = split the cores evenly", _whole(0))
    )
    max_cost_usd: float = field(
        default=0.0, metadata=rule("agent spend that ends the proposals; 0 = no budget", _number)
    )
    max_debug_depth: int = field(
        default=3, metadata=rule("AIDE: at most this many debug steps in a row", _whole(0))
    )
    lookahead: int = field(
        default=0,
        metadata=rule("proposals ready beyond the free slots; 0 = one per slot", _whole(0)),
    )
    seed: int = field(
        default=0, metadata=rule("the seed of the experiments and the agents' choices", _whole(0))
    )
    base_runs: int = field(
        default=3, metadata=rule("runs of the base at the start: the run-to-run spread", _whole(1))
    )
    confirm_runs: int = field(
        default=1, metadata=rule("re-runs of the best before its gain counts; 0 = none", _whole(0))
    )
    confirm_after: int = field(
        default=4,
        metadata=rule("experiments a best survives before its re-run; 0 = at once", _whole(0)),
    )
    merge: bool = field(
        default=True, metadata=rule("merge improving branches that changed different things", _bool)
    )
    uct_c: float = field(
        default=0.5, metadata=rule("the `uct` policy's exploration constant", _number)
    )
    bandit: bool = field(
        default=False, metadata=rule("pick personas by confirmed gains per unit cost", _bool)
    )
    bandit_c: float = field(
        default=0.5, metadata=rule("the persona bandit's exploration constant", _number)
    )
    slot_hour_usd: float = field(
        default=2.0,
        metadata=rule("one slot-hour's price (the bandit adds it to agent $)", _slot_price),
    )
    executor: str = field(
        default="local", metadata=rule('"local": this machine; "ray": a Ray cluster', _executor)
    )
    ray_address: str = field(
        default="auto",
        metadata=rule('the Ray cluster (ray.init(address=...)); "local" starts one', _address),
    )
    lessons_every: int = field(
        default=10,
        metadata=rule("experiments between two lessons notes by a model; 0 = off", _whole(0)),
    )
    lessons_agent: str = field(
        default="", metadata=rule('its persona; "" = the first model-backed agent', _persona)
    )
    max_log_mb: float = field(default=50.0, metadata=rule("a run's log cap; 0 = none", _number))


# [notify] is declared in search/notify.py; its checks live here, beside the others.
NOTIFY_RULES = {
    "command": Rule("a shell command run with each message on stdin", _shell_command),
    "events": Rule("which messages to send", _events),
    "timeout_s": Rule("the command's time limit", _number),
}


@dataclass(frozen=True)
class Config:
    """A validated workspace: its root, target, search settings and agents."""

    root: Path
    target: TargetConfig
    search: SearchConfig
    agents: list[AgentSpec]
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    contain: ContainConfig = field(default_factory=ContainConfig)  # [search] sandbox, env_*
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)  # early_config.py
    archive: Path | None = None  # an archived run's folder, read only (search/runs.py)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def db_path(self) -> Path:
        return (self.archive or self.state_dir) / "state.db"

    @property
    def log_dir(self) -> Path:
        return (self.archive or self.state_dir) / "logs"

    def log_path(self, node: str) -> Path:
        return self.log_dir / f"{node}.log"


def state_db_path(root: Path) -> Path:
    """`.autoresearch/state.db` of the workspace at `root` (whether or not it exists)."""
    return root / STATE_DIR / "state.db"


# -- reading ---------------------------------------------------------------------------
def _check_keys(table: dict[str, Any], allowed: list[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"allowed: {', '.join(allowed)}"
            raise _fail(f"unknown key {where}.{key} — {hint}")


def _names(cls: type[DataclassInstance]) -> list[str]:
    return [f.name for f in fields(cls)]


def _read(
    cls: type[Table], raw: dict[str, Any], table: str, rules: Mapping[str, Rule] | None = None
) -> Table:
    """`cls` from its TOML table: unknown keys refused, each given value passed through its
    field's rule (or `rules[name]`), a value not given left to the field's default."""
    _check_keys(raw, _names(cls), table)
    values: dict[str, Any] = {}
    for declared in fields(cls):
        rule: Rule = rules[declared.name] if rules is not None else declared.metadata["rule"]
        where = f"{table} {declared.name}"
        try:
            if declared.name in raw:
                values[declared.name] = rule.check(raw[declared.name], where)
            elif not _has_default(declared):
                raise _Missing
        except _Missing:
            raise _fail(f"{where} is missing — add {declared.name} = {rule.example}") from None
    return cls(**values)


def _has_default(declared: dataclasses.Field[Any]) -> bool:
    missing = dataclasses.MISSING
    return declared.default is not missing or declared.default_factory is not missing


def _target(raw: dict[str, Any]) -> TargetConfig:
    target = _read(TargetConfig, raw, "[target]")
    if not target.metric:
        if not target.metric_regex:
            raise _fail('[target] metric is missing — add metric = "val_bpb" (or metric_regex)')
        target = dataclasses.replace(target, metric=metric_name(target.metric_regex))
    if both := sorted(set(target.editable) & set(target.readonly)):
        raise _fail(f"{both[0]} is both editable and readonly — keep it in one list")
    return target


def _agent(raw: Any, index: int) -> AgentSpec:
    where = f"[[agents]] #{index + 1}"
    if not isinstance(raw, dict):
        raise _fail(f"{where} must be a table with persona and backend")
    _check_keys(raw, _names(AgentSpec), where)
    spec = AgentSpec(**{"persona": "", **raw})
    if problem := spec.problem():
        raise _fail(f"{where} {problem}")
    return spec


def _notify(raw: Any) -> NotifyConfig:
    if not isinstance(raw, dict):
        raise _fail("notify must be a [notify] table")
    return _read(NotifyConfig, raw, "[notify]", NOTIFY_RULES)


def parse_agents(spec: str) -> list[AgentSpec]:
    """`architect@anthropic:claude-opus-4-6,explorer@mutator` -> agent specs."""
    agents = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        persona, at, rest = item.partition("@")
        if not at:
            raise ConfigError(f"--agents: {item!r} has no backend — give persona@backend, e.g. "
                              f"{item}@mutator or {item}@anthropic:claude-opus-4-6")  # fmt: skip
        backend, _, model = rest.partition(":")
        if not persona or backend not in BACKENDS:
            raise ConfigError(
                f"--agents: {item!r} is not persona@backend[:model] with a backend of "
                f"{', '.join(BACKENDS)} — e.g. explorer@mutator"
            )
        agents.append(AgentSpec(persona=persona, backend=backend, model=model))
    if not agents:
        raise ConfigError("--agents: no agent given — e.g. --agents explorer@mutator")
    return agents


def git_toplevel(path: Path) -> Path | None:
    """The root of the git work tree holding `path`, or None outside git."""
    out = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True
    )
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 else None


def _workspace_file(root: Path) -> dict[str, Any]:
    """The parsed autoresearch.toml at the root of the git work tree `root`."""
    if not root.is_dir():
        raise ConfigError(f"{root}: no such directory — give a workspace directory")
    config_path = root / CONFIG_NAME
    if not config_path.is_file():
        raise ConfigError(
            f"{root}: no {CONFIG_NAME} — write one (see README) or run `autoresearch-tui init {root}`"
        )
    top = git_toplevel(root)
    if top is None:
        raise ConfigError(
            f"{root}: not a git repository — run `git init && git add -A && git commit` there"
        )
    if top != root:
        raise ConfigError(
            f"{root}: {CONFIG_NAME} must be at the root of the git repository ({top})"
        )
    try:
        return tomllib.loads(config_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: {exc} — fix the TOML syntax") from None


def _check_files(root: Path, target: TargetConfig, check_clean: bool) -> None:
    files = target.editable + target.readonly
    problem = files_problem(root, target.editable, target.readonly)
    if problem or (problem := link_problem(root, target.link, files)):
        raise _fail(problem)
    if check_clean and (problem := clean_problem(root, files)):
        raise ConfigError(problem)


def load_config(directory: str | os.PathLike[str], *, check_clean: bool = True) -> Config:
    """Read and validate DIR/autoresearch.toml; raise ConfigError with a one-line fix."""
    root = Path(directory).expanduser().resolve()
    raw = _workspace_file(root)
    _check_keys(raw, TABLES, "top level")
    if not isinstance(raw.get("target"), dict):
        raise _fail("no [target] table — add one with editable, run and metric")
    target = _target(raw["target"])
    contain, search_raw = read_contain(raw.get("search", {}), _fail)  # search/contain.py
    early_stop, search_raw = read_early_stop(search_raw, _fail)  # search/early_config.py
    search = _read(SearchConfig, search_raw, "[search]")
    agents_raw = raw.get("agents", [])
    if not isinstance(agents_raw, list):
        raise _fail("agents must be [[agents]] tables")
    agents = [_agent(a, i) for i, a in enumerate(agents_raw)] or [AgentSpec("explorer", "mutator")]
    if problem := lessons_agent_problem(search.lessons_agent, agents):
        raise _fail(f"[search] lessons_agent {problem}")
    _check_files(root, target, check_clean)
    notify = _notify(raw.get("notify", {}))
    return Config(root, target, search, agents, notify, contain=contain, early_stop=early_stop)
