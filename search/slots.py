"""Execution slots: one per visible NVIDIA GPU, else CPU slots that split the cores (or a
Ray cluster's, when `[search] executor = "ray"`)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autoresearch_tui.search.config import SearchConfig


@dataclass(frozen=True)
class Slot:
    name: str  # "gpu0", "cpu1"
    gpu: str | None = None  # a CUDA_VISIBLE_DEVICES entry
    threads: int = 0  # CPU threads for a CPU slot
    remote: str = ""  # "gpu" | "cpu": a slot of a Ray cluster (search/ray_executor.py)

    def env(self) -> dict[str, str]:
        """What an experiment in this slot sees of the hardware."""
        if self.gpu is not None:
            return {"CUDA_VISIBLE_DEVICES": self.gpu}
        if self.remote == "gpu":
            return {}  # Ray sets CUDA_VISIBLE_DEVICES on the worker
        threads = str(max(1, self.threads))
        return {
            "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": threads,
            "MKL_NUM_THREADS": threads,
        }


def visible_gpus() -> list[str]:
    """GPU ids from CUDA_VISIBLE_DEVICES when set, else from `nvidia-smi -L`."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        ids = [g.strip() for g in env.split(",") if g.strip()]
        return [] if not ids or ids[0].startswith("-") else ids
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    lines = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
    return [str(i) for i in range(len(lines))] if out.returncode == 0 else []


def detect_slots(
    setting: int | str | list[int] = "auto",
    *,
    count: int | None = None,
    cpu_threads: int = 0,
    gpus: list[str] | None = None,
) -> list[Slot]:
    """Slots for this machine. `count` (the --slots flag) wins over `setting` (the file)."""
    if isinstance(setting, list):
        gpus = [str(g) for g in setting]
    elif gpus is None:
        gpus = visible_gpus()
    if gpus:
        n = count or (setting if isinstance(setting, int) else len(gpus))
        if n > len(gpus):
            raise ValueError(
                f"--slots {n} but only {len(gpus)} GPU(s) are visible — use --slots {len(gpus)} or fewer"
            )
        return [Slot(name=f"gpu{g}", gpu=g) for g in gpus[:n]]
    n = count or (setting if isinstance(setting, int) else 1)
    cores = os.cpu_count() or 1
    threads = cpu_threads or max(1, cores // n)
    return [Slot(name=f"cpu{i}", threads=threads) for i in range(n)]


def configured_slots(search: SearchConfig, count: int | None = None) -> list[Slot]:
    """The slots `[search]` asks for: this machine's, or a Ray cluster's."""
    if search.executor == "ray":
        from autoresearch_tui.search.ray_executor import ray_slots

        count = count or (search.slots if isinstance(search.slots, int) else None)
        return ray_slots(search.ray_address, count, search.cpu_threads)
    return detect_slots(search.slots, count=count, cpu_threads=search.cpu_threads)
