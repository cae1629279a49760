"""One number per node (search/values.py): a node's value is the mean of its runs, its Δ
is that minus its reference's value with the word for the goal, its verdict compares the
Δ with the run-to-run spread; re-runs are samples of their node, never changes."""

from __future__ import annotations

import pytest

from autoresearch_tui.agents.format import change_word, fmt_change, fmt_sample, fmt_value
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.tree import Tree
from autoresearch_tui.search.values import (
    BASE,
    CONFIRMED,
    NO_REFERENCE,
    NOISE_UNKNOWN,
    SAMPLE,
    SEED_ONLY,
    UNCONFIRMED,
    UNMEASURED,
    VERDICTS,
    WITHIN_NOISE,
    WORSE,
    best_text,
    node_value,
    sample_index,
)


def node(nid: str, parent: str | None, metric: float | None, **kw: object) -> Node:
    status = kw.pop("status", "done" if metric is not None else "crashed")
    kind = kw.pop("kind", "root" if parent is None else "improve")
    return Node(nid, parent, status=status, kind=kind, metric=metric, **kw)  # type: ignore[arg-type]


def seeded(goal: str = "min") -> Tree:
    """The base run three times (spread 2 x 0.004), a confirmed gain with its re-run, a
    within-noise child, a worse one, a crash, a better one run once, and a merge."""
    s = 1.0 if goal == "min" else -1.0
    return Tree(
        goal,
        [
            node("n0000", None, 2 + s * 0.100),
            node("n0001", "n0000", 2 + s * 0.104, kind="rerun"),
            node("n0002", "n0000", 2 + s * 0.096, kind="rerun"),
            node("n0003", "n0000", 2 + s * 0.050),
            node("n0004", "n0003", 2 + s * 0.052, kind="rerun"),
            node("n0005", "n0003", 2 + s * 0.049),
            node("n0006", "n0000", None, reason="boom"),
            node("n0007", "n0003", 2 + s * 0.080),
            node("n0008", "n0000", 2 + s * 0.070),
            node("n0009", "n0003", 2 + s * 0.020, kind="merge", other_parents=["n0008"]),
            node("n0010", "n0008", 2 + s * 0.030, seed_only=True),
        ],
    )


@pytest.mark.parametrize("goal", ["min", "max"])
def test_values_deltas_and_verdicts_of_a_seeded_tree(goal: str) -> None:
    tree, s = seeded(goal), (1.0 if goal == "min" else -1.0)
    v = {n.id: node_value(tree, n.id) for n in tree}
    # the base: the mean of its three runs, no Δ
    assert v["n0000"].value == pytest.approx(2 + s * 0.1) and v["n0000"].runs == 3
    assert v["n0000"].delta is None and v["n0000"].verdict == BASE and v["n0000"].vs_base is None
    # a confirmed gain: two runs, beyond the spread (pooled sd 0.00337: spread 0.0067)
    assert v["n0003"].runs == 2 and v["n0003"].value == pytest.approx(2 + s * 0.051)
    assert v["n0003"].delta == pytest.approx(-s * 0.049) and v["n0003"].better is True
    assert v["n0003"].reference == "n0000" and v["n0003"].verdict == CONFIRMED
    # Δ against the parent's mean (1.051), not its first run (1.050): within the noise
    assert v["n0005"].delta == pytest.approx(-s * 0.002) and v["n0005"].verdict == WITHIN_NOISE
    assert v["n0005"].better is True  # better, and within noise: both said, neither hidden
    assert v["n0007"].better is False and v["n0007"].verdict == WORSE
    assert v["n0008"].verdict == UNCONFIRMED and v["n0008"].runs == 1
    # a merge is measured against its better parent
    assert v["n0009"].reference == "n0003" and v["n0009"].delta == pytest.approx(-s * 0.031)
    assert v["n0009"].vs_base == pytest.approx(-s * 0.080) and v["n0009"].base_better is True
    assert v["n0010"].verdict == SEED_ONLY
    assert v["n0006"].value is None and v["n0006"].runs == 0 and v["n0006"].verdict == UNMEASURED
    # re-runs and calibration runs: samples of their node, never a change
    for rerun, of, index in (("n0001", "n0000", 2), ("n0002", "n0000", 3), ("n0004", "n0003", 2)):
        assert v[rerun].sample_of == of and v[rerun].sample_index == index
        assert v[rerun].delta is None and v[rerun].verdict == SAMPLE and v[rerun].vs_base is None
        assert v[rerun].value == tree[rerun].metric
    assert {x.verdict for x in v.values()} <= set(VERDICTS)
    # the engine's own rule for "confirmed" agrees (search/tree.py gain_state)
    for nid, x in v.items():
        assert (x.verdict == CONFIRMED) == (tree.gain_state(nid) == "confirmed")


def test_the_one_text_form() -> None:
    tree = seeded()
    text = {n.id: node_value(tree, n.id).text() for n in tree}
    assert text["n0000"] == "2.1000 (mean of 3): base"
    assert text["n0003"] == "2.0510 (mean of 2), Δ -0.0490 better vs n0000: confirmed"
    assert text["n0005"] == "2.0490 (1 run), Δ -0.0020 better vs n0003: within noise"
    assert text["n0007"] == "2.0800 (1 run), Δ +0.0290 worse vs n0003: worse"
    assert text["n0009"] == "2.0200 (1 run), Δ -0.0310 better vs n0003: unconfirmed"
    assert text["n0001"] == "2.1040 (run 2 of n0000)" and text["n0006"] == "unmeasured"
    best = node_value(tree, "n0009")
    assert best.short_value() == "2.0200" and node_value(tree, "n0003").short_value() == "2.0510×2"
    assert best.base_text() == "Δ vs base -0.0800 (-3.8%) better"
    assert best.base_text(share=False) == "Δ vs base -0.0800 better"
    assert best_text(tree) == "best n0009 2.0200 (1 run) · Δ vs base -0.0800 (-3.8%) better · unconfirmed"  # fmt: skip
    assert node_value(tree, "n0003").mark == "✓" and best.mark == "?"
    assert node_value(tree, "n0005").mark == "≈" and node_value(tree, "n0007").mark == ""
    row = best.as_json()
    assert row["value"] == best.value and row["runs"] == 1 and row["verdict"] == UNCONFIRMED
    assert row["delta"] == best.delta and row["delta_vs"] == "n0003" and row["text"] == best.text()


def test_higher_is_better_words() -> None:
    tree = seeded("max")
    assert node_value(tree, "n0003").text() == (
        "1.9490 (mean of 2), Δ +0.0490 better vs n0000: confirmed"
    )
    assert node_value(tree, "n0007").change_text() == "Δ -0.0290 worse vs n0003"


def test_noise_unknown_and_no_reference() -> None:
    tree = Tree("min", [node("n0000", None, 1.0), node("n0001", "n0000", 0.9)])
    assert node_value(tree, "n0001").verdict == NOISE_UNKNOWN  # no commit ran twice
    assert node_value(tree, "n0001").mark == "?"
    crashed_base = Tree("min", [node("n0000", None, None), node("n0001", "n0000", 0.9)])
    assert node_value(crashed_base, "n0001").verdict == NO_REFERENCE
    assert node_value(crashed_base, "n0001").delta is None
    assert best_text(Tree("min", [node("n0000", None, None)])) == ""


def test_a_crashed_rerun_keeps_its_place_and_counts_no_sample() -> None:
    tree = Tree(
        "min",
        [
            node("n0000", None, 1.0),
            node("n0001", "n0000", None, kind="rerun"),
            node("n0002", "n0000", 1.2, kind="rerun"),
        ],
    )
    assert sample_index(tree, "n0001") == 2 and sample_index(tree, "n0002") == 3
    base = node_value(tree, "n0000")
    assert base.runs == 2 and base.value == pytest.approx(1.1)
    assert node_value(tree, "n0001").text() == "- (run 2 of n0000)"


def test_the_format_pieces() -> None:
    assert fmt_value(1.90471, 3) == "1.9047 (mean of 3)" and fmt_value(2.0, 1) == "2.0000 (1 run)"
    assert fmt_value(None, 0) == "-" and fmt_sample(2.862, 2, "n0000") == "2.8620 (run 2 of n0000)"
    assert change_word(-0.1, True) == "better" and change_word(0.1, False) == "worse"
    assert change_word(0.0, None) == "equal" and change_word(None, None) == ""
    assert fmt_change(-0.01, True, "n0007") == "Δ -0.0100 better vs n0007"
    assert fmt_change(None, None) == ""
