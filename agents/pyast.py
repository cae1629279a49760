"""Parsing Python source from any thread. CPython 3.11's `ast` is not thread-safe: two
parses at once can raise SystemError ("AST constructor recursion depth mismatch"), and
the engine parses on its git thread, on the event loop and in the tuner's thread. Every
parse of the package (agents and search) goes through `parse` or `literal`, which share
one lock (a parse of a train.py takes about a millisecond)."""

from __future__ import annotations

import ast
import threading
from typing import Any

_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    """`ast.parse(source)`, one at a time."""
    with _LOCK:
        return ast.parse(source)


def literal(text: str) -> Any:
    """`ast.literal_eval(text)`, one at a time."""
    with _LOCK:
        return ast.literal_eval(text)
