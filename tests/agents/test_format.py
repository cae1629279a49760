"""agents/format.py: the one way metrics, deltas, durations and counts read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from autoresearch_tui.agents.format import (
    fmt_count,
    fmt_delta,
    fmt_duration,
    fmt_memory,
    fmt_metric,
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.105, "1.1050"),  # four decimals, trailing zeros kept: metrics line up
        (1.03512, "1.0351"),
        (0.993245, "0.99325"),  # five significant digits below 1
        (35.1234, "35.1234"),
        (0.0012346, "0.0012346"),
        (1234.56, "1234.6"),
        (12345.6, "12346"),
        (0.0, "0.0000"),
        (-0.5, "-0.50000"),
        (2e10, "2.0000e+10"),
        (None, "-"),
        (float("nan"), "-"),
        (float("inf"), "-"),
    ],
)
def test_metric(value: float | None, text: str) -> None:
    assert fmt_metric(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-0.05, "-0.0500"),
        (0.0, "+0.0000"),
        (1.0352 - 1.035, "+0.0002"),  # float noise does not leak
        (3e-5, "+0.00003"),  # a real difference never reads +0.0000
        (-2e-7, "-0.0000002"),
        (123.4567, "+123.4567"),
        (2e10, "+2e+10"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_delta(value: float | None, text: str) -> None:
    assert fmt_delta(value) == text


def test_unsigned_delta_for_a_spread() -> None:
    assert fmt_delta(0.00123, signed=False) == "0.0012"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (42.9, "0:42"), (723, "12:03"), (3723, "1:02:03"), (-5, "0:00"), (None, "-")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert fmt_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0, "0"), (None, "0"), (950, "950"), (1234, "1.2k"), (3.4e6, "3.4M")]
)
def test_count(value: float | None, text: str) -> None:
    assert fmt_count(value) == text


def test_no_other_module_defines_a_number_formatter() -> None:
    """One definition (issue 11): a `fmt_*` function anywhere else is a second formatter."""
    root = Path(__file__).resolve().parents[2]
    found = [
        f"{path.relative_to(root)}: {node.name}"
        for package in ("app", "search", "agents", "trainer")
        for path in (root / package).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("fmt_")
        if path.relative_to(root) != Path("agents/format.py")
    ]
    assert found == []


@pytest.mark.parametrize(
    ("mb", "text"), [(850.0, "850 MB"), (1228.8, "1.2 GB"), (46182.4, "45.1 GB")]
)
def test_memory(mb: float, text: str) -> None:
    assert fmt_memory(mb) == text
