"""What the scripted reader model (app/bench/reader.py) reads in a prompt: a `View`.

The reader sees only the text of the chat messages, as a model would. From the first
user message it takes the parent's editable file (the fenced `train.py`), the metric's
direction, the run-to-run spread, every experiment line of any section (results, lineage,
the parent's children; their changes from the braces `{NAME a->b}` and from descriptions
`NAME a -> b`), the constants table, the proposals in flight, and what the task asks
(improve, fix a crash, merge a diff, a lessons note). Sections it does not know are
ignored. From the lines it then reconstructs the constants of every node it can (the
lineage back from the parent's file, every other node from its parent), to know how
near an experiment's context is and never to propose a node that exists. The prompt's
shape is agents/prompt.py's and agents/memory_prompt.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from autoresearch_tui.agents.mutator import Constant

Value = int | float | bool | str

RESULTS, TABLE = "## Results so far", "## Constants tried"
NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_HEAD = re.compile(r"^- (n\d+) \[([^\]]*)\] <(n\d+): (.*)$")
_MEASURED = re.compile(
    rf"^(?P<path>.*?)(?: \{{(?P<consts>[^{{}}]*)\}})?: (?P<mean>{NUM}) "
    rf"\((?:mean of (?P<runs>\d+)|1 run)\)"
    rf"(?:, Δ (?P<delta>{NUM}) (?:better|worse|equal) vs n\d+)?: (?P<verdict>.*)$"
)
_UNMEASURED = re.compile(
    r"^(?P<path>.*?)(?: \{(?P<consts>[^{}]*)\})?: (?P<verdict>(?:crashed|timeout|invalid)\b.*)$"
)
_FLIGHT = re.compile(
    r"^(?P<what>.*?)(?: \{(?P<consts>[^{}]*)\})? \((?:queued|running|being written)\)$"
)
_SAID = re.compile(
    r"\b([A-Z_][A-Z0-9_]*) ('[^']*'|\"[^\"]*\"|[^\s;,'\"]+) ?-> ?('[^']*'|\"[^\"]*\"|[^\s;,'\"]+)"
)
_TRIAL = re.compile(
    rf"^(?P<old>.+?)->(?P<new>.+?) (?:(?P<delta>{NUM}) \((?P<runs>\d+) runs?"
    rf"(?:, (?P<crashed>\d+) crashed)?\) (?P<mark>\S+)|crashed \((?P<crashes>\d+)\))$"
)
_FILES = re.compile(r"^# The parent's editable files \(node (n\d+)\)$", re.M)
_BLOCK = re.compile(
    r"^(?P<path>[\w./-]+\.py)\n(?P<fence>`{3,})\w*\n(?P<body>.*?)^(?P=fence)$", re.M | re.S
)


def literal(text: str) -> Value:
    """A literal's value read off its text (a bool, a number, a quoted string), else
    the text itself. Plain text, never `ast`: the reader answers on a server thread
    while the engine parses Python on its own threads, and CPython 3.11's ast module
    is not safe to use from two threads at once."""
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(NUM, text) or re.fullmatch(r"[-+]?(?:\d+\.\d*|\.\d+)(?:e[-+]?\d+)?", text):
        return float(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def value(text: str) -> Value | None:
    """A constant's value from its text in a prompt; None for "(new)", "(removed)" or a
    value cut short ("…")."""
    text = text.strip()
    if not text or text.startswith("(") or "…" in text:
        return None
    return literal(text)


_ASSIGN = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s*(?::[^=]*)?=\s*(?P<lit>'[^'\n]*'|\"[^\"\n]*\"|True|False|"
    rf"{NUM}|[-+]?\d+\.\d*)\s*(?:#.*)?$",
    re.M,
)
_IN = re.compile(r"\b([A-Za-z_]\w*)\s+(?:not\s+)?in\s+[(\[{]([^)\]}]*)[)\]}]")
_EQ = re.compile(r"\b([A-Za-z_]\w*)\s*[!=]=\s*('[^']*'|\"[^\"]*\")")


def file_constants(path: str, source: str) -> list[Constant]:
    """The module-level `NAME = literal` lines of a file, read as text (agents/mutator.py's
    `Constant`s, so its `apply_changes` writes them); a string constant only with the
    values the file compares it against."""
    compared: dict[str, set[str]] = {}
    for name, items in _IN.findall(source):
        quoted = re.findall(r"'([^']*)'|\"([^\"]*)\"", items)
        compared.setdefault(name, set()).update(a or b for a, b in quoted)
    for name, text in _EQ.findall(source):
        compared.setdefault(name, set()).add(text[1:-1])
    out = []
    for m in _ASSIGN.finditer(source):
        v = literal(m["lit"])
        line = source.count("\n", 0, m.start()) + 1
        col = m.start("lit") - m.start()
        choices = tuple(sorted(compared.get(m["name"], set()) - {v})) if isinstance(v, str) else ()
        if isinstance(v, str) and not choices:
            continue
        out.append(Constant(path, m["name"], v, line, col, col + len(m["lit"]), choices))
    return out


def key(v: Value | None) -> str:
    """The identity of a value across its spellings ('relu' and "relu", 0.1 and 0.10)."""
    return repr(v)


@dataclass(frozen=True)
class Change:
    name: str
    old: Value | None
    new: Value | None


@dataclass(frozen=True)
class Experiment:
    """One experiment line of any section."""

    node_id: str
    parent_id: str
    changes: tuple[Change, ...]
    delta: float | None  # mean - parent's mean, as printed
    runs: int
    crashed: bool  # no metric: crashed, timeout, invalid
    verdict: str


@dataclass(frozen=True)
class Trial:
    """One entry of the constants table."""

    name: str
    old: Value | None
    new: Value | None
    delta: float | None
    runs: int
    crashed: int
    mark: str


@dataclass
class View:
    """What the reader knows after reading the prompt."""

    parent_id: str = ""
    path: str = "train.py"
    source: str = ""
    goal: str = "min"
    spread: float | None = None
    kind: str = "improve"  # improve | debug | merge | lessons
    experiments: dict[str, Experiment] = field(default_factory=dict)
    lineage: list[str] = field(default_factory=list)  # ids, base -> parent
    children: list[str] = field(default_factory=list)
    trials: list[Trial] = field(default_factory=list)
    flights: list[Experiment] = field(default_factory=list)  # in flight: no result
    merge_diff: str = ""
    rejections: int = 0
    sections: list[str] = field(default_factory=list)  # titles read, in order


def changes_of(consts: str, description: str, names: set[str]) -> tuple[Change, ...]:
    """The braces' changes, then those a description states (`NAME a -> b`) for names
    the braces do not hold; only names of the parent's file."""
    found: dict[str, Change] = {}
    for item in filter(None, (s.strip() for s in consts.split(", "))):
        name, _, move = item.partition(" ")
        old, arrow, new = move.partition("->")
        if arrow and name in names:
            found[name] = Change(name, value(old), value(new))
    for name, old, new in _SAID.findall(description):
        if name in names and name not in found and "…" not in old + new:
            found[name] = Change(name, value(old), value(new))
    return tuple(found.values())


def experiment(line: str, names: set[str]) -> Experiment | None:
    """An experiment line (`- n0012 [p] <n0007: path {consts}: mean (k runs), ...`)."""
    head = _HEAD.match(line.strip())
    if head is None:
        return None
    node_id, _, parent_id, rest = head.groups()
    m = _MEASURED.match(rest) or _UNMEASURED.match(rest)
    if m is None:
        return None
    own = m["path"].split(" > ")[-1]
    measured = "mean" in m.groupdict()
    return Experiment(
        node_id=node_id,
        parent_id=parent_id,
        changes=changes_of(m["consts"] or "", own, names),
        delta=float(m["delta"]) if measured and m["delta"] else None,
        runs=int(m["runs"] or 1) if measured else 1,
        crashed=not measured,
        verdict=m["verdict"],
    )


def flight(line: str, names: set[str]) -> Experiment | None:
    """A proposal in flight (`- n0015 [p] <n0008: description {consts} (running)`)."""
    head = _HEAD.match(line.strip())
    if head is None:
        return None
    node_id, _, parent_id, rest = head.groups()
    if rest.strip() == "being written":
        return Experiment(node_id, parent_id, (), None, 0, False, "being written")
    m = _FLIGHT.match(rest)
    changes = changes_of(m["consts"] or "", m["what"], names) if m else ()
    return Experiment(node_id, parent_id, changes, None, 0, False, "in flight")


def trials(line: str, names: set[str]) -> list[Trial]:
    """`- NAME: a->b -0.0100 (3 runs) ✓; b->c crashed (1)` -> its trials."""
    name, colon, rest = line.removeprefix("- ").partition(": ")
    if not colon or name not in names:
        return []
    out = []
    for part in rest.split("; "):
        m = _TRIAL.match(part.strip())
        if m is None:  # a `joint` row is read too: its delta is the moves' together
            continue
        crashes = int(m["crashes"] or m["crashed"] or 0)
        delta = float(m["delta"]) if m["delta"] else None
        runs = int(m["runs"] or 0)
        out.append(
            Trial(
                name, value(m["old"]), value(m["new"]), delta, runs, crashes, m["mark"] or "crashed"
            )
        )
    return out


def split_sections(text: str) -> list[tuple[str, list[str]]]:
    """(title, lines) for each `#`/`##` heading of the task (the file block removed)."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if line.startswith(("# ", "## ")):
            out.append((line, []))
        else:
            out[-1][1].append(line)
    return out


def hide(text: str, titles: tuple[str, ...] = (RESULTS, TABLE)) -> str:
    """The text without the sections whose title starts with one of `titles` (the
    blind reader's prompt: everything else identical)."""
    kept = []
    skipping = False
    for line in text.splitlines():
        if line.startswith(("# ", "## ")):
            skipping = line.startswith(titles)
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def parent_file(text: str, view: View) -> str:
    """Read the parent's first Python file; return the text with the file cut out."""
    files = _FILES.search(text)
    if files is None:
        return text
    view.parent_id = files.group(1)
    block = _BLOCK.search(text, files.end())
    if block is None:
        return text
    view.path, view.source = block["path"], block["body"]
    return text[: block.start()] + text[block.end() :]


def read(text: str, names_of: set[str] | None = None) -> View:
    """The View of a prompt's user message (`names_of`: the constant names to read;
    by default the UPPER_CASE names assigned at the top of the parent's file)."""
    view = View()
    rest = parent_file(text, view)
    names = names_of or set(re.findall(r"^([A-Z_][A-Z0-9_]*)\s*(?::[^=]*)?=", view.source, re.M))
    if "(higher is better)" in rest:
        view.goal = "max"
    if spread := re.search(rf"Run-to-run spread ≈ ({NUM})", rest):
        view.spread = abs(float(spread.group(1)))
    for title, lines in split_sections(rest):
        if title:
            view.sections.append(title)
        _section(view, title, lines, names)
    return view


def _section(view: View, title: str, lines: list[str], names: set[str]) -> None:
    body = [ln for ln in lines if ln.startswith("- ")]
    if title.startswith((RESULTS, "## Lineage of the parent", "## Already tried from")):
        for line in body:
            e = experiment(line, names)
            if e is None:
                continue
            view.experiments.setdefault(e.node_id, e)
            if title.startswith("## Lineage"):
                view.lineage.append(e.node_id)
            elif title.startswith("## Already tried"):
                view.children.append(e.node_id)
        if title.startswith("## Lineage") and body and " base: " in body[0]:
            view.lineage.insert(0, body[0].split()[1])
    elif title.startswith(TABLE):
        for line in body:
            view.trials += trials(line, names)
    elif title.startswith("## Being tried right now"):
        view.flights += [f for f in (flight(line, names) for line in body) if f is not None]
    elif title.startswith("## The change to bring in"):
        view.kind = "merge"
        view.merge_diff = "\n".join(lines)
    elif title.startswith("## Your earlier proposals"):
        view.rejections += len(body)
    elif title.startswith("## Your task"):
        task = " ".join(lines)
        if "Fix the parent" in task:
            view.kind = "debug"
        elif "Write the lessons note" in task:
            view.kind = "lessons"
        elif task.strip().startswith("Merge:"):
            view.kind = "merge"


# -- what the prompt lets the reader reconstruct --------------------------------------
def constants(view: View) -> list[Constant]:
    """The parent's constants the reader may move: never a seed (a new seed is new luck,
    never a gain); only the UPPER_CASE ones where the file has any."""
    found = [c for c in file_constants(view.path, view.source) if "seed" not in c.name.lower()]
    upper = [c for c in found if c.name.isupper()]
    return upper or found


Known = set[frozenset[tuple[str, str]]]  # the constants of nodes that exist


def known_vectors(view: View, parent: dict[str, str]) -> Known:
    """The constants of every node the prompt lets the reader reconstruct."""
    return {frozenset(v.items()) for v in vectors_of(view, parent).values()}


def vectors_of(view: View, parent: dict[str, str]) -> dict[str, dict[str, str]]:
    """node -> its constants, for the nodes the prompt lets the reader reconstruct: the
    lineage back from the parent's file, then every other listed node from its parent."""
    vectors: dict[str, dict[str, str]] = {view.parent_id: dict(parent)}
    lineage = view.lineage
    for child, up in zip(reversed(lineage), reversed(lineage[:-1]), strict=False):
        e = view.experiments.get(child)
        if e is None or child not in vectors or not e.changes:
            break
        vectors[up] = {**vectors[child], **{c.name: key(c.old) for c in e.changes}}
    nodes = sorted([*view.experiments.values(), *view.flights], key=lambda e: int(e.node_id[1:]))
    for e in nodes:
        if e.node_id not in vectors and e.parent_id in vectors and e.changes:
            vectors[e.node_id] = {**vectors[e.parent_id], **{c.name: key(c.new) for c in e.changes}}
    return vectors
