"""Model text of any code point is stored safely (issue 15, item 6): a reply holding a
lone surrogate (`\\udcff`, which JSON can carry and UTF-8 cannot) comes through the real
openai SDK from the fake server on 127.0.0.1, in a description, a rationale, a file, a
malformed reply and a lessons note. Every node ends failed or lands (never stuck in
`proposing`), state.db and the reply files hold it as U+FFFD, and the search goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import git as gitpython
from fake_llm_server import FakeLLMServer, Reply, Request, search_replace
from synthetic import TOML, make_workspace

from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.agents.proposer import safe_text
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

LONE = "\udcff"  # a lone low surrogate: what `bytes.decode(errors="surrogateescape")` makes
AGENT = """
[[agents]]
persona = "deep"
backend = "openai-compatible"
model = "local-llm"
max_retries = 0
repairs = 0
"""


def test_safe_text_replaces_lone_surrogates_and_keeps_everything_else() -> None:
    assert safe_text(f"a{LONE}b\ud800") == "a\ufffdb\ufffd"
    assert safe_text("naïve 日本 🙂 \x00") == "naïve 日本 🙂 \x00"
    assert safe_text("\ud83d\ude42") == "🙂"  # a pair written as two code points: one
    safe_text(f"x{LONE}").encode("utf-8")  # encodes


def respond(request: Request) -> Reply:
    """By proposal: a surrogate in the description and rationale, a malformed reply, one
    in a file; later ones are plain. Every edit sets LR to a value of its own."""
    if "research lead" in request.system:  # the lessons note
        return Reply(
            f"## What we have learned\n- deeper {LONE} helps.\n\n## What is still open\n- x"
        )
    k = sum(1 for r in respond.seen if "research lead" not in r)  # type: ignore[attr-defined]
    respond.seen.append(request.system)  # type: ignore[attr-defined]
    parent = request.messages[0]["text"]
    lr = re.search(r"^LR = ([\d.]+)", parent, re.MULTILINE)
    assert lr is not None
    new = f"LR = {0.05 + 0.001 * k:.3f}"
    if k == 0:
        reply = search_replace("train.py", f"LR = {lr.group(1)}", new, f"deeper {LONE}")
        return Reply(reply.replace("Because the test", f"Because {LONE} the test"))
    if k == 1:
        return Reply(f"I would make it deeper {LONE}.")
    if k == 2:
        return Reply(search_replace("train.py", f"LR = {lr.group(1)}", f"{new}  # {LONE}"))
    return Reply(search_replace("train.py", f"LR = {lr.group(1)}", new, f"plain {k}"))


def test_lone_surrogates_from_the_sdk_are_stored_and_the_search_goes_on(
    tmp_path: Path, server: FakeLLMServer, keys: dict[str, str]
) -> None:
    respond.seen = []  # type: ignore[attr-defined]
    server.responder = respond
    toml = TOML.split("[[agents]]")[0] + AGENT + f'base_url = "{server.url}/v1"\n'
    ws = make_workspace(tmp_path / "ws", toml=toml)
    config = load_config(ws)
    search = dataclasses.replace(
        config.search, base_runs=1, confirm_runs=0, merge=False, lessons_every=2
    )
    s = Scheduler(
        dataclasses.replace(config, search=search),
        build_proposers(config.agents, ws),  # type: ignore[arg-type]
        slots=[Slot("cpu0", threads=1)],
        max_experiments=5,
    )
    asyncio.run(asyncio.wait_for(s.run(), 120))

    nodes = {n.id: n for n in Store(config.db_path).load_nodes()}
    children = [n for n in nodes.values() if n.kind != "root" and n.persona == "deep"]
    assert not [n for n in children if n.status == "proposing"]
    first, malformed, in_file = children[:3]
    assert first.status == "done" and first.description == "deeper \ufffd"
    assert "Because \ufffd the test" in first.rationale
    assert malformed.status == "failed" and "no DESCRIPTION: line" in malformed.reason
    reply = (config.log_dir / f"{malformed.id}.reply.md").read_text(encoding="utf-8")
    assert "deeper \ufffd." in reply
    assert in_file.status == "done"
    committed = gitpython.Repo(ws).git.show(f"{in_file.commit}:train.py")
    assert "LR = 0.052  # \ufffd" in committed
    # the search went on: later proposals (whose prompts show the text above) ran
    assert [n.status for n in children[3:]].count("done") >= 2
    store = Store(config.db_path)
    note = store.lessons_note()
    assert note is not None and "deeper \ufffd helps" in note.text
    calls = store.db.execute("select count(*), sum(error != '') from calls").fetchone()
    assert calls[0] == len(server.exchanges) and calls[1] == 0
