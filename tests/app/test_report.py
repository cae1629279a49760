"""`autoresearch-tui report DIR`: report.md and progress.png from a real (short) run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image

from autoresearch_tui.app.cli import main as cli
from autoresearch_tui.search.config import load_config, state_db_path
from autoresearch_tui.search.snapshot import load_snapshot
from autoresearch_tui.search.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_writes_markdown_and_a_valid_png(workspace: Path, tmp_path: Path, capsys) -> None:
    assert cli(["run", str(workspace), "--headless", "--max-experiments", "8", "--slots", "2",
                "--seed", "1"]) == 0  # fmt: skip
    out = tmp_path / "report"
    assert cli(["report", str(workspace), "-o", str(out)]) == 0
    md, png = out / "report.md", out / "progress.png"
    assert f"wrote {md}" in capsys.readouterr().out
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    text = md.read_text()
    snap = load_snapshot(load_config(workspace, check_clean=False))
    best = snap.best
    assert best is not None
    assert text.startswith(f"# autoresearch-tui report — run {snap.run}")
    assert "![progress](progress.png)" in text
    assert f"**best {best.id} " in text and best.description in text
    assert "## Confirmed gains" in text and "## Personas" in text
    assert f"export {snap.config.root} {best.id}" in text
    # the synthetic trainer is deterministic: any re-run gain is confirmed
    for node in snap.tree:
        if snap.tree.gain_state(node.id) == "confirmed":
            assert f"| {node.id} |" in text


def test_report_default_folder_and_no_run(workspace: Path, capsys) -> None:
    assert cli(["report", str(workspace)]) == 2  # no search has run here yet
    assert "no search has run here yet" in capsys.readouterr().err
    assert cli(["run", str(workspace), "--headless", "--max-experiments", "2"]) == 0
    assert cli(["report", str(workspace)]) == 0
    folder = workspace / ".autoresearch" / "report"
    assert (folder / "report.md").is_file() and (folder / "progress.png").is_file()


def test_report_shows_the_current_lessons_note(workspace: Path, tmp_path: Path) -> None:
    assert cli(["run", str(workspace), "--headless", "--max-experiments", "2"]) == 0
    out = tmp_path / "report"
    assert cli(["report", str(workspace), "-o", str(out)]) == 0
    assert "Lessons so far" not in (out / "report.md").read_text()  # none written yet
    # the events search/lessons.py writes: a model's note, then the person's edit of it
    store = Store(state_db_path(workspace))
    note = "## What we have learned\n- LR 0.06 helped.\n\n## What is still open\n- DEPTH."
    store.add_event("lessons", "", text="old", persona="architect", at=10, source="model")
    store.add_event("lessons", "", text=note, persona="architect", at=10, source="user")
    store.close()
    assert cli(["report", str(workspace), "-o", str(out)]) == 0
    text = (out / "report.md").read_text()
    assert (
        "## Lessons so far\n\n_Written at 10 experiments by architect; edited by the person._"
        in text
    )
    assert "### What we have learned\n- LR 0.06 helped." in text  # under the section's heading
    assert "old" not in text.split("## Lessons so far")[1].split("\n## ")[0]
