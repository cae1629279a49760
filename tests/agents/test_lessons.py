"""The lessons note (issue 12, item 6): a model persona writes what the search has learned
every `lessons_every` experiments, through the real openai SDK talking to the fake
server on 127.0.0.1; the note is stored, shown in every later prompt, survives a resume;
a failed call is recorded and the search goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path

import pytest
from fake_llm_server import FakeLLMServer, Reply, Request
from synthetic import ScriptedProposer, train_request, until

from autoresearch_tui.agents.factory import build_proposer
from autoresearch_tui.agents.lessons import LEARNED, OPEN, build_lessons_prompt, trim_words
from autoresearch_tui.agents.prompt import PARENT_MARK, build_task
from autoresearch_tui.agents.proposer import AgentSpec, LessonsWriter, ProposalFailed
from autoresearch_tui.agents.request import LessonsNote, LessonsRequest, Memory
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.events import Notice
from autoresearch_tui.search.lessons import experiments
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

NOTE = f"## {LEARNED}\n- LR 0.04->0.06 helped (n0001).\n\n## {OPEN}\n- DEPTH untried."
PRICED = "gpt-5.6-luna"  # in the price table: the note's cost is real dollars

CHANGES = [
    [("LR = 0.04", "LR = 0.06")],
    [("DEPTH = 8", "DEPTH = 10")],
    [("WARMUP = 0.1", "WARMUP = 0.15")],
    [('ACT = "relu"', 'ACT = "gelu"')],
    [("USE_BIAS = False", "USE_BIAS = True")],
    [("def score():", "def score():  # resumed")],  # applies to any parent
]


def empty_memory() -> Memory:
    return Memory(None, 0, 0, None, None, (), 0, (), (), (), ())


def writer(server: FakeLLMServer, workspace: Path, model: str = PRICED):  # type: ignore[no-untyped-def]
    spec = AgentSpec(
        "architect", "openai-compatible", model=model, base_url=f"{server.url}/v1",
        weight=1e-9, max_retries=0, repairs=0,
    )  # fmt: skip
    return build_proposer(spec, workspace)


# -- the note's prompt and its cap ------------------------------------------------------
def test_trim_words_caps_a_note_at_400_words_keeping_its_lines() -> None:
    long = "\n".join(f"line {i} " + " ".join(["word"] * 9) for i in range(50))  # 550 words
    cut = trim_words(long, 400)
    assert len(cut.split()) == 401 and cut.endswith(" …")  # 400 words and the mark
    assert cut.splitlines()[0] == long.splitlines()[0]  # line breaks kept
    assert trim_words("  short note \n", 400) == "short note"


def test_an_llm_persona_writes_the_note_through_the_real_sdk(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    server.script.append(Reply(" ".join(["insight"] * 450)))
    proposer = writer(server, workspace)
    assert isinstance(proposer, LessonsWriter)
    previous = LessonsNote("- LR matters", "architect", 10, edited=True)
    request = LessonsRequest(
        workspace, "val_bpb", "min", 20, empty_memory(), previous, ("keep DEPTH <= 12",)
    )
    reply = asyncio.run(proposer.write_lessons(request))
    assert len(reply.text.split()) == 401  # 400 words and the "…"
    (call,) = reply.calls
    assert call.persona == "architect" and call.input_tokens > 0 and call.cost_usd > 0
    (sent,) = server.requests
    assert "Minimise val_bpb" in sent.text  # the research program
    assert "## Results so far (0 experiments" in sent.text  # the tree's shared memory
    assert "- LR matters" in sent.text and "edited by the person" in sent.text
    assert "- keep DEPTH <= 12" in sent.text  # the person's hints
    assert f'"{LEARNED}" and "{OPEN}"' in sent.text and "at most 400 words" in sent.text


def test_a_failed_note_call_is_a_proposal_failed_with_its_call(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    server.script.append(Reply(status=500, error="overloaded"))
    request = LessonsRequest(workspace, "val_bpb", "min", 10, empty_memory())
    with pytest.raises(ProposalFailed) as failed:
        asyncio.run(writer(server, workspace).write_lessons(request))
    assert "HTTP 500" in failed.value.reason and "\n" not in failed.value.reason
    (call,) = failed.value.calls
    assert call.error


def test_the_prompt_shows_the_note_after_the_hints_before_the_results(workspace: Path) -> None:
    note = LessonsNote("- deeper helped", "architect", 10)
    task = build_task(
        train_request(workspace, hints=["try gelu"], memory=empty_memory(), lessons=note)
    )
    heading = "## Lessons so far (written at 10 experiments by architect)\n- deeper helped"
    assert heading in task
    assert task.index("try gelu") < task.index(heading) < task.index("## Results so far")
    assert task.index(heading) < task.index(PARENT_MARK)  # in the cached, shared part
    edited = dataclasses.replace(note, edited=True)
    assert "by architect; edited by the person)" in build_task(
        train_request(workspace, memory=empty_memory(), lessons=edited)
    )
    assert "Lessons so far" not in build_task(train_request(workspace, memory=empty_memory()))
    assert build_lessons_prompt(
        LessonsRequest(workspace, "val_bpb", "min", 3, empty_memory()), "prog"
    ).files.endswith("prog")


# -- in a search -------------------------------------------------------------------------
def search(workspace: Path, proposers: list, every: int, experiments_: int) -> Scheduler:  # type: ignore[type-arg]
    config = load_config(workspace, check_clean=False)
    config = dataclasses.replace(
        config,
        search=dataclasses.replace(
            config.search, base_runs=1, confirm_runs=0, merge=False, lessons_every=every
        ),
    )
    return Scheduler(
        config, proposers, slots=[Slot("cpu0", threads=1)], max_experiments=experiments_
    )


def test_the_search_writes_a_note_every_n_experiments_and_prompts_show_it(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    def answer(request: Request) -> Reply:
        assert "research lead" in request.system  # nothing else is asked of this persona
        return Reply(NOTE)

    server.responder = answer
    scripted = ScriptedProposer(CHANGES[:5])
    s = search(workspace, [scripted, writer(server, workspace)], 3, 5)
    heard: list[Notice] = []
    s.listeners.append(lambda e: heard.append(e) if isinstance(e, Notice) else None)
    asyncio.run(s.run())
    assert experiments(s.tree) == 6  # the base and 5 children
    # one note at 3 experiments (the base and two children), one at 6 (the last run's)
    assert len(server.requests) == 2
    store = Store(state_db_path(workspace), readonly=True)
    notes = store.events("lessons")
    assert [(e["data"]["at"], e["data"]["persona"], e["data"]["source"]) for e in notes] == [
        (3, "architect", "model"),
        (6, "architect", "model"),
    ]
    assert notes[0]["data"]["text"] == NOTE
    # the second note's prompt carried the first as the previous note
    assert "## The previous lessons note (written at 3 experiments by architect)" in (
        server.requests[1].text
    )
    # the calls are stored with their cost, and count toward max_cost_usd
    calls = list(store.db.query("select * from calls where persona = 'architect'"))
    assert len(calls) == 2 and all(c["cost_usd"] > 0 and not c["error"] for c in calls)
    assert s.cost_usd == pytest.approx(sum(c["cost_usd"] for c in calls))
    # a prompt built once a note exists shows it, before the results (the requests made
    # during the search may all have been built before the note landed: pipelining)
    proposing = s.parts().proposing
    late = build_task(proposing.request(Node(id="n9999", parent="n0001"), {}, None))
    assert f"## Lessons so far (written at 6 experiments by architect)\n{NOTE}" in late
    assert late.index("## Lessons so far") < late.index("## Results so far")
    assert "Lessons so far" not in build_task(scripted.requests[0])
    # one headless/TUI line per note
    written = [n.text for n in heard if n.text.startswith("lessons note written")]
    assert len(written) == 2 and "at 3 experiments by architect" in written[0]
    store.close()

    # a resume loads the current note, and the next prompt shows it
    again = ScriptedProposer([CHANGES[5]])
    s2 = search(workspace, [again, writer(server, workspace)], 3, s.started + 1)  # a total
    asyncio.run(s2.run())
    assert s2.parts().lessons.current == LessonsNote(NOTE, "architect", 6)
    assert "(written at 6 experiments by architect)" in build_task(again.requests[0])
    assert len(server.requests) == 2  # 7 experiments: no multiple of 3 was crossed


def test_a_failed_note_is_recorded_and_the_search_goes_on(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    server.responder = lambda request: Reply(status=500, error="overloaded")
    s = search(workspace, [ScriptedProposer(CHANGES[:4]), writer(server, workspace)], 2, 4)
    heard: list[Notice] = []
    s.listeners.append(lambda e: heard.append(e) if isinstance(e, Notice) else None)
    asyncio.run(s.run())
    assert experiments(s.tree) == 5  # every experiment ran
    assert s.parts().lessons.current is None
    store = Store(state_db_path(workspace), readonly=True)
    failures = store.events("lessons-failed")
    assert [e["data"]["at"] for e in failures] == [2, 4]  # due at 2 and 4: one try each
    reason = failures[0]["data"]["reason"]
    assert "HTTP 500" in reason and "\n" not in reason
    assert not store.events("lessons")
    calls = list(store.db.query("select * from calls where persona = 'architect'"))
    assert len(calls) == 2 and all(c["error"] for c in calls)
    assert any("the lessons note failed" in n.text for n in heard)
    store.close()


def test_without_a_model_backed_agent_the_run_says_so_once(workspace: Path) -> None:
    s = search(workspace, [ScriptedProposer(CHANGES[:4])], 2, 4)
    heard: list[str] = []
    s.listeners.append(lambda e: heard.append(e.text) if isinstance(e, Notice) else None)
    asyncio.run(s.run())
    off = [t for t in heard if t.startswith("no lessons notes")]
    assert len(off) == 1 and "lessons_every = 0" in off[0]
    store = Store(state_db_path(workspace), readonly=True)
    assert not store.events("lessons") and not store.events("lessons-failed")
    store.close()


def test_the_persons_note_is_the_current_note_for_later_prompts(workspace: Path) -> None:
    class EditsFirst(ScriptedProposer):
        search: Scheduler

        async def propose(self, request):  # type: ignore[no-untyped-def]
            if not self.requests:
                await self.search.set_lessons("  - try gelu next  ")
            return await super().propose(request)

    scripted = EditsFirst(CHANGES[:2])
    s = scripted.search = search(workspace, [scripted], 0, 2)
    asyncio.run(s.run())
    assert scripted.requests[0].lessons is None
    note = scripted.requests[1].lessons
    assert note is not None and (note.text, note.persona, note.edited) == (
        "- try gelu next", "", True
    )  # fmt: skip
    assert f"## Lessons so far ({note.byline()})\n- try gelu next" in (
        build_task(scripted.requests[1])
    )
    assert note.byline().startswith("written by the person at ")
    store = Store(state_db_path(workspace), readonly=True)
    (event,) = store.events("lessons")
    assert event["data"]["source"] == "user"
    assert store.lessons_note() == note
    store.close()


def test_the_persons_edit_while_a_note_is_written_wins(
    workspace: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    asked, go = threading.Event(), threading.Event()

    def answer(request: Request) -> Reply:
        asked.set()
        assert go.wait(60), "the person's edit never came"
        return Reply(NOTE)

    class EditsWhileWritten(ScriptedProposer):
        search: Scheduler

        async def propose(self, request):  # type: ignore[no-untyped-def]
            if self.requests:  # the second proposal: wait for the note to be asked for
                await until(asked.is_set, "the lessons call")
                await self.search.set_lessons("mine")
                go.set()
            return await super().propose(request)

    server.responder = answer
    scripted = EditsWhileWritten(CHANGES[:2])
    s = scripted.search = search(workspace, [scripted, writer(server, workspace)], 2, 2)
    asyncio.run(s.run())
    current = s.parts().lessons.current
    assert current is not None and (current.text, current.edited) == ("mine", True)
    store = Store(state_db_path(workspace), readonly=True)
    assert [e["data"]["source"] for e in store.events("lessons")] == ["user"]
    (dropped,) = store.events("lessons-failed")
    assert dropped["data"]["reason"].startswith("the person saved a note while it was written")
    assert store.lessons_note() == current
    store.close()
