"""The fixed part of every prompt (agents/instructions.py): what the reply format promises."""

from __future__ import annotations

from autoresearch_tui.agents.edits import parse_reply
from autoresearch_tui.agents.instructions import reply_format


def test_the_chances_follow_the_repairs() -> None:
    assert "there is no second chance" in reply_format("edits", ["train.py"], 0)
    assert "one more chance to send a corrected" in reply_format("edits", ["train.py"], 1)
    three = reply_format("edits", ["train.py"], 3)
    assert "up to 3 more chances" in three and "one more chance" not in three


def test_the_format_allows_an_analysis_before_the_description() -> None:
    text = reply_format("edits", ["train.py", "model.py"])
    assert text.index("ANALYSIS:") < text.index("DESCRIPTION:") < text.index("RATIONALE:")
    assert "think first" in text and "train.py, model.py" in text


def test_a_reply_written_as_the_format_says_parses() -> None:
    reply = (
        "ANALYSIS: The parent is shallow.\n\nDEPTH 8 is small for this budget.\n"
        "DESCRIPTION: deeper: DEPTH 8 -> 12\nRATIONALE: More capacity.\n\n"
        "train.py\n<<<<<<< SEARCH\nDEPTH = 8\n=======\nDEPTH = 12\n>>>>>>> REPLACE\n"
    )
    parsed = parse_reply(reply)
    assert parsed.analysis == "The parent is shallow.\n\nDEPTH 8 is small for this budget."
    assert (parsed.description, parsed.rationale) == ("deeper: DEPTH 8 -> 12", "More capacity.")
