"""The workspace file: `autoresearch.toml` read with tomllib into dataclasses, validated.

Every problem is a `ConfigError` whose message is one line naming the field or path and
the fix; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.notify import EVENTS, NotifyConfig

CONFIG_NAME = "autoresearch.toml"
STATE_DIR = ".autoresearch"
BACKENDS = ("anthropic", "openai", "openai-compatible", "mutator", "command")
POLICIES = ("best-first", "ratchet", "uct")


class ConfigError(ValueError):
    """A workspace problem the person must fix; the message is one line."""


@dataclass(frozen=True)
class TargetConfig:
    editable: list[str]
    run: str
    metric: str
    readonly: list[str] = field(default_factory=list)
    metric_regex: str = ""
    goal: Literal["min", "max"] = "min"
    timeout_s: float = 600.0


@dataclass(frozen=True)
class SearchConfig:
    policy: str = "best-first"
    slots: int | str | list[int] = "auto"  # "auto", a count, or a list of GPU ids
    cpu_threads: int = 0  # threads per CPU slot; 0 = split the cores evenly
    max_cost_usd: float = 0.0  # 0 = no budget
    max_debug_depth: int = 3  # AIDE: at most 3 debug steps in a row below a crash
    lookahead: int = 0  # proposals kept ready beyond the free slots; 0 = one per slot
    seed: int = 0
    base_runs: int = 3  # runs of the base at the start, to measure run-to-run spread
    confirm_runs: int = 1  # re-runs of the best before its gain counts; 0 = none
    confirm_after: int = 4  # experiments a best survives before its re-run; 0 = at once
    merge: bool = True  # merge improving branches that changed different things
    uct_c: float = 0.5  # the `uct` policy's exploration constant
    bandit: bool = False  # pick personas by confirmed gains per unit cost
    bandit_c: float = 0.5  # the persona bandit's exploration constant
    slot_hour_usd: float = 2.0  # what one slot-hour costs (the bandit adds it to agent $)
    executor: str = "local"  # "local": this machine; "ray": a Ray cluster
    ray_address: str = "auto"  # the cluster (`ray.init(address=...)`); "local" starts one


@dataclass(frozen=True)
class Config:
    """A validated workspace: its root, target, search settings and agents."""

    root: Path
    target: TargetConfig
    search: SearchConfig
    agents: list[AgentSpec]
    notify: NotifyConfig = field(default_factory=NotifyConfig)

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def db_path(self) -> Path:
        return state_db_path(self.root)

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def log_path(self, node: str) -> Path:
        return self.log_dir / f"{node}.log"


def state_db_path(root: Path) -> Path:
    """`.autoresearch/state.db` of the workspace at `root` (whether or not it exists)."""
    return root / STATE_DIR / "state.db"


def _check_keys(table: dict[str, Any], allowed: list[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"allowed: {', '.join(allowed)}"
            raise ConfigError(f"{CONFIG_NAME}: unknown key {where}.{key} — {hint}")


def _names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f'{CONFIG_NAME}: {where} must be a list of paths, like ["train.py"]')
    return value


def _relative_path(path: str, where: str) -> str:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise ConfigError(
            f"{CONFIG_NAME}: {where} path {path!r} must be relative to the workspace, without '..'"
        )
    return str(pure)


def _target(raw: dict[str, Any]) -> TargetConfig:
    _check_keys(raw, _names(TargetConfig), "[target]")
    for required, example in (("run", '"python train.py"'), ("metric", '"val_bpb"')):
        if not isinstance(raw.get(required), str) or not raw[required].strip():
            raise ConfigError(
                f"{CONFIG_NAME}: [target] {required} is missing — add {required} = {example}"
            )
    if "editable" not in raw:
        raise ConfigError(
            f'{CONFIG_NAME}: [target] editable is missing — add editable = ["train.py"]'
        )
    editable = [
        _relative_path(p, "[target] editable")
        for p in _string_list(raw["editable"], "[target] editable")
    ]
    readonly = (
        [
            _relative_path(p, "[target] readonly")
            for p in _string_list(raw.get("readonly", []), "[target] readonly")
        ]
        if raw.get("readonly")
        else []
    )
    if both := sorted(set(editable) & set(readonly)):
        raise ConfigError(
            f"{CONFIG_NAME}: {both[0]} is both editable and readonly — keep it in one list"
        )
    goal = raw.get("goal", "min")
    if goal not in ("min", "max"):
        raise ConfigError(f'{CONFIG_NAME}: [target] goal must be "min" or "max", not {goal!r}')
    timeout = raw.get("timeout_s", 600)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigError(f"{CONFIG_NAME}: [target] timeout_s must be a positive number of seconds")
    regex = raw.get("metric_regex", "")
    if regex:
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ConfigError(
                f"{CONFIG_NAME}: [target] metric_regex does not compile: {exc}"
            ) from None
        if compiled.groups < 1:
            raise ConfigError(
                f"{CONFIG_NAME}: [target] metric_regex needs one group around the number, "
                "like 'val loss ([0-9.]+)'"
            )
    return TargetConfig(
        editable=editable,
        readonly=readonly,
        run=raw["run"],
        metric=raw["metric"],
        metric_regex=regex,
        goal=goal,
        timeout_s=float(timeout),
    )


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{CONFIG_NAME}: {where} must be an integer >= {minimum}")
    return value


def _search(raw: dict[str, Any]) -> SearchConfig:
    _check_keys(raw, _names(SearchConfig), "[search]")
    policy = raw.get("policy", "best-first")
    if policy not in POLICIES:
        raise ConfigError(
            f"{CONFIG_NAME}: [search] policy {policy!r} is unknown — use one of {', '.join(POLICIES)}"
        )
    slots = raw.get("slots", "auto")
    if isinstance(slots, list):
        slots = [_int(s, "[search] slots (GPU ids)") for s in slots]
    elif slots != "auto":
        slots = _int(slots, "[search] slots", minimum=1)
    executor = raw.get("executor", "local")
    if executor not in ("local", "ray"):
        raise ConfigError(
            f"{CONFIG_NAME}: [search] executor {executor!r} is unknown — use local or ray"
        )
    address = raw.get("ray_address", "auto")
    if not isinstance(address, str) or not address:
        raise ConfigError(f"{CONFIG_NAME}: [search] ray_address must be a non-empty string")
    cost = raw.get("max_cost_usd", 0.0)
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        raise ConfigError(f"{CONFIG_NAME}: [search] max_cost_usd must be a number >= 0")
    return SearchConfig(
        policy=policy,
        slots=slots,
        cpu_threads=_int(raw.get("cpu_threads", 0), "[search] cpu_threads"),
        max_cost_usd=float(cost),
        max_debug_depth=_int(raw.get("max_debug_depth", 3), "[search] max_debug_depth"),
        lookahead=_int(raw.get("lookahead", 0), "[search] lookahead"),
        seed=_int(raw.get("seed", 0), "[search] seed"),
        base_runs=_int(raw.get("base_runs", 3), "[search] base_runs", minimum=1),
        confirm_runs=_int(raw.get("confirm_runs", 1), "[search] confirm_runs"),
        confirm_after=_int(raw.get("confirm_after", 4), "[search] confirm_after"),
        merge=_bool(raw.get("merge", True), "[search] merge"),
        uct_c=_number(raw.get("uct_c", 0.5), "[search] uct_c"),
        bandit=_bool(raw.get("bandit", False), "[search] bandit"),
        bandit_c=_number(raw.get("bandit_c", 0.5), "[search] bandit_c"),
        slot_hour_usd=_slot_price(raw.get("slot_hour_usd", 2.0)),
        executor=executor,
        ray_address=address,
    )


def _slot_price(value: Any) -> float:
    price = _number(value, "[search] slot_hour_usd")
    if price == 0:  # free slots would make a free persona's experiments cost nothing
        raise ConfigError(
            f"{CONFIG_NAME}: [search] slot_hour_usd must be > 0 — the slots' time is what the "
            "bandit weighs agent dollars against; use e.g. 0.01 if yours cost nothing"
        )
    return price


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{CONFIG_NAME}: {where} must be true or false")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{CONFIG_NAME}: {where} must be a number >= 0")
    return float(value)


def _agent(raw: Any, index: int) -> AgentSpec:
    where = f"[[agents]] #{index + 1}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{CONFIG_NAME}: {where} must be a table with persona and backend")
    _check_keys(raw, _names(AgentSpec), where)
    if not isinstance(raw.get("persona"), str) or not raw["persona"]:
        raise ConfigError(f'{CONFIG_NAME}: {where} has no persona — add persona = "explorer"')
    backend = raw.get("backend", "mutator")
    if backend not in BACKENDS:
        raise ConfigError(
            f"{CONFIG_NAME}: {where} backend {backend!r} is unknown — use one of {', '.join(BACKENDS)}"
        )
    if backend == "command" and not raw.get("command"):
        raise ConfigError(f'{CONFIG_NAME}: {where} backend "command" needs command = "claude -p"')
    try:
        return AgentSpec(**raw)
    except TypeError as exc:
        raise ConfigError(f"{CONFIG_NAME}: {where}: {exc}") from None


def parse_agents(spec: str) -> list[AgentSpec]:
    """`architect@anthropic:claude-opus-4-6,explorer@mutator` -> agent specs."""
    agents = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        persona, _, rest = item.partition("@")
        backend, _, model = (rest or "mutator").partition(":")
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


def load_config(directory: str | os.PathLike[str], *, check_clean: bool = True) -> Config:
    """Read and validate DIR/autoresearch.toml; raise ConfigError with a one-line fix."""
    root = Path(directory).expanduser().resolve()
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
        raw = tomllib.loads(config_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: {exc} — fix the TOML syntax") from None
    _check_keys(raw, ["target", "search", "agents", "notify"], "top level")
    if not isinstance(raw.get("target"), dict):
        raise ConfigError(
            f"{CONFIG_NAME}: no [target] table — add one with editable, run and metric"
        )
    target = _target(raw["target"])
    search = _search(raw.get("search", {}))
    agents_raw = raw.get("agents", [])
    if not isinstance(agents_raw, list):
        raise ConfigError(f"{CONFIG_NAME}: agents must be [[agents]] tables")
    agents = [_agent(a, i) for i, a in enumerate(agents_raw)] or [AgentSpec("explorer", "mutator")]
    for path in target.editable + target.readonly:
        if not (root / path).is_file():
            kind = "editable" if path in target.editable else "readonly"
            raise ConfigError(
                f"{CONFIG_NAME}: {kind} file {path} does not exist in {root} — fix [target] {kind}"
            )
        if (root / path).is_symlink():
            raise ConfigError(f"{CONFIG_NAME}: {path} is a symlink — list the real file instead")
    if check_clean:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
        changed = [line[3:] for line in dirty if line.strip()]
        if changed:
            raise ConfigError(
                f"{root}: uncommitted changes ({', '.join(changed[:3])}) — commit or stash them "
                "first; the search starts from a commit"
            )
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", *target.editable, *target.readonly],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if tracked.returncode != 0:
            raise ConfigError(
                f"{root}: {tracked.stderr.strip().splitlines()[0]} — `git add` and commit the "
                "editable and readonly files"
            )
    notify = _notify(raw.get("notify", {}))
    return Config(root=root, target=target, search=search, agents=agents, notify=notify)


def _notify(raw: Any) -> NotifyConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{CONFIG_NAME}: notify must be a [notify] table")
    _check_keys(raw, _names(NotifyConfig), "[notify]")
    command = raw.get("command", "")
    if not isinstance(command, str):
        raise ConfigError(f"{CONFIG_NAME}: [notify] command must be a string (a shell command)")
    events = raw.get("events", list(EVENTS))
    if not isinstance(events, list) or any(e not in EVENTS for e in events):
        raise ConfigError(
            f"{CONFIG_NAME}: [notify] events must be a list of {', '.join(EVENTS)} — got {events!r}"
        )
    timeout = _number(raw.get("timeout_s", 30.0), "[notify] timeout_s")
    return NotifyConfig(command=command, events=tuple(events), timeout_s=timeout)
