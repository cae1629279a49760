"""The scripted reader model (app/bench/reader.py): what it reads in a real prompt, what
it chooses, the real openai SDK and backend talking to its server, and a short bench
search with it."""

from __future__ import annotations

import asyncio
import random
import re
from pathlib import Path

import openai
import pytest

from autoresearch_tui.agents.llm_openai import OpenAIChatProposer
from autoresearch_tui.agents.prompt import build_prompt
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.agents.request import (
    ConstantTrial,
    InFlight,
    Memory,
    NodeResult,
    ProposalRequest,
    TriedChange,
)
from autoresearch_tui.app.bench import reader
from autoresearch_tui.app.bench.landscapes import LANDSCAPES
from autoresearch_tui.app.bench.reader_parse import RESULTS, TABLE, hide, read
from autoresearch_tui.app.bench.reader_policy import candidates, rank
from autoresearch_tui.app.bench.search_runs import run_landscape

ADDITIVE = LANDSCAPES["additive"].train_py()


@pytest.fixture(scope="module")
def searched() -> tuple[object, list[tuple[str, list[dict[str, str]]]]]:
    """A real bench search with best-first and the reader (1 seed, 10 experiments), and
    the chats its reader server answered."""
    server = reader.shared_server()
    server.keep, server.prompts = 200, []
    trace = run_landscape("additive", "best-first+reader", 0, 10, 2, "explorer@mutator")
    prompts, server.keep, server.prompts = server.prompts, 0, []
    return trace, prompts


def user_text(chat: list[dict[str, str]]) -> str:
    return next(m["content"] for m in chat if m["role"] == "user")


def description(answer: str) -> str:
    return re.search(r"^DESCRIPTION: (.*)$", answer, re.M).group(1)  # type: ignore[union-attr]


def test_a_search_with_the_reader_finishes_and_reads_its_results(searched) -> None:
    trace, prompts = searched
    assert len(trace.best_true) == 10
    assert trace.best_true[-1] < trace.base_true  # it found a real gain
    improve = [user_text(c) for _, c in prompts if "Propose one child" in user_text(c)]
    assert any(RESULTS in text and TABLE in text for text in improve)


def test_it_reads_a_real_prompt(searched) -> None:
    _, prompts = searched
    text = next(
        user_text(c)
        for _, c in reversed(prompts)
        if TABLE in user_text(c) and "Propose" in user_text(c)
    )
    view = read(text)
    parent = re.search(r"editable files \(node (n\d+)\)", text).group(1)  # type: ignore[union-attr]
    assert view.parent_id == parent and view.path == "train.py"
    assert "MATRIX_LR =" in view.source and "# The search so far" not in view.source
    assert view.spread is not None and view.spread > 0
    assert view.lineage[0] == "n0000" and view.lineage[-1] == parent
    listed = set(re.findall(r"^- (n\d+) \[", text.split(TABLE)[0], re.M))
    assert listed and listed <= set(view.experiments)
    names = {c.name for e in view.experiments.values() for c in e.changes}
    assert names and names <= set(re.findall(r"^([A-Z_]+) =", ADDITIVE, re.M))
    assert view.trials and {t.name for t in view.trials} <= names
    blind = read(hide(text))
    assert not blind.trials and RESULTS not in hide(text) and TABLE not in hide(text)
    assert set(blind.experiments) == set(blind.lineage[1:]) | set(blind.children)


def result(node, parent, text, delta, verdict="confirmed better", mean=1.0, runs=2):
    """One experiment as search/memory.py reports it (its change stated in `text`)."""
    return NodeResult(node, "explorer", parent, (text,), (), "done", mean, runs, delta, verdict)


BASE = NodeResult("n0000", "base", "", ("the base",), (), "done", 1.07, 3, None, "base")


def prompt(
    source: str = ADDITIVE,
    parent: str = "n0000",
    results: tuple[NodeResult, ...] = (),
    trials: tuple[ConstantTrial, ...] = (),
    lineage: tuple[NodeResult, ...] = (BASE,),
    children: tuple[NodeResult, ...] = (),
    in_flight: tuple[InFlight, ...] = (),
) -> list[dict[str, str]]:
    """The chat an `openai-compatible` persona sends, built by agents/prompt.py."""
    memory = Memory(
        spread=0.005, spread_runs=3, spread_commits=1, best=BASE, best_unconfirmed=None,
        results=(BASE, *results), measured=1 + len(results), constants=trials,
        lineage=lineage, children=children, in_flight=in_flight,
    )  # fmt: skip
    request = ProposalRequest(
        workspace=Path("."), parent_id=parent, parent_files={"train.py": source},
        editable=["train.py"], metric="val_bpb", goal="min", seed=0, memory=memory,
    )  # fmt: skip
    p = build_prompt(request, "# additive", "explore")
    return [
        {"role": "system", "content": p.system},
        {"role": "user", "content": f"{p.files}\n\n{p.task}"},
    ]


def moved(source: str, **values: object) -> str:
    for name, v in values.items():
        source = re.sub(rf"^{name} = .*$", f"{name} = {v!r}", source, flags=re.M)
    return source


def test_it_continues_a_direction_that_helped() -> None:
    up = result("n0003", "n0000", "MATRIX_LR 0.04 -> 0.06", -0.02, mean=1.05)
    chat = prompt(moved(ADDITIVE, MATRIX_LR=0.06), "n0003", (up,), lineage=(BASE, up))
    assert description(reader.answer(chat, "reader")) in (
        "MATRIX_LR 0.06 -> 0.09",
        "MATRIX_LR 0.06 -> 0.12",
    )


def test_it_reverses_a_direction_that_hurt() -> None:
    worse = result("n0003", "n0000", "MATRIX_LR 0.04 -> 0.08", +0.03, "worse", 1.1)
    chat = prompt(results=(worse,), children=(worse,))
    assert description(reader.answer(chat, "reader")) in (
        "MATRIX_LR 0.04 -> 0.02",
        "MATRIX_LR 0.04 -> 0.0268",
    )


def test_it_skips_what_was_tried_from_the_parent_or_is_in_flight() -> None:
    up = result("n0003", "n0000", "MATRIX_LR 0.04 -> 0.06", -0.02, mean=1.05)
    tried = result("n0004", "n0003", "MATRIX_LR 0.06 -> 0.09", -0.001, "within noise", runs=1)
    flying = InFlight("n0005", "explorer", "n0003", "running", "MATRIX_LR 0.06 -> 0.12")
    chat = prompt(
        moved(ADDITIVE, MATRIX_LR=0.06), "n0003", (up, tried), lineage=(BASE, up),
        children=(tried,), in_flight=(flying,),
    )  # fmt: skip
    chosen = description(reader.answer(chat, "reader"))
    assert chosen not in ("MATRIX_LR 0.06 -> 0.09", "MATRIX_LR 0.06 -> 0.12")
    # ... and with nothing tried from it, the same reader does continue that direction
    free = prompt(moved(ADDITIVE, MATRIX_LR=0.06), "n0003", (up,), lineage=(BASE, up))
    assert description(reader.answer(free, "reader")).startswith("MATRIX_LR 0.06 -> ")


def test_the_blind_reader_ignores_the_results_and_the_table() -> None:
    # a gain found on another branch: only the results section and the table show it
    far = result("n0003", "n0000", "WEIGHT_DECAY 0.1 -> 0.05", -0.03, mean=1.04, runs=1)
    trial = ConstantTrial("WEIGHT_DECAY", "0.1", "0.05", 1, 1, -0.03, 0, "✓?")
    chat = prompt(results=(far,), trials=(trial,))
    chosen = description(reader.answer(chat, "reader"))
    assert chosen.startswith("WEIGHT_DECAY 0.1 -> 0.0")  # down, as on the other branch
    view = read(hide(user_text(chat)))
    assert not view.experiments and not view.trials
    blind = description(reader.answer(chat, "reader-blind"))
    assert blind == description(reader.answer(prompt(), "reader-blind"))  # as if never shown


def test_the_openai_sdk_and_backend_talk_to_the_reader_server(tmp_path: Path) -> None:
    server = reader.ReaderServer()
    try:
        client = openai.OpenAI(base_url=server.url, api_key="not-needed", max_retries=0)
        chat = prompt()
        response = client.chat.completions.create(model="reader", messages=chat)  # type: ignore[arg-type]
        text = response.choices[0].message.content or ""
        assert "DESCRIPTION: " in text and "<<<<<<< SEARCH" in text and ">>>>>>> REPLACE" in text
        chars = sum(len(m["content"]) for m in chat)
        assert response.usage is not None and response.usage.prompt_tokens == chars // 4
        with pytest.raises(openai.NotFoundError, match="no model 'gpt-4o'"):
            client.chat.completions.create(model="gpt-4o", messages=chat)  # type: ignore[arg-type]
        # the real backend: its prompt, the reader's reply, the edit parser
        spec = AgentSpec(
            "explorer", backend="openai-compatible", model="reader", base_url=server.url
        )
        proposer = OpenAIChatProposer(spec, tmp_path, api_key="not-needed", base_url=server.url)
        (tmp_path / "program.md").write_text("# additive\n")
        request = ProposalRequest(
            workspace=tmp_path, parent_id="n0000", parent_files={"train.py": ADDITIVE},
            editable=["train.py"], metric="val_bpb", goal="min", seed=0,
        )  # fmt: skip
        proposal = asyncio.run(proposer.propose(request))
        name, old, new = re.match(r"(\w+) (\S+) -> (\S+)$", proposal.description).groups()  # type: ignore[union-attr]
        assert f"{name} = {old}" in ADDITIVE.replace("'", '"') or f"{name} = {old}" in ADDITIVE
        assert f"{name} = {new}" in proposal.files["train.py"].replace("'", '"') or (
            f"{name} = {new}" in proposal.files["train.py"]
        )
        assert proposal.calls and proposal.calls[0].input_tokens > 0
    finally:
        server.close()


DECEPTIVE = LANDSCAPES["deceptive"].train_py()
QK = result("n0004", "n0000", "QK_NORM False -> True", -0.006, mean=1.064)
LR_ALONE = result("n0001", "n0000", "LR 0.04 -> 0.06", +0.008, "worse", 1.078, 1)
BATCH_ALONE = result("n0002", "n0000", "BATCH_SIZE 16 -> 32", +0.007, "worse", 1.077, 1)


def joint_rows(delta: float) -> tuple[ConstantTrial, ...]:
    """The table of a search where LR and BATCH_SIZE were each worse alone, and a larger
    step of both, made together by an experiment no longer listed, changed by `delta`."""
    return (
        ConstantTrial("BATCH_SIZE", "16", "32", 1, 1, 0.007, 0, "✗"),
        ConstantTrial("BATCH_SIZE", "16", "64", 1, 2, delta, 0, "joint"),
        ConstantTrial("LR", "0.04", "0.06", 1, 1, 0.008, 0, "✗"),
        ConstantTrial("LR", "0.04", "0.08", 1, 2, delta, 0, "joint"),
        ConstantTrial("QK_NORM", "False", "True", 1, 2, -0.006, 0, "✓"),
    )


def deceptive_chat(
    trials: tuple[ConstantTrial, ...] = (), *more: NodeResult
) -> list[dict[str, str]]:
    """From n0004 (QK_NORM on), with LR and BATCH_SIZE each worse alone from the base."""
    return prompt(
        moved(DECEPTIVE, QK_NORM=True), "n0004", (LR_ALONE, BATCH_ALONE, QK, *more), trials,
        lineage=(BASE, QK),
    )  # fmt: skip


def test_it_transplants_a_pair_that_helped_together() -> None:
    pair = "BATCH_SIZE 16 -> 64; LR 0.04 -> 0.08"
    chat = deceptive_chat(joint_rows(-0.02))
    assert "joint" in user_text(chat)
    answer = reader.answer(chat, "reader")
    assert sorted(description(answer).split("; ")) == sorted(pair.split("; ")), answer
    assert "together helped: transplant the pair" in answer
    # the row absent, or the pair within the noise, or hidden from the blind reader: no pair
    for chat, model in (
        (deceptive_chat(joint_rows(-0.02)[::2]), "reader"),  # the joint rows removed
        (deceptive_chat(joint_rows(-0.004)), "reader"),
        (deceptive_chat(joint_rows(-0.02)), "reader-blind"),
    ):
        chosen = description(reader.answer(chat, model))
        assert "; " not in chosen and "together helped" not in reader.answer(chat, model)


def test_it_transplants_a_listed_joint_move_and_then_continues_it() -> None:
    both = NodeResult("n0003", "merge", "n0000", ("merge n0002 into n0001",),
                      ("BATCH_SIZE 16->32", "LR 0.04->0.06"), "done", 1.05, 2, -0.02,
                      "confirmed better")  # fmt: skip
    view_chat = deceptive_chat((), both)
    answer = reader.answer(view_chat, "reader")
    assert sorted(description(answer).split("; ")) == ["BATCH_SIZE 16 -> 32", "LR 0.04 -> 0.06"]
    # from the node that made it: the same step again, together
    there = prompt(
        moved(moved(DECEPTIVE, LR=0.06), BATCH_SIZE=32), "n0003",
        (LR_ALONE, BATCH_ALONE, QK, both), lineage=(BASE, both),
    )  # fmt: skip
    answer = reader.answer(there, "reader")
    assert sorted(description(answer).split("; ")) == ["BATCH_SIZE 32 -> 64", "LR 0.06 -> 0.09"]
    assert "continue the pair" in answer


def test_it_steps_half_way_towards_a_step_that_crashed() -> None:
    """On `crash` the best LR sits next to a divergence: LR 0.08 -> 0.12 crashed, so the
    edge lies between; the reader tries half-way (it used to stop at 0.08 for good)."""
    source = moved(LANDSCAPES["crash"].train_py(), LR=0.08)
    up = result("n0003", "n0000", "LR 0.04 -> 0.08", -0.075, mean=1.115)
    nan = NodeResult("n0004", "explorer", "n0003", ("LR 0.08 -> 0.12",), (), "crashed", None,
                     0, None, "crashed: exit code 1: loss is nan (diverged)")  # fmt: skip
    chat = prompt(source, "n0003", (up, nan), lineage=(BASE, up), children=(nan,))
    best = rank(candidates(read(user_text(chat)), {"LR"}), random.Random(0))[0]
    assert (best.new, best.score > 0) == (0.098, True), best  # sqrt(0.08 * 0.12)
    assert "crashed" in best.why
    # never at or beyond the crash
    assert all(c.new < 0.12 for c in candidates(read(user_text(chat)), {"LR"}) if c.score > 0)


def test_when_every_single_step_hurts_it_pairs_the_least_bad_ones() -> None:
    """The deceptive ridge from the base: each step of LR and BATCH_SIZE alone is worse,
    BATCH_SIZE up least; the rest is noise. The pair it proposes moves BATCH_SIZE up
    with LR, although both halves were made alone already."""

    def child(i: int, text: str, delta: float, verdict: str = "worse") -> NodeResult:
        return result(f"n{i:04d}", "n0000", text, delta, verdict, 1.04 + delta, 1)

    noise = "within noise"
    kids = (
        child(1, "LR 0.04 -> 0.06", 0.027), child(2, "LR 0.04 -> 0.0268", 0.027),
        child(3, "BATCH_SIZE 16 -> 32", 0.007), child(4, "BATCH_SIZE 16 -> 8", 0.038),
        child(5, "WARMUP_RATIO 0.1 -> 0.2", -0.003, noise),
        child(6, "WARMUP_RATIO 0.1 -> 0.05", 0.002, noise),
        child(7, "QK_NORM False -> True", -0.004, noise),
        child(8, "LOG_EVERY 100 -> 125", 0.001, noise),
        child(9, "LOG_EVERY 100 -> 75", -0.001, noise),
    )  # fmt: skip
    chosen = description(reader.answer(prompt(DECEPTIVE, "n0000", kids, children=kids), "reader"))
    assert "BATCH_SIZE 16 -> 32; LR 0.04 -> " in chosen, chosen


def merge_chat(source: str, diff: str) -> list[dict[str, str]]:
    """The chat of a merge request (agents/prompt.py): bring n0012's change into n0021."""
    memory = Memory(
        spread=0.005, spread_runs=3, spread_commits=1, best=BASE, best_unconfirmed=None,
        results=(BASE,), measured=1, constants=(), lineage=(BASE,), children=(), in_flight=(),
    )  # fmt: skip
    request = ProposalRequest(
        workspace=Path("."), parent_id="n0021", parent_files={"train.py": source},
        editable=["train.py"], metric="val_bpb", goal="min", seed=0, memory=memory,
        kind="merge", merge_change=diff,
        merge_with=TriedChange("n0012", "WIDTH 512 -> 1024", "done", 1.06, -0.05),
    )  # fmt: skip
    p = build_prompt(request, "# crash", "explore")
    return [
        {"role": "system", "content": p.system},
        {"role": "user", "content": f"{p.files}\n\n{p.task}"},
    ]


def test_a_merge_keeps_the_parents_own_changes() -> None:
    """The parent went further than the other branch (WIDTH 2048 against its 1024): the
    merge brings in only what the parent did not change, never undoing the parent's."""
    source = moved(LANDSCAPES["crash"].train_py(), WIDTH=2048, LR=0.08)
    width = "-WIDTH = 512\n+WIDTH = 1024\n"
    both = "-WIDTH = 512\n+WIDTH = 1024\n-QK_NORM = False\n+QK_NORM = True\n"
    assert description(reader.answer(merge_chat(source, both), "reader")) == (
        "QK_NORM False -> True"
    )
    chosen = description(reader.answer(merge_chat(source, width), "reader"))
    assert "WIDTH 2048 -> 1024" not in chosen and chosen  # its best move from the parent
