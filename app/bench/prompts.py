"""`autoresearch-tui bench prompts`: how big a proposal prompt is, what fills it, and
how much of it a provider can serve from its prompt cache, at 10, 100 and 1,000 nodes.

The tree is real but for the experiments' results (app/bench/prompts_tree.py: the
built-in target, real commits of the mutator's edits chosen by best-first, a real
state.db). A sequence of proposals then goes through the engine's own
`Proposing.propose` (its request, the tree's memory, the run figures) and each prompt is
rendered by `agents/prompt.build_prompt` as an LLM persona would; a run finishes before
two proposals of three, so the tree-wide part changes as it does in a search. A proposal
the engine sends back (a duplicate) is asked again: such re-asks are counted apart.

Tokens are estimated (no tokenizer's vocabulary is available offline): CHARS_PER_TOKEN
characters a token. Cached share, per provider (docs/ARCHITECTURE.md §5): OpenAI caches
the longest prefix shared with an earlier prompt, in 128-token steps from 1,024 tokens;
Anthropic caches a prefix that ends at a `cache_control` breakpoint an earlier call
wrote (agents/llm_anthropic.py: after the system, the files and the task's tree-wide
part), from 1,024 tokens. Both assume every call within the cache's lifetime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from autoresearch_tui.agents.llm_anthropic import task_blocks
from autoresearch_tui.agents.mutator import Mutator, find_constants
from autoresearch_tui.agents.personas import load_persona, load_program
from autoresearch_tui.agents.prompt import PARENT_MARK, Prompt, build_prompt
from autoresearch_tui.agents.proposer import AgentSpec, Proposal
from autoresearch_tui.agents.request import ProposalRequest
from autoresearch_tui.app.bench.prompts_tree import (
    CRASHES,
    PERSONAS,
    Workspace,
    finish,
    grow,
    prose,
)
from autoresearch_tui.search.context import RunContext, Threads
from autoresearch_tui.search.model import BROKEN, ROOT_ID, NodeKind
from autoresearch_tui.search.personas import Personas
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.proposing import Proposing
from autoresearch_tui.search.run_figures import RunFacts
from autoresearch_tui.search.runlock import release
from autoresearch_tui.search.slots import Slot

CHARS_PER_TOKEN = 4.0  # an estimate: no tokenizer vocabulary offline
OPENAI_MIN, OPENAI_STEP = 1024, 128  # tokens
# Anthropic's smallest cacheable prefix: 4,096 tokens for claude-opus-4-6 (the backend's
# default model), Opus 4.5 and Haiku 4.5; 1,024 for Sonnet 4.5 and Opus 4.1 (--anthropic-min)
ANTHROPIC_MIN = 4096
SECTIONS = {  # a task paragraph's opening -> its section; others are named by their heading
    "# The search so far": "spread/best",
    "Metric:": "spread/best",
    "## Notes from the person": "hints",
    "## Results so far": "results",
    "## Constants tried": "constants table",
    PARENT_MARK: "in flight",
    "## Being tried right now": "in flight",
    "## Lineage of the parent": "lineage",
    "## Already tried from": "children",
    "## What the runs are": "run figures",
    "## The parent's run": "crash log (debug)",
    "## The change to bring in": "merge change",
    "## Your earlier proposals": "sent back",
    "## Your task": "the ask",
}
SLOTS = 2
HINT = "Keep the model small enough to finish at least 30 steps in the time budget."


def tokens(chars: int) -> int:
    return int(chars / CHARS_PER_TOKEN)


# -- the calls ---------------------------------------------------------------------------
@dataclass
class Call:
    persona: str
    parent: str
    kind: str
    prompt: Prompt
    reask: bool  # the engine sent an earlier answer back (a duplicate)


class Recorder(Mutator):
    """A persona that keeps each request the engine built, then answers as the mutator
    (with a model-like description); `can_debug` so that crashed nodes get fixes."""

    can_debug = True

    def __init__(self, spec: AgentSpec, calls: list[Call], seed: int) -> None:
        super().__init__(spec)
        self.calls = calls
        self.rng = random.Random(f"{seed}:{spec.persona}")

    async def propose(self, request: ProposalRequest) -> Proposal:
        brief = load_persona(self.spec.persona, request.workspace).brief
        prompt = build_prompt(request, load_program(request.workspace), brief, "edits", 2)
        reask = bool(request.rejected)
        self.calls.append(Call(self.spec.persona, request.parent_id, request.kind, prompt, reask))
        proposal = self.propose_sync(request)
        proposal.description = prose(proposal.description, self.rng)
        return proposal


async def _next_run(ctx: RunContext, ws: Workspace, rng: random.Random) -> None:
    """The oldest running (else queued) node finishes; the queue's oldest take the
    SLOTS slots."""
    order = {"running": 0, "ready": 1}
    waiting = sorted(
        (n for n in ws.tree if n.status in order), key=lambda n: (order[n.status], n.id)
    )
    if waiting:
        node = waiting.pop(0)
        finish(ws, node, rng, rng.choice(CRASHES) if rng.random() < 0.1 else None)
        await ctx.save(node)
    for node in waiting[:SLOTS]:
        if node.status == "ready":
            node.status, node.started_at = "running", time.time()
            await ctx.save(node)


async def _simulate(ws: Workspace, count: int, seed: int) -> list[Call]:
    """`count` proposals as the scheduler makes them (best-first's parent, the personas'
    rotation, the engine's request); a run finishes before two calls of three."""
    rng, calls = random.Random(seed), list[Call]()
    threads = Threads(lambda exc: None)
    ctx = RunContext(
        ws.config, ws.tree, ws.run, threads, emit=lambda e: None,
        notice=lambda text, level: None, wake=lambda: None, seed=seed,
    )  # fmt: skip
    names = [*PERSONAS, "debugger"]
    personas = Personas([Recorder(AgentSpec(p), calls, seed) for p in names], None)
    proposing = Proposing(ctx, personas, [HINT], on_ready=lambda node: None)
    slots = [Slot(f"cpu{i}", threads=1) for i in range(SLOTS)]
    proposing.run_facts = RunFacts(ctx, slots)
    policy, tree = make_policy("best-first"), ws.tree
    try:
        for i in range(count):
            if i % 3 != 2:  # a run finished: the tree-wide part changes
                await _next_run(ctx, ws, rng)
            chosen = policy.choose(tree, can_debug=True, max_debug_depth=2) or ROOT_ID
            kind: NodeKind = "debug" if tree[chosen].status in BROKEN else "improve"
            proposer = personas.pick(kind, tree)
            if proposer is None:
                break
            node = proposing.new_child(tree[chosen], kind, proposer)
            await proposing.propose(node, proposer)
            if node.status == "ready":
                files = ws.run.git.read_files(node.commit, list(ws.config.target.editable))
                ws.files[node.id] = files
                ws.constants[node.id] = find_constants("train.py", files["train.py"])
    finally:
        threads.shutdown()
    return calls


# -- the figures -------------------------------------------------------------------------
def common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (binary search on slice equality)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def openai_cached(texts: Sequence[str]) -> list[int]:
    """Cached tokens per call: the longest prefix shared with any earlier call, in
    OPENAI_STEP steps, none below OPENAI_MIN."""
    out = []
    for i, text in enumerate(texts):
        shared = max((common_prefix(text, earlier) for earlier in texts[:i]), default=0)
        steps = tokens(shared) // OPENAI_STEP * OPENAI_STEP
        out.append(steps if steps >= OPENAI_MIN else 0)
    return out


def anthropic_blocks(prompt: Prompt, breakpoints: int = 3) -> list[str]:
    """The request's text blocks as agents/llm_anthropic.py sends them: the system, the
    files, the task's tree-wide part (the third breakpoint), the rest of the task."""
    if breakpoints < 3:
        return [prompt.system, prompt.files, prompt.task]
    return [prompt.system, prompt.files, *(b["text"] for b in task_blocks(prompt.task))]


def anthropic_cached(
    prompts: Sequence[Prompt], breakpoints: int = 3, minimum: int = ANTHROPIC_MIN
) -> list[int]:
    """Cached tokens per call: the longest prefix ending at a breakpoint (every block but
    the last) that an earlier call wrote, none below `minimum` tokens."""
    written: set[tuple[str, ...]] = set()
    out = []
    for prompt in prompts:
        blocks = anthropic_blocks(prompt, breakpoints)
        prefixes = [tuple(blocks[: k + 1]) for k in range(len(blocks) - 1)]
        hit = 0
        for prefix in prefixes:
            size = tokens(sum(len(b) for b in prefix))
            if prefix in written and size >= minimum:
                hit = size
        written.update(p for p in prefixes if tokens(sum(len(b) for b in p)) >= minimum)
        out.append(hit)
    return out


def provider_text(prompt: Prompt) -> str:
    return prompt.system + prompt.files + prompt.task


def sections(prompt: Prompt) -> dict[str, int]:
    """Characters per section (a heading counts with its section; the sum is the
    prompt's length): the system's three, the files, the task's by heading."""
    role, program_mark, rest = prompt.system.partition("\n\n# Research program")
    program, brief_mark, brief = rest.partition("\n\n# Your persona")
    out = {
        "role+format": len(role),
        "program": len(program_mark + program),
        "brief": len(brief_mark + brief),
        "files": len(prompt.files),
    }
    current = "spread/best"
    paragraphs = prompt.task.split("\n\n")
    for i, paragraph in enumerate(paragraphs):
        for opening, label in SECTIONS.items():
            if paragraph.startswith(opening):
                current = label
                break
        else:
            if paragraph.startswith("#"):
                current = paragraph.lstrip("#").strip().split("\n")[0][:30].lower()
        separator = 2 if i < len(paragraphs) - 1 else 0
        out[current] = out.get(current, 0) + len(paragraph) + separator
    return out


# -- one size, the report ------------------------------------------------------------------
@dataclass
class SizeResult:
    nodes: int
    calls: int  # proposals' first calls
    grow_s: float
    calls_s: float
    max_depth: int
    tokens: list[int]  # per call
    openai: list[int]  # cached tokens per call
    anthropic: list[int]  # with the third breakpoint
    anthropic_two: list[int]  # system and files only (before the third breakpoint)
    sections: dict[str, int]  # the median call's characters per section
    parents: int  # distinct parents among the calls
    who: list[str]  # per call: "persona <parent" (and "debug" for a fix)
    reasks: int  # calls that re-ask a proposal the engine sent back
    reask_shares: tuple[float, float, float]  # their cached share: OpenAI, Anthropic 3, 2

    def share(self, cached: list[int]) -> tuple[float, float]:
        """(the median call's cached share, the whole sequence's)."""
        shares = [c / t for c, t in zip(cached, self.tokens, strict=True) if t]
        return statistics.median(shares), sum(cached) / max(1, sum(self.tokens))


def cached_figures(
    prompts: Sequence[Prompt], minimum: int
) -> tuple[list[int], list[int], list[int]]:
    """Cached tokens per call: OpenAI, Anthropic (3 breakpoints), Anthropic (2)."""
    texts = [provider_text(p) for p in prompts]
    return (
        openai_cached(texts),
        anthropic_cached(prompts, 3, minimum),
        anthropic_cached(prompts, 2, minimum),
    )


def measure(
    nodes: int, calls: int, seed: int = 0, anthropic_min: int = ANTHROPIC_MIN
) -> SizeResult:
    """Grow a tree of `nodes` measured experiments, make `calls` proposals, measure."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ws = grow(Path(tmp) / "ws", nodes, seed)
        grown = time.perf_counter()
        try:
            made = asyncio.run(_simulate(ws, calls, seed))
        finally:
            ws.run.store.close()
            release(ws.run.lock)
        done = time.perf_counter()
        depth = max(len(ws.tree.lineage(n.id)) - 1 for n in ws.tree)
    first = [c for c in made if not c.reask]
    prompts = [c.prompt for c in first]
    sizes = [tokens(len(provider_text(p))) for p in prompts]
    median_call = prompts[sorted(range(len(sizes)), key=sizes.__getitem__)[len(sizes) // 2]]
    openai, anthropic, anthropic_two = cached_figures(prompts, anthropic_min)
    every = cached_figures(
        [c.prompt for c in made], anthropic_min
    )  # the re-asks among all the calls
    reasks = [i for i, c in enumerate(made) if c.reask]
    reask_tokens = max(1, sum(tokens(len(provider_text(made[i].prompt))) for i in reasks))
    return SizeResult(
        nodes=nodes, calls=len(first), grow_s=grown - start, calls_s=done - grown,
        max_depth=depth, tokens=sizes, openai=openai, anthropic=anthropic,
        anthropic_two=anthropic_two, sections=sections(median_call),
        parents=len({c.parent for c in first}), reasks=len(reasks),
        who=[f"{c.persona} <{c.parent}{' debug' if c.kind == 'debug' else ''}" for c in first],
        reask_shares=tuple(sum(f[i] for i in reasks) / reask_tokens for f in every),  # type: ignore[arg-type]
    )  # fmt: skip


def _pct(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 100:3.0f}% / {pair[1] * 100:3.0f}%"


def report(
    results: Sequence[SizeResult], anthropic_min: int = ANTHROPIC_MIN, per_call: bool = False
) -> str:
    lines = [
        "Proposal prompts on the built-in target (cpu preset), best-first, a run finishing "
        "before 2 calls of 3.",
        f"Tokens are estimates: characters / {CHARS_PER_TOKEN:g} (no tokenizer offline). "
        "Cached: median call / whole sequence.",
        f"OpenAI: 128-token steps from {OPENAI_MIN:,}; Anthropic: breakpoint prefixes "
        f"from {anthropic_min:,} tokens (--anthropic-min).",
        "",
        f"{'nodes':>6} {'calls':>5} {'parents':>7} {'depth':>5}  {'tokens median':>13} "
        f"{'max':>6}  {'OpenAI cached':>13}  {'Anthropic cached':>16}  {'(2 breakpoints)':>15}",
    ]
    for r in results:
        lines.append(
            f"{r.nodes:>6} {r.calls:>5} {r.parents:>7} {r.max_depth:>5}  "
            f"{statistics.median(r.tokens):>13,.0f} {max(r.tokens):>6,}  "
            f"{_pct(r.share(r.openai)):>13}  {_pct(r.share(r.anthropic)):>16}  "
            f"{_pct(r.share(r.anthropic_two)):>15}"
        )
    names = list(dict.fromkeys(name for r in results for name in r.sections))
    lines += ["", "The median call's prompt by section: characters (≈ tokens)", ""]
    lines.append(f"{'section':<20}" + "".join(f"{f'{r.nodes} nodes':>18}" for r in results))
    for name in [*names, "total"]:
        row = f"{name:<20}"
        for r in results:
            chars = sum(r.sections.values()) if name == "total" else r.sections.get(name, 0)
            row += f"{f'{chars:,} ({tokens(chars):,})':>18}"
        lines.append(row)
    if per_call:
        lines += ["", "Per call: tokens, cached by OpenAI / Anthropic (2 breakpoints)"]
        for r in results:
            lines += [f"  {r.nodes} nodes:"] + [
                f"    {i + 1:>2} {who:<28} {t:>7,} {o:>7,} / {a:>7,} ({a2:>6,})"
                for i, (who, t, o, a, a2) in enumerate(
                    zip(r.who, r.tokens, r.openai, r.anthropic, r.anthropic_two, strict=True)
                )
            ]
    lines += ["", "Re-asks (a proposal the engine sent back, asked again; cached share):"]
    for r in results:
        o, a, two = r.reask_shares
        lines.append(
            f"  {r.nodes} nodes: {r.reasks} re-ask{'s' if r.reasks > 1 else ''}, OpenAI {o * 100:.0f}%, Anthropic "
            f"{a * 100:.0f}% ({two * 100:.0f}% with 2 breakpoints)" if r.reasks
            else f"  {r.nodes} nodes: none"
        )  # fmt: skip
    lines += ["", "Time: " + ", ".join(
        f"{r.nodes} nodes {r.grow_s:.1f}s to grow + {r.calls_s:.1f}s for the calls" for r in results
    )]  # fmt: skip
    return "\n".join(lines)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(
            f"--nodes {text!r}: give node counts of 2 or more, comma-separated, e.g. 10,100,1000"
        )
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="autoresearch-tui bench prompts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--nodes", type=parse_sizes, default=[10, 100, 1000], help="tree sizes")
    p.add_argument("--calls", type=int, default=20, help="proposal calls per size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-call", action="store_true", help="also list every call's figures")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    p.add_argument(
        "--anthropic-min", type=int, default=ANTHROPIC_MIN,
        help="Anthropic's smallest cacheable prefix in tokens (4096: claude-opus-4-6; "
        "1024: Sonnet 4.5)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.calls < 2:
        p.error(f"--calls {args.calls}: give 2 or more (the cache needs an earlier call)")
    results = [measure(n, args.calls, args.seed, args.anthropic_min) for n in args.nodes]
    print(report(results, args.anthropic_min, args.per_call))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
