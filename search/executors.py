"""Choosing the executor: `[search] executor` names one (docs/ARCHITECTURE.md §6).

`make_executor` is called once, when the scheduler is built (the search benchmark
passes its own in-process executor instead). Add an executor by writing a class with the
`Executor` protocol's members (search/executor.py) and naming it in `EXECUTORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from autoresearch_tui.search.executor import Executor
from autoresearch_tui.search.local_executor import LocalExecutor
from autoresearch_tui.search.ray_executor import RayExecutor

if TYPE_CHECKING:
    from autoresearch_tui.search.config import SearchConfig


def _local(search: SearchConfig) -> Executor:
    return LocalExecutor(search.slots, search.cpu_threads)


def _ray(search: SearchConfig) -> Executor:
    return RayExecutor(search.ray_address, search.slots, search.cpu_threads)


EXECUTORS: dict[str, Callable[[SearchConfig], Executor]] = {"local": _local, "ray": _ray}


def make_executor(search: SearchConfig) -> Executor:
    """The executor `[search] executor` names."""
    try:
        make = EXECUTORS[search.executor]
    except KeyError:
        raise ValueError(
            f"[search] executor {search.executor!r} is unknown — use one of {', '.join(EXECUTORS)}"
        ) from None
    return make(search)
