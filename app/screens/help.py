"""The `?` help screen: every key, what it does, and where the state lives."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: list[tuple[str, str]] = [
    ("j / k, ↓ / ↑", "move the cursor (PgUp/PgDn, Home/End jump)"),
    ("← / →, enter", "collapse / expand the selected subtree"),
    ("g", "jump to the best node"),
    ("p", "prune / unprune the selected subtree (stops its running experiments)"),
    ("b", "boost / unboost the selected node (the policy expands it more)"),
    ("r", "re-run the selected node with another seed (confirms or refutes its gain)"),
    ("e", "export the selected node as a patch against the base commit"),
    ("E", "export the best node as a patch"),
    ("h", "add a hint for the agents (goes into every later prompt)"),
    ("L", "the lessons note: what the search has learned; edit it, ctrl+s saves"),
    ("/", "filter by persona or status (e.g. explorer, crashed, pruned); empty clears"),
    ("space", "pause / resume new experiments (running ones finish)"),
    ("ctrl+p", "command palette: every action by name"),
    ("?", "this help"),
    ("q", "quit (asks while experiments run); the state is saved either way"),
]

MARKS: list[tuple[str, str]] = [
    ("▶ cpu0 0:42", "running on a slot, for how long"),
    ("✓ ✗ ◷ ⊘", "done, crashed, timeout, invalid (readonly file changed)"),
    ("○ ·", "queued to run, proposal failed"),
    ("⏹", "stopped early, losing to its parent (r runs it to the end)"),
    ("★", "best node (bold green)"),
    ("▲3", "boosted 3×"),
    ("✂", "pruned (the subtree is dimmed)"),
    ("×2 better?", "the mean of 2 runs; Δ vs the parent; ✓ confirmed, ? not yet, ≈ noise"),
    ("+12", "collapsed: 12 nodes hidden below"),
]


def help_text() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_row(Text("Keys", style="bold underline"), "")
    for key, what in KEYS:
        table.add_row(key, what)
    table.add_row("", "")
    table.add_row(Text("Marks", style="bold underline"), "")
    for mark, what in MARKS:
        table.add_row(mark, what)
    table.add_row("", "")
    table.add_row(
        "", Text("Every action is written to .autoresearch/state.db and survives a restart.", "dim")
    )
    return table


class HelpScreen(ModalScreen[None]):
    """Press ? or escape to close."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(help_text(), id="help-text")

    def on_mount(self) -> None:
        box = self.query_one("#help-box")
        box.border_title = "autoresearch-tui — help"
        box.border_subtitle = "? or esc closes"

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
