"""`bench prompts`: the tree it grows is a real one, its cache figures follow the
providers' rules on constructed prompts, and the command prints sane figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoresearch_tui.agents.prompt import PARENT_MARK, Prompt
from autoresearch_tui.app.bench.prompts import (
    anthropic_cached,
    openai_cached,
    provider_text,
    sections,
    tokens,
)
from autoresearch_tui.app.bench.prompts_tree import grow
from autoresearch_tui.app.cli import main
from autoresearch_tui.search.commit_facts import FactsCache, read_facts
from autoresearch_tui.search.memory import build_memory
from autoresearch_tui.search.model import FINISHED
from autoresearch_tui.search.runlock import release
from autoresearch_tui.search.store import Store


def test_the_grown_tree_is_real_commits_a_store_and_a_memory_with_constants(
    tmp_path: Path,
) -> None:
    ws = grow(tmp_path / "ws", 40, seed=3)
    try:
        tree, git, editable = ws.tree, ws.run.git, list(ws.config.target.editable)
        experiments = [n for n in tree if n.kind != "rerun" and n.status in FINISHED]
        assert len(experiments) == 40
        assert {n.status for n in experiments} >= {"done"}
        assert any(n.status in ("crashed", "timeout") for n in experiments)
        assert sum(1 for n in tree if n.kind == "rerun") >= ws.config.search.base_runs - 1
        assert max(len(tree.lineage(n.id)) for n in tree) > 3  # several depths
        assert len({n.persona for n in experiments if n.parent}) >= 3
        for node in experiments[1:]:  # each child's commit holds its file, on its branch
            assert git.read_files(node.commit, editable) == ws.files[node.id]
            assert git.repo.commit(node.commit).parents[0].hexsha == tree[node.parent or ""].commit
            assert git.repo.refs[node.branch].commit.hexsha == node.commit
        facts = FactsCache()
        facts.add(read_facts(git, facts.missing(tree), editable), tree)
        memory = build_memory(tree, facts, experiments[-1].id)
        assert memory.measured == 40 and memory.spread is not None
        assert len(memory.constants) >= 5  # the constants table is the real one
        assert sum(1 for r in memory.results if r.constants) >= 20
    finally:
        ws.run.store.close()
        release(ws.run.lock)
    stored = Store(ws.config.db_path, readonly=True)
    assert len(stored.load_nodes()) == len(tree)
    stored.close()


def prompt(system: str, files: str, shared: str, parent: str) -> Prompt:
    return Prompt(system, files, f"{shared}\n\n{PARENT_MARK}\n\n{parent}")


def test_cached_shares_follow_each_providers_rule_on_constructed_prompts() -> None:
    system, files, shared = "S" * 8000, "F" * 20000, "M" * 6000  # 2,000, 5,000, 1,500 tokens
    first = prompt(system, files, shared, "lineage of n0001")
    sibling = prompt(system, files, shared, "lineage of n0001, another child")
    other_parent = prompt(system, "G" * 20000, shared, "lineage of n0002")
    other_persona = prompt("S" * 4000 + "B" * 4000, files, shared, "lineage of n0001")
    prompts = [first, sibling, other_parent, other_persona]
    # Anthropic: the longest breakpoint prefix an earlier call wrote, of the model's
    # minimum or more: the sibling reads system + files + the tree-wide part, another
    # parent the system (when 2,000 tokens are enough, as for Sonnet 4.5).
    assert anthropic_cached(prompts, minimum=1024) == [0, 8500, 2000, 0]
    assert anthropic_cached(prompts, 2, 1024) == [0, 7000, 2000, 0]  # without the third
    assert anthropic_cached(prompts) == [0, 8500, 0, 0]  # claude-opus-4-6: from 4,096
    # OpenAI: the longest common prefix with any earlier prompt, in 128-token steps from
    # 1,024: the sibling shares all of the first prompt; another persona 1,000 tokens.
    whole = tokens(len(provider_text(first)))
    assert openai_cached([provider_text(p) for p in prompts]) == [0, whole // 128 * 128, 1920, 0]
    short = [Prompt("s" * 100, "f", "t"), Prompt("s" * 100, "f", "t")]
    assert anthropic_cached(short, minimum=1024) == [0, 0]
    assert openai_cached([provider_text(p) for p in short]) == [0, 0]


def test_sections_add_up_to_the_prompt() -> None:
    task = (
        "# The search so far\n\nMetric: val_bpb.\n\n## Results so far (2)\n- n0000\n\n"
        f"{PARENT_MARK}\n\n## Lineage of the parent n0000 (base -> parent)\n- n0000\n\n"
        "## Lessons so far\nsmall models win\n\n## Your task\nPropose."
    )
    p = Prompt("role\n\n# Research program\n\nprog\n\n# Your persona\n\nbrief", "files", task)
    parts = sections(p)
    assert sum(parts.values()) == len(provider_text(p))
    assert parts["brief"] == len("\n\n# Your persona\n\nbrief") and parts["files"] == 5
    assert parts["results"] == len("## Results so far (2)\n- n0000\n\n")
    assert parts["lessons so far"] == len("## Lessons so far\nsmall models win\n\n")
    assert parts["the ask"] == len("## Your task\nPropose.")


def test_bench_prompts_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prompts.json"
    argv = ["--nodes", "10,40", "--calls", "6", "--anthropic-min", "1024", "--per-call"]
    argv += ["--json", str(out)]
    assert main(["bench", "prompts", *argv]) == 0
    printed = capsys.readouterr().out
    assert "characters / 4 (no tokenizer offline)" in printed and "results" in printed
    assert "breakpoint prefixes from 1,024 tokens" in printed
    assert printed.count(" <n0") >= 12  # --per-call: a line per call, its persona <parent
    small, large = json.loads(out.read_text())
    for r in (small, large):
        assert r["calls"] == 6 and len(r["tokens"]) == 6
        assert all(5_000 < t < 60_000 for t in r["tokens"])  # the files alone are ~6.8k
        for cached in (r["openai"], r["anthropic"], r["anthropic_two"]):
            assert all(0 <= c <= t for c, t in zip(cached, r["tokens"], strict=True))
        assert all(a >= b for a, b in zip(r["anthropic"], r["anthropic_two"], strict=True))
        assert r["anthropic"][0] == r["openai"][0] == 0  # nothing was cached before
        assert sum(r["anthropic"]) > 0  # a persona's second call reads its system (1,024)
        assert r["sections"]["files"] > 20_000 and r["sections"]["the ask"] > 0
    assert large["sections"]["results"] > small["sections"]["results"]
    assert large["sections"]["constants table"] > small["sections"]["constants table"]
    with pytest.raises(SystemExit) as info:
        main(["bench", "prompts", "--nodes", "1"])
    assert info.value.code == 2
    assert "give node counts of 2 or more" in capsys.readouterr().err
