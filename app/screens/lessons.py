"""The `L` screen: the run's lessons note, what the search has learned and what is open.

A model persona writes the note every `[search] lessons_every` experiments
(search/lessons.py); every later prompt shows it. Here the person reads it and, when
this process runs the search, edits it like a hint: ctrl+s saves the text as the current
note (every later prompt shows the edit), escape leaves without saving. Watching another
process's run, or after the search stopped, the note is shown read-only.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from autoresearch_tui.agents.request import LessonsNote


def lessons_help(note: LessonsNote | None, every: int, editable: bool) -> str:
    """The line above the note: who wrote it and when, and the keys."""
    if note is not None and note.text.strip():
        what = f"Lessons so far, {note.byline()}. Every prompt shows this note."
    elif every:
        what = (
            f"No lessons note yet: a model-backed persona writes one every {every} "
            "experiments ([search] lessons_every)."
        )
    else:
        what = "No lessons note: [search] lessons_every = 0 turns the model's notes off."
    keys = (
        "  ctrl+s saves your edit for every later prompt · esc leaves"
        if editable
        else "  Read-only here · esc leaves"
    )
    return what + keys


class LessonsScreen(ModalScreen[str | None]):
    """ctrl+s dismisses with the edited text (when editable); escape with None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "leave", "Leave"),
    ]

    def __init__(
        self, note: LessonsNote | None, *, every: int, editable: bool, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.note = note
        self.every = every
        self.editable = editable

    def compose(self) -> ComposeResult:
        with Vertical(id="lessons-box"):
            yield Static(lessons_help(self.note, self.every, self.editable), id="lessons-help")
            yield TextArea(
                self.note.text if self.note is not None else "",
                read_only=not self.editable,
                soft_wrap=True,
                show_line_numbers=False,
                id="lessons-text",
            )

    def on_mount(self) -> None:
        box = self.query_one("#lessons-box")
        box.border_title = "lessons so far"
        box.border_subtitle = "ctrl+s save · esc leave" if self.editable else "esc leave"
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        if not self.editable:
            self.notify("read-only here: this process does not run the search", severity="warning")
            return
        self.dismiss(self.query_one(TextArea).text)

    def action_leave(self) -> None:
        self.dismiss(None)
