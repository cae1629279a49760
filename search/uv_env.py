"""uv in a worktree: the variables that make `uv run train.py` use the user's checkout's
environment instead of creating and syncing a `.venv` in every experiment's worktree.

Left alone, `uv run` in a worktree finds the project there (pyproject.toml is committed),
creates `<worktree>/.venv` and syncs it from the lock: every experiment would re-install
the project's dependencies (torch included). For a checkout with a `pyproject.toml` or
`uv.lock`, each run gets `UV_PROJECT_ENVIRONMENT` = the checkout's environment (its
absolute path: a relative one would resolve against the worktree), and `UV_NO_SYNC=1`
with `UV_NO_CACHE=1` once that environment exists (no install, so no cache: a sandboxed
run may not write `~/.cache/uv`, search/sandbox.py). Before, `UV_FROZEN=1` (with a lock)
lets an unsandboxed first run sync the checkout's environment from `uv.lock` without
rewriting the lock; `init` (app/init_probe.py) runs the base that way.
A value the user set is kept (a relative `UV_PROJECT_ENVIRONMENT` made absolute against
the checkout). See docs/ARCHITECTURE.md §3 (the environment of a run).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_FILES = ("uv.lock", "pyproject.toml")


def uv_env(checkout: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The extra variables of a run for the user's checkout `checkout`; {} when it is not
    a uv (or pyproject) project."""
    environ = os.environ if environ is None else environ
    if not any((checkout / name).is_file() for name in PROJECT_FILES):
        return {}
    given = environ.get("UV_PROJECT_ENVIRONMENT", "")
    venv = checkout / given if given else checkout / ".venv"  # an absolute `given` wins
    extra = {"UV_PROJECT_ENVIRONMENT": str(venv.absolute())}
    if (venv / "pyvenv.cfg").is_file():
        extra["UV_NO_SYNC"] = "1"
        extra["UV_NO_CACHE"] = "1"  # nothing to install; a sandboxed run cannot write ~/.cache
    elif (checkout / "uv.lock").is_file():
        extra["UV_FROZEN"] = "1"
    return {k: v for k, v in extra.items() if k == "UV_PROJECT_ENVIRONMENT" or k not in environ}
