"""The built-in research target: the template workspace (a nanochat-style train.py, the
fixed prepare.py, program.md), its presets, `init_workspace`, and the GPU check. It
imports none of the other subpackages: it is the thing being researched (its layer:
docs/ARCHITECTURE.md §1; its use: README, "The built-in research target")."""

from autoresearch_tui.trainer.workspace import (
    DATASETS,
    PRESETS,
    PrepareFailed,
    WorkspaceExists,
    init_workspace,
)

__all__ = ["DATASETS", "PRESETS", "PrepareFailed", "WorkspaceExists", "init_workspace"]
