"""Parsing and applying replies: the strict rules of agents/edits.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoresearch_tui.agents.edits import EditError, apply_reply, parse_reply, repair_message

SRC = "LR = 0.04  # learning rate\nDEPTH = 8\n\n\ndef f():\n    return DEPTH\n\n\nX = 1\nX = 1\n"
FILES = {"train.py": SRC, "model.py": "A = 1\n"}
EDITABLE = ["train.py", "model.py"]


def block(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"


def reply(*blocks: str, description: str = "a change") -> str:
    return f"DESCRIPTION: {description}\nRATIONALE: It should help.\nReally.\n\n" + "\n".join(
        blocks
    )


UNDO = (
    "train.py\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9\n>>>>>>> REPLACE\n",
    "train.py\n<<<<<<< SEARCH\nDEPTH = 9\n=======\nDEPTH = 8\n>>>>>>> REPLACE\n",
)


def apply(text: str, root: Path | None = None) -> dict[str, str]:
    return apply_reply(text, FILES, EDITABLE, root)[1]


def error_of(text: str, root: Path | None = None) -> str:
    with pytest.raises(EditError) as info:
        apply(text, root)
    return str(info.value)


def test_search_replace_blocks_apply_in_order_across_files() -> None:
    text = reply(
        block("train.py", "DEPTH = 8", "DEPTH = 12"),
        block("train.py", "    return DEPTH", "    return DEPTH * 2"),
        block("model.py", "A = 1", "A = 2"),
        description="deeper, doubled",
    )
    parsed, files = apply_reply(text, FILES, EDITABLE)
    assert parsed.description == "deeper, doubled"
    assert parsed.rationale == "It should help.\nReally."
    assert files["train.py"] == SRC.replace("DEPTH = 8", "DEPTH = 12").replace(
        "return DEPTH", "return DEPTH * 2"
    )
    assert files["model.py"] == "A = 2\n"


def test_fenced_blocks_markdown_paths_and_consecutive_blocks() -> None:
    text = (
        "**Description:** tune\nRATIONALE: x\n\n### `train.py`\n```python\n"
        "<<<<<<< SEARCH\nLR = 0.04  # learning rate\n=======\nLR = 0.08  # learning rate\n"
        ">>>>>>> REPLACE\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9\n>>>>>>> REPLACE\n```\n"
        "\nmodel.py\n```python\nA = 3\n```\n"
    )
    parsed, files = apply_reply(text, FILES, EDITABLE)
    assert parsed.description == "tune" and len(parsed.edits) == 3
    assert files["train.py"].startswith("LR = 0.08  # learning rate\nDEPTH = 9\n")
    assert files["model.py"] == "A = 3\n"


def test_a_blank_line_between_path_and_block_is_fine() -> None:
    files = apply(
        reply("train.py\n\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9\n>>>>>>> REPLACE")
    )
    assert files["train.py"] == SRC.replace("DEPTH = 8", "DEPTH = 9")


def test_whole_file_and_deletion() -> None:
    files = apply(reply("model.py\n```python\nB = 2\nA = 1\n```"))
    assert files == {"model.py": "B = 2\nA = 1\n"}
    deleted = apply(reply(block("train.py", "DEPTH = 8", "")))
    assert deleted["train.py"] == SRC.replace("DEPTH = 8\n", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the reply is empty"),
        ("I think we should raise the learning rate.", "no DESCRIPTION: line"),
        ("DESCRIPTION: x\nno blocks here", "no edit blocks found"),
        (reply(block("prepare.py", "X", "Y")), "prepare.py is not editable"),
        (reply(block("/etc/passwd", "X", "Y")), "absolute paths are not allowed"),
        (reply(block("../train.py", "X", "Y")), "paths with '..' are not allowed"),
        (reply(block("train.py", "DEPTH = 9", "DEPTH = 10")), "does not match the file exactly"),
        (reply(block("train.py", "X = 1", "X = 2")), "matches 2 places"),
        (reply(block("train.py", "DEPTH = 8", "DEPTH = 8")), "REPLACE is the same as SEARCH"),
        (reply(block("train.py", "DEPTH = 8", "DEPTH = = 9")), "train.py does not compile"),
        (reply(block("train.py", "", "Y = 1")), "the SEARCH part is empty"),
        (reply("train.py\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9"), "was it cut off?"),
        (reply("<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9\n>>>>>>> REPLACE"), "no file path"),
        (reply(UNDO[0], UNDO[1]), "the edits change nothing"),
        (reply("model.py\n```\nA = 1\n```"), "the same as the current one"),
    ],
)
def test_bad_replies_are_errors_with_the_reason(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_partial_line_and_whitespace_mismatch_do_not_match() -> None:
    assert "does not match" in error_of(reply(block("train.py", "DEPTH = ", "DEPTH = 9")))
    hint = error_of(reply(block("train.py", "return DEPTH", "return 1")))
    assert "copy the indentation exactly" in hint


def test_every_problem_is_reported_and_nothing_is_applied() -> None:
    message = error_of(
        reply(block("train.py", "DEPTH = 8", "DEPTH = 9"), block("prepare.py", "a", "b"),
              block("train.py", "NOPE = 1", "NOPE = 2"))
    )  # fmt: skip
    assert "block 2: prepare.py is not editable" in message
    assert "block 3 (train.py): the SEARCH part does not match" in message


def test_symlinked_editable_path_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "real.py").write_text("A = 1\n")
    os.symlink(tmp_path / "real.py", tmp_path / "model.py")
    assert "is a symlink" in error_of(reply(block("model.py", "A = 1", "A = 2")), tmp_path)


def test_repair_message_carries_the_exact_error() -> None:
    with pytest.raises(EditError) as info:
        apply(reply(block("train.py", "DEPTH = 8", "DEPTH = = 9")))
    message = repair_message(info.value, truncated=True)
    assert str(info.value.problems[0]) in message
    assert "cut off" in message and "none of your previous edits were applied" in message


def test_parse_keeps_rationale_out_of_the_path_line() -> None:
    parsed = parse_reply(reply(block("train.py", "A", "B")))
    assert parsed.rationale == "It should help.\nReally."
    assert [(e.path, e.search, e.replace) for e in parsed.edits] == [("train.py", "A", "B")]
