"""A full headless run of the real CLI where every proposal comes from the fake server.

Seven personas over the three LLM backends: four that propose good edits (one only after
a repair), three whose replies are bad (malformed, a non-editable path, empty). Every
good proposal must land as exactly its edit; every bad one must end as a recorded
failure with its reply kept while the run goes on; the cost totals must add up from the
fake usage and list prices; no API key may reach an experiment's environment or log.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from pathlib import Path

import git as gitpython
import pytest
from fake_llm_server import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    FakeLLMServer,
    FakeUsage,
    Reply,
    Request,
    search_replace,
)
from synthetic import TOML, TRAIN_PY, make_workspace

from autoresearch_tui.agents.factory import build_proposers
from autoresearch_tui.app.cli import main
from autoresearch_tui.search.config import load_config
from autoresearch_tui.search.events import Notice
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.store import Store

EXPERIMENTS = 10
MALFORMED = "I would make the model deeper; that usually helps."
# persona -> backend. The backends' default models: anthropic claude-opus-4-6, openai
# gpt-5.4; the openai-compatible one (local-llm) is unpriced.
PERSONAS = {  # the bad ones first: round robin asks them before the budget is spent
    "garbled": "anthropic",
    "trespasser": "openai-compatible",
    "silent": "anthropic",
    "deep": "anthropic",
    "warm": "openai",
    "shallow": "openai-compatible",
    "fixer": "openai",
}
FAILURES = {
    "garbled": "reply rejected 3 times: no DESCRIPTION: line",
    "trespasser": "prepare.py is not editable",
    "silent": "the reply is empty",
}
PRICES = {  # USD per 1M: input, output, cache read, cache write (written out independently)
    "claude-opus-4-6": (5.0, 25.0, 0.5, 6.25),
    "gpt-5.4": (2.5, 15.0, 0.25, 0.0),
    "local-llm": (0.0, 0.0, 0.0, 0.0),
}
ENV_DUMP = "import os\nfor _k, _v in sorted(os.environ.items()):\n    print(f'env {_k}={_v}')\n"


def usage_for(persona: str) -> FakeUsage:
    n = list(PERSONAS).index(persona)
    return FakeUsage(input=900 + 37 * n, output=150 + 11 * n, cache_read=2000 * (n % 3), cache_write=300 * (n % 2))  # fmt: skip


def value(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, pattern
    return match.group(1)


LESSONS = "## What we have learned\n- deeper helps.\n\n## What is still open\n- warmup."


def respond(request: Request) -> Reply:
    if "research lead" in request.system:  # the lessons note, at 5 experiments
        return Reply(LESSONS, usage=usage_for("deep"))
    persona = value(r"\[\[fake:(\w+)\]\]", request.system)
    parent = request.messages[0]["text"]  # the files of the parent, as prompted
    depth, warmup = int(value(r"^DEPTH = (\d+)$", parent)), value(r"^WARMUP = ([\d.]+)$", parent)
    bias = value(r"^USE_BIAS = (\w+)$", parent)
    repair = len(request.messages) > 1
    text = {
        "deep": search_replace("train.py", f"DEPTH = {depth}", f"DEPTH = {depth + 1}", "deeper"),
        "warm": search_replace(
            "train.py",
            f"WARMUP = {warmup}",
            f"WARMUP = {round(float(warmup) + 0.05, 4)}",
            "longer warmup",
        ),
        "shallow": search_replace(
            "train.py", f"DEPTH = {depth}", f"DEPTH = {depth - 1}", "shallower"
        ),
        "fixer": search_replace(
            "train.py",
            f"USE_BIAS = {bias}",
            f"USE_BIAS = {bias == 'False'}" if repair else f"USE_BIAS = = {bias}",
            "flip the bias",
        ),
        "garbled": MALFORMED,
        "trespasser": search_replace("prepare.py", "TIME_BUDGET = 1", "TIME_BUDGET = 100"),
        "silent": "",
    }[persona]
    return Reply(text, usage=usage_for(persona))


def workspace(path: Path, server: FakeLLMServer) -> Path:
    (path / "briefs").mkdir(parents=True)
    for persona in PERSONAS:  # workspace briefs add personas; the marker tells the server
        (path / "briefs" / f"{persona}.md").write_text(
            f"# Persona: {persona}\n[[fake:{persona}]]\n"
        )
    agents = "".join(
        textwrap.dedent(
            f"""
            [[agents]]
            persona = "{persona}"
            backend = "{backend}"
            max_retries = 0
            timeout_s = 20
            """
        )
        + (f'model = "local-llm"\nbase_url = "{server.url}/v1"\n' if backend == "openai-compatible" else "")
        for persona, backend in PERSONAS.items()
    )  # fmt: skip
    toml = TOML.split("[[agents]]")[0].replace(
        "slots  = 2", 'slots  = 2\nlessons_agent = "deep"\nlessons_every = 5'
    )
    toml += agents
    train = TRAIN_PY.replace("import time\n", "import time\n" + ENV_DUMP)
    return make_workspace(path, train=train, toml=toml)


def changed_lines(repo: gitpython.Repo, old: str, new: str) -> list[str]:
    diff = repo.git.diff(old, new)
    assert repo.git.diff("--name-only", old, new) == "train.py", diff
    return [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]


def test_headless_run_with_every_proposal_from_the_fake_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("ANTHROPIC_AUTH_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with FakeLLMServer(respond) as server:
        ws = workspace(tmp_path / "ws", server)
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}/v1")
        # The real CLI, in this process (a subprocess would import both SDKs again).
        args = ["run", str(ws), "--headless", "--max-experiments", str(EXPERIMENTS), "--slots", "2"]
        assert main(args) == 0
        out = capsys.readouterr().out
        assert "garbled@anthropic: reply rejected 3 times" in out
        # one line for the lessons note, written by lessons_agent at 5 experiments (how
        # many the run ends with depends on re-runs and failed proposals: 10 is not sure)
        assert "[info] lessons note written at 5 experiments by deep (" in out, out
        exchanges = list(server.exchanges)
    assert main(["status", str(ws), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert main(["status", str(ws)]) == 0
    human = capsys.readouterr().out

    repo = gitpython.Repo(ws)
    nodes = {n["id"]: n for n in status["nodes"]}
    children = [n for n in nodes.values() if n["persona"] in PERSONAS and n["kind"] != "rerun"]
    ran = [n for n in children if n["status"] == "done"]
    assert len(ran) >= 4 and status["experiments"] >= EXPERIMENTS

    # Every good proposal landed as exactly its edit of the parent's train.py.
    landed = {n["persona"] for n in children if n["commit"]}
    assert landed == {"deep", "warm", "shallow", "fixer"}
    for node in children:
        if node["status"] == "failed":
            continue
        parent = nodes[node["parent"]]
        before = repo.git.show(f"{parent['commit']}:train.py")
        depth = int(value(r"^DEPTH = (\d+)$", before))
        warmup, bias = value(r"^WARMUP = ([\d.]+)$", before), value(r"^USE_BIAS = (\w+)$", before)
        expected = {
            "deep": [f"-DEPTH = {depth}", f"+DEPTH = {depth + 1}"],
            "shallow": [f"-DEPTH = {depth}", f"+DEPTH = {depth - 1}"],
            "warm": [f"-WARMUP = {warmup}", f"+WARMUP = {round(float(warmup) + 0.05, 4)}"],
            "fixer": [f"-USE_BIAS = {bias}", f"+USE_BIAS = {bias == 'False'}"],
        }[node["persona"]]
        assert changed_lines(repo, parent["commit"], node["commit"]) == expected, node
        assert repo.commit(node["commit"]).parents[0].hexsha == parent["commit"]

    # Every bad reply is a recorded failure with its reply kept; the run went on.
    config = load_config(ws, check_clean=False)
    logs = config.log_dir
    for persona, reason in FAILURES.items():
        mine = [n for n in children if n["persona"] == persona]
        assert mine and all(n["status"] == "failed" for n in mine), mine
        for node in mine:
            assert reason in node["reason"] and not node["commit"]
            assert (logs / f"{node['id']}.reply.md").is_file()
    garbled = next(n for n in children if n["persona"] == "garbled")
    assert (logs / f"{garbled['id']}.reply.md").read_text().count(MALFORMED) == 3
    # deep and shallow undo each other: a change back to an existing node's files is
    # never trained twice, and is the only way a good persona's proposal fails
    other = [
        (n["id"], n["persona"], n["reason"])
        for n in children
        if n["status"] == "failed" and n["persona"] not in FAILURES
        and "the proposal's files are identical to n" not in n["reason"]
    ]  # fmt: skip
    assert not other

    # Cost: the fake usage at list prices == the calls table == status totals.
    expected_cost = 0.0
    for exchange in exchanges:
        u = exchange.reply.usage
        p_in, p_out, p_read, p_write = PRICES[exchange.request.model]
        if exchange.request.api != "anthropic":
            p_write = p_in  # OpenAI bills no cache writes apart: the fake reports none
        expected_cost += (
            u.input * p_in + u.output * p_out + u.cache_read * p_read + u.cache_write * p_write
        ) / 1e6
    totals = status["calls"][""]
    assert totals["calls"] == len(exchanges)
    assert abs(totals["cost_usd"] - expected_cost) < 1e-9
    assert totals["unpriced"] == sum(1 for e in exchanges if e.request.model == "local-llm")
    tokens = sum(e.reply.usage.input + e.reply.usage.cache_read + e.reply.usage.cache_write for e in exchanges)  # fmt: skip
    assert totals["input_tokens"] == tokens
    personas = status["personas"]
    assert abs(sum(p["calls"]["cost_usd"] for p in personas.values()) - expected_cost) < 1e-9
    assert personas["garbled"]["calls"]["calls"] == 3 * personas["garbled"]["proposals"]
    # two calls a proposal (one repair), two more each time its flip back to an existing
    # node's files was sent back
    assert personas["fixer"]["calls"]["calls"] % 2 == 0
    assert personas["fixer"]["calls"]["calls"] >= 2 * personas["fixer"]["proposals"]
    for persona in PERSONAS:
        st, mine = personas[persona], [n for n in children if n["persona"] == persona]
        assert st["proposals"] == len(mine)
        assert st["tried"] == sum(1 for n in mine if n["status"] == "done")
        assert 0 <= st["improved"] <= st["tried"]
    for persona in PERSONAS:
        assert personas[persona]["improved"] == sum(
            1 for n in ran if n["persona"] == persona and n["delta_parent"] < 0
        )
    assert "garbled: " in human and "deep: " in human and "improved" in human

    # No key in any experiment's environment or log, nor anywhere in the run's state.
    assert all(e.request.api_key in (ANTHROPIC_KEY, OPENAI_KEY) for e in exchanges)
    assert any("env PATH=" in p.read_text() for p in logs.glob("*.log"))
    for path in config.state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert ANTHROPIC_KEY.encode() not in data and OPENAI_KEY.encode() not in data, path


def test_the_budget_stops_new_proposals_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)

    def deeper(request: Request) -> Reply:  # $0.75 a call at claude-opus-4-6 list prices
        depth = int(value(r"^DEPTH = (\d+)$", request.messages[0]["text"]))
        reply = search_replace("train.py", f"DEPTH = {depth}", f"DEPTH = {depth + 1}", "deeper")
        return Reply(reply, usage=FakeUsage(input=100_000, output=10_000))

    with FakeLLMServer(deeper) as server:
        agents = f'[[agents]]\npersona = "deep"\nbackend = "anthropic"\nbase_url = "{server.url}"\n'
        toml = TOML.split("[[agents]]")[0].replace("slots  = 2", "slots  = 2\nmax_cost_usd = 1.0")
        ws = make_workspace(tmp_path / "ws", toml=toml + agents)
        config = load_config(ws)
        notices: list[Notice] = []
        proposers = build_proposers(config.agents, ws)
        search = Scheduler(config, proposers, max_experiments=20, listeners=[notices.append])  # type: ignore[list-item]
        asyncio.run(search.run())
        calls = len(server.exchanges)
    totals = Store(config.db_path).call_totals()[""]
    assert totals["calls"] == calls and 2 <= calls <= 5  # the budget, plus what was in flight
    assert totals["cost_usd"] == pytest.approx(0.75 * calls) and totals["cost_usd"] >= 1.0
    assert any("budget reached" in n.text for n in notices if isinstance(n, Notice))
    assert search.started < 20
