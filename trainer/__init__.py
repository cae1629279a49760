"""The built-in research target (DESIGN.md §8): the template workspace (a nanochat-style
train.py, the fixed prepare.py, program.md), its presets, `init_workspace`, and the GPU
check. It imports none of the other subpackages: it is the thing being researched."""

from autoresearch_tui.trainer.workspace import (
    DATASETS,
    PRESETS,
    PrepareFailed,
    WorkspaceExists,
    init_workspace,
)

__all__ = ["DATASETS", "PRESETS", "PrepareFailed", "WorkspaceExists", "init_workspace"]
