"""Parsing and applying replies: the strict rules of agents/edits.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autoresearch_tui.agents.edits import EditError, apply_reply, parse_reply, repair_message
from autoresearch_tui.agents.instructions import reply_format

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


def diff(path: str, *hunks: str) -> str:
    """A unified diff of one file, the way GPT models write them."""
    body = "".join(f"@@ -1,3 +1,3 @@\n{hunk}\n" for hunk in hunks)
    return f"--- a/{path}\n+++ b/{path}\n{body}"


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
        (reply(diff("prepare.py", " A = 1\n-B = 2\n+B = 3")), "hunk 1: prepare.py is not editable"),
        (reply(diff("train.py", "+Y = 1")), "hunk 1 (train.py): the hunk has no context lines"),
        (reply("--- a/train.py\n+++ b/train.py\nno hunk"), "the diff of train.py has no @@ hunk"),
        (reply("train.py\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9"), "was it cut off?"),
        (reply("<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 9\n>>>>>>> REPLACE"), "no file path"),
        (reply(UNDO[0], UNDO[1]), "the edits change nothing"),
        (reply("model.py\n```\nA = 1\n```"), "the same as the current one"),
    ],
)
def test_bad_replies_are_errors_with_the_reason(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_a_partial_line_does_not_match() -> None:
    assert "does not match" in error_of(reply(block("train.py", "DEPTH = ", "DEPTH = 9")))


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


# Tolerated variants (issue 12, item 7): each is applied, not sent back for repair.


def test_crlf_and_trailing_spaces() -> None:
    text = reply(block("train.py", "DEPTH = 8   \t", "DEPTH = 9")).replace("\n", "\r\n")
    assert apply(text)["train.py"] == SRC.replace("DEPTH = 8", "DEPTH = 9")
    crlf = SRC.replace("\n", "\r\n")  # a file with CRLF line endings keeps them
    edited = apply_reply(text, {"train.py": crlf}, EDITABLE)[1]["train.py"]
    assert edited == crlf.replace("DEPTH = 8", "DEPTH = 9")


def test_indentation_shift() -> None:
    deeper = block(
        "train.py", "    def f():\n        return DEPTH", "    def f():\n        return 2"
    )
    assert apply(reply(deeper))["train.py"] == SRC.replace("return DEPTH", "return 2")
    shallower = block("train.py", "return DEPTH", "x = DEPTH\nreturn x")
    expected = SRC.replace("    return DEPTH", "    x = DEPTH\n    return x")
    assert apply(reply(shallower))["train.py"] == expected  # the file's indentation stays


def test_missing_trailing_comment() -> None:
    files = apply(reply(block("train.py", "LR = 0.04\nDEPTH = 8", "LR = 0.08\nDEPTH = 8")))
    assert files["train.py"] == SRC.replace("LR = 0.04  # learning rate", "LR = 0.08")
    quoted = {"train.py": 'S = "a # b"  # note\n'}  # a '#' inside a string is not a comment
    edited = apply_reply(reply(block("train.py", 'S = "a # b"', 'S = "c"')), quoted, EDITABLE)
    assert edited[1] == {"train.py": 'S = "c"\n'}


def test_unified_diff_fenced() -> None:
    text = (
        "DESCRIPTION: deeper, doubled\nRATIONALE: More layers.\n\n```diff\n"
        + diff("train.py", " LR = 0.04  # learning rate\n-DEPTH = 8\n+DEPTH = 12\n ",
               " def f():\n-    return DEPTH\n+    return DEPTH * 2")
        + "```\n"
    )  # fmt: skip
    parsed, files = apply_reply(text, FILES, EDITABLE)
    assert [e.kind for e in parsed.edits] == ["hunk", "hunk"]
    assert parsed.rationale == "More layers."
    expected = SRC.replace("DEPTH = 8", "DEPTH = 12").replace("return DEPTH", "return DEPTH * 2")
    assert files == {"train.py": expected}


def test_unified_diff_bare() -> None:
    text = (
        "DESCRIPTION: doubled\nRATIONALE: Why not.\n\ndiff --git a/train.py b/train.py\n"
        "index 3f2a1c0..8b9d4e1 100644\n"
        + diff("train.py", "  def f():\n-     return DEPTH\n+     return DEPTH * 2")
        + "\nThis keeps everything else as it is.\n"
    )  # one space too many on every line: a uniform indentation shift
    parsed, files = apply_reply(text, FILES, EDITABLE)
    assert parsed.rationale == "Why not."
    assert files == {"train.py": SRC.replace("return DEPTH", "return DEPTH * 2")}


def test_python_colon_path_fence() -> None:
    for opener in ("```python:model.py", "```python model.py", '```python title="model.py"'):
        whole = f"DESCRIPTION: b\nRATIONALE: r\n\n{opener}\nB = 2\n```\n"
        assert apply(whole) == {"model.py": "B = 2\n"}, opener
    wrapped = (
        "DESCRIPTION: a\nRATIONALE: r\n\n```python:model.py\n<<<<<<< SEARCH\nA = 1\n=======\n"
        "A = 2\n>>>>>>> REPLACE\n```\n"
    )
    assert apply(wrapped) == {"model.py": "A = 2\n"}


def test_description_heading() -> None:
    text = "## Description\nDeeper model\n\n## Rationale\nMore capacity.\n\n" + block(
        "train.py", "DEPTH = 8", "DEPTH = 12"
    )
    parsed = parse_reply(text)
    assert (parsed.description, parsed.rationale) == ("Deeper model", "More capacity.")


def test_value_on_the_next_line() -> None:
    for header in ("DESCRIPTION:", "**Description:**", "**Description**"):
        text = f"{header}\n  deeper model\nRATIONALE:\nMore capacity.\n\n" + block(
            "train.py", "DEPTH = 8", "DEPTH = 12"
        )
        parsed = parse_reply(text)
        assert (parsed.description, parsed.rationale) == ("deeper model", "More capacity."), header


def test_echoed_example_then_the_real_answer() -> None:
    echoed = reply_format("edits", EDITABLE, 2)
    parsed, files = apply_reply(echoed + "\n\n" + reply(block("model.py", "A = 1", "A = 5")),
                                FILES, EDITABLE)  # fmt: skip
    assert parsed.description == "a change" and len(parsed.edits) == 1
    assert files == {"model.py": "A = 5\n"}
    alone = error_of(echoed)  # the example alone: one accurate problem
    assert alone == "no DESCRIPTION: line before the edits"


def test_analysis_section() -> None:
    analysis = (
        "ANALYSIS:\nThe parent ran 39 steps, so DEPTH matters more than LR.\n\n"
        "A whole file quoted here is not an edit:\nmodel.py\n```python\nA = 7\n```\n"
        "Nor is a block:\nmodel.py\n<<<<<<< SEARCH\nA = 1\n=======\nA = 8\n>>>>>>> REPLACE\n\n"
    )
    parsed, files = apply_reply(analysis + reply(block("train.py", "DEPTH = 8", "DEPTH = 12")),
                                FILES, EDITABLE)  # fmt: skip
    assert files == {"train.py": SRC.replace("DEPTH = 8", "DEPTH = 12")}
    assert parsed.analysis.startswith("The parent ran 39 steps")
    assert "A = 8" in parsed.analysis and parsed.description == "a change"
    assert parsed.rationale_with_analysis() == (
        "It should help.\nReally.\n\nAnalysis: " + parsed.analysis
    )


# The ambiguity rule: a tolerant match is used only when it is the only one.


def test_a_fuzzy_match_that_is_not_unique_is_rejected() -> None:
    files = {"train.py": "def g():\n    Y = 2\n\n\ndef h():\n        Y = 2\n"}
    with pytest.raises(EditError) as info:
        apply_reply(reply(block("train.py", "Y = 2", "Y = 3")), files, EDITABLE)
    assert str(info.value) == (
        "block 1 (train.py): the SEARCH part does not match the file exactly, and ignoring a "
        "uniform indentation shift it matches 2 places (lines 2, 6); copy the lines exactly, "
        "with more surrounding lines so it matches exactly one"
    )
    commented = {"train.py": "A = 1  # one\nA = 1  # uno\n"}
    with pytest.raises(EditError) as info:
        apply_reply(reply(block("train.py", "A = 1", "A = 2")), commented, EDITABLE)
    assert "ignoring trailing comments and indentation it matches 2 places" in str(info.value)


# Hints say what really did not match.


def test_the_whitespace_hint_only_when_only_whitespace_differs() -> None:
    spaced = error_of(reply(block("train.py", "DEPTH  =  8", "DEPTH = 9")))
    uneven = error_of(reply(block("train.py", "def f():\n  return DEPTH", "def f():\n  return 1")))
    for message in (spaced, uneven):
        assert "It matches only when all whitespace is ignored" in message


def test_the_hint_names_the_lines_not_in_the_file() -> None:
    message = error_of(reply(block("train.py", "LR = 0.05\nDEPTH = 8", "LR = 0.06\nDEPTH = 8")))
    assert "whitespace" not in message
    assert (
        "SEARCH line 1 'LR = 0.05' is not in the file "
        "(closest: line 1 'LR = 0.04  # learning rate')."
    ) in message
    scattered = error_of(reply(block("train.py", "DEPTH = 8\nX = 1", "DEPTH = 9\nX = 1")))
    assert "Each of its lines is in the file, but not as one run in this order" in scattered


def test_the_repair_message_says_how_many_tries_are_left() -> None:
    error = EditError("block 1 (train.py): the SEARCH part does not match the file exactly.")
    assert "You have 2 tries left, this one included." in repair_message(error, tries_left=2)
    last = repair_message(error, tries_left=1)
    assert "This is your last try: if this reply cannot be applied either" in last
    assert "tries left" not in repair_message(error) and "last try" not in repair_message(error)
