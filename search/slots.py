"""A slot: one place an experiment runs, and what the experiment sees of the hardware there.

Which slots there are is the executor's to say (docs/ARCHITECTURE.md §6): this machine's
GPUs or CPU slots (search/local_executor.py), or a Ray cluster's (search/ray_executor.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    name: str  # "gpu0", "cpu1", "ray-gpu3"
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
