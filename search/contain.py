"""What a run may reach: the `[search]` settings of containment and one job's `Isolation`.

`[search] sandbox = "auto" | "bwrap" | "none"`, `writable = [...]` (paths a sandboxed run
may write besides its worktree), `network = true`, `env_drop` / `env_keep` (variables a
run never sees / sees although their names look secret). search/config.py calls
`read_contain` on the `[search]` table; the sandbox is search/sandbox.py, the environment
search/processes.py (docs/ARCHITECTURE.md §6).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SANDBOXES = ("auto", "bwrap", "none")


@dataclass(frozen=True)
class ContainConfig:
    """The containment settings of `[search]`."""

    sandbox: str = "auto"  # "auto": bwrap where it can run, else a process group
    writable: tuple[str, ...] = ()  # besides the worktree and a private /tmp (sandbox only)
    network: bool = True  # false: the sandbox has no network (`--unshare-net`)
    env_drop: tuple[str, ...] = ()  # variables no run sees, whatever their names
    env_keep: tuple[str, ...] = ()  # variables a run sees although their names look secret

    def writable_paths(self, root: Path) -> list[Path]:
        """`writable`, `~` expanded, relative paths taken from the workspace root."""
        return [root / Path(os.path.expanduser(p)) for p in self.writable]


@dataclass(frozen=True)
class Isolation:
    """How one job is contained (built by search/running.py for each run)."""

    sandbox: str = "none"  # "bwrap" | "none" | "auto" (decided where the job runs: Ray)
    writable: tuple[str, ...] = ()  # absolute paths
    hidden: tuple[str, ...] = ()  # absolute paths the run must not see (.git, .autoresearch)
    visible: tuple[str, ...] = ()  # paths kept visible under the private /tmp (the workspace)
    network: bool = True
    drop: frozenset[str] = field(default_factory=frozenset)  # variable names never passed
    keep: frozenset[str] = field(default_factory=frozenset)  # passed although secret-looking
    marker: tuple[str, ...] = ()  # NAME=value pairs every process of this run carries


def env_paths(env: Mapping[str, str]) -> list[str]:
    """The existing absolute paths the run's environment names (a data cache such as
    XDG_CACHE_HOME or AR_DATA_DIR): the sandbox keeps those under /tmp visible."""
    return [v for v in env.values() if v.startswith("/") and os.path.exists(v)]


LISTS = ("writable", "env_drop", "env_keep")
KEYS = ("sandbox", "network", *LISTS)


def _names(value: Any, where: str, fail: Callable[[str], Exception]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise fail(f'{where} must be a list of strings, like ["~/.cache/torch"]')
    return tuple(v.strip() for v in value)


def read_contain(
    raw: dict[str, Any], fail: Callable[[str], Exception]
) -> tuple[ContainConfig, dict[str, Any]]:
    """The containment settings of the `[search]` table `raw`, and the rest of the table.
    A bad value raises `fail(one line naming the key and the fix)`."""
    rest = {k: v for k, v in raw.items() if k not in KEYS}
    sandbox = raw.get("sandbox", "auto")
    if sandbox not in SANDBOXES:
        raise fail(f'[search] sandbox must be "auto", "bwrap" or "none", not {sandbox!r}')
    network = raw.get("network", True)
    if not isinstance(network, bool):
        raise fail("[search] network must be true or false")
    lists = {k: _names(raw[k], f"[search] {k}", fail) for k in LISTS if k in raw}
    for path in lists.get("writable", ()):
        if not Path(os.path.expanduser(path)).is_absolute() and ".." in Path(path).parts:
            raise fail(f"[search] writable path {path!r} must not leave the workspace with '..'")
    return ContainConfig(sandbox=sandbox, network=network, **lists), rest
