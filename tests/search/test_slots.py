"""Slot detection: GPUs from CUDA_VISIBLE_DEVICES, else CPU slots that split the cores."""

from __future__ import annotations

import os

import pytest

from autoresearch_tui.search.local_executor import LocalExecutor, detect_slots, visible_gpus
from autoresearch_tui.search.processes import experiment_env
from autoresearch_tui.search.slots import Slot


def test_gpus_from_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")
    assert visible_gpus() == ["2", "3", "5"]
    slots = detect_slots("auto")
    assert [s.name for s in slots] == ["gpu2", "gpu3", "gpu5"]
    assert slots[0].env() == {"CUDA_VISIBLE_DEVICES": "2"}
    assert len(detect_slots("auto", count=2)) == 2
    with pytest.raises(ValueError, match="only 3 GPU"):
        detect_slots("auto", count=4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_cpu_slots_split_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    cores = os.cpu_count() or 1
    one = detect_slots("auto")
    assert one == [Slot("cpu0", threads=cores)]
    four = detect_slots(4)
    assert [s.threads for s in four] == [max(1, cores // 4)] * 4
    assert four[0].env()["CUDA_VISIBLE_DEVICES"] == ""
    assert four[0].env()["OMP_NUM_THREADS"] == str(max(1, cores // 4))
    assert detect_slots("auto", count=2, cpu_threads=3)[1].threads == 3
    assert LocalExecutor(4).slots() == four  # the local executor's slots are these
    assert LocalExecutor("auto", cpu_threads=3).slots(2)[1].threads == 3


def test_experiment_env_has_no_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("MY_SERVICE_API_KEY", "x")
    env = experiment_env({"AR_SEED": "3"})
    assert not [k for k in env if k.endswith("_API_KEY")]
    assert env["AR_SEED"] == "3" and env["PYTHONUNBUFFERED"] == "1"
