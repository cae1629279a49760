"""A scripted "reader" model behind the `openai-compatible` backend, for the benchmark.

It sees only the prompt text, as a model would (app/bench/reader_parse.py reads it),
and answers like one: DESCRIPTION, RATIONALE and SEARCH/REPLACE blocks editing
`NAME = value` lines of the parent's file. What it changes is coordinate descent on the
evidence the prompt shows (app/bench/reader_policy.py), and repeating a move of two or
three constants that helped together (app/bench/reader_joint.py). Deterministic given
the prompt and a seed (a seeded RNG breaks ties); a repair turn or an earlier proposal
sent back moves it to its next choice. Two models: `reader`, and `reader-blind`, the same reader
with the prompt's "## Results so far" and "## Constants tried" sections removed before
it reads. `ReaderServer` serves both at `POST /v1/chat/completions` on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from autoresearch_tui.agents.mutator import Constant, apply_changes, describe
from autoresearch_tui.app.bench.reader_joint import joint_candidates
from autoresearch_tui.app.bench.reader_parse import Value, View, hide, read
from autoresearch_tui.app.bench.reader_policy import (
    candidates,
    debug_changes,
    evidence,
    merge_changes,
    rank,
    sibling_position,
)

MODELS = ("reader", "reader-blind")


def reply(changes: list[tuple[Constant, Value]], view: View, why: str) -> str:
    """The model's answer: description, rationale, one SEARCH/REPLACE block per line."""
    new = apply_changes({view.path: view.source}, changes).get(view.path, view.source)
    blocks = [
        f"{view.path}\n<<<<<<< SEARCH\n{a}\n=======\n{b}\n>>>>>>> REPLACE"
        for a, b in zip(view.source.splitlines(), new.splitlines(), strict=False)
        if a != b
    ]
    return (
        f"DESCRIPTION: {describe(changes)}\nRATIONALE: Coordinate descent on what the "
        f"prompt shows: {why}.\n\n" + "\n\n".join(blocks) + "\n"
    )


def answer(messages: list[dict[str, Any]], model: str, seed: int = 0) -> str:
    """The reader's reply to a chat (system, user, then any repair turns)."""
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    earlier = sum(1 for m in messages if m.get("role") == "assistant")
    text = users[0] if users else ""
    if model == "reader-blind":
        text = hide(text)
    view = read(text)
    rng = random.Random(hashlib.sha256(f"{seed}|{model}|{text}".encode()).hexdigest())
    if view.kind == "lessons":
        return lessons(view)
    if view.kind == "merge" and (merged := merge_changes(view)):
        return reply(merged, view, "bring in the other branch's constants")
    # a merge with nothing to bring in: the best move from the parent instead
    offset = earlier + view.rejections
    if view.kind == "debug":
        changes, why = debug_changes(view, offset)
        if changes:
            return reply(changes, view, why)
    found = candidates(view) + joint_candidates(view)
    if not found:
        return "DESCRIPTION: nothing left\nRATIONALE: every move I can read was tried.\n"
    offset += sibling_position(view)
    pick = rank(found, rng)[min(offset, len(found) - 1)]
    return reply(pick.changes(), view, f"{pick.why} (score {pick.score:+.2f})")


def lessons(view: View) -> str:
    """A lessons note (when asked for one): the moves the evidence favours and opposes."""
    found = sorted(evidence(view), key=lambda e: -abs(e.gain))
    good = [f"{e.name} {e.old!r}->{e.new!r}" for e in found if e.gain > 0][:5]
    bad = [f"{e.name} {e.old!r}->{e.new!r}" for e in found if e.gain < 0 or e.crashed][:5]
    return (
        f"What we have learned: helped: {', '.join(good) or 'nothing yet'}; hurt or "
        f"crashed: {', '.join(bad) or 'nothing yet'}.\nWhat is still open: the constants "
        "not moved yet, and the moves within the noise.\n"
    )


def _usage(prompt: str, text: str) -> dict[str, Any]:
    p, c = len(prompt) // 4, len(text) // 4
    return {
        "prompt_tokens": p,
        "completion_tokens": c,
        "total_tokens": p + c,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


class ReaderServer:
    """`POST /v1/chat/completions` on 127.0.0.1 (a free port), answered by `answer`;
    `prompts` keeps the last requests' messages (for tests)."""

    def __init__(self, seed: int = 0, keep: int = 0):
        self.seed, self.keep = seed, keep
        self.prompts: list[tuple[str, list[dict[str, Any]]]] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                model, messages = body.get("model", ""), body.get("messages", [])
                if self.path.split("?")[0] != "/v1/chat/completions" or model not in MODELS:
                    what = f"no model {model!r} (use {', '.join(MODELS)})"
                    return self._send(404, {"error": {"message": what, "type": "invalid"}})
                if server.keep:
                    server.prompts = [*server.prompts[-server.keep + 1 :], (model, messages)]
                try:
                    text = answer(messages, model, server.seed)
                except Exception as exc:  # a reader bug: the proposal fails, the search goes on
                    what = f"reader: {type(exc).__name__}: {exc}"
                    return self._send(500, {"error": {"message": what, "type": "server_error"}})
                prompt = "".join(str(m.get("content", "")) for m in messages)
                self._send(200, {
                    "id": "chatcmpl-reader", "object": "chat.completion", "created": 0,
                    "model": model, "usage": _usage(prompt, text),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                })  # fmt: skip

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


_SHARED: ReaderServer | None = None
_LOCK = threading.Lock()


def shared_server() -> ReaderServer:
    """The reader server of this process (a bench worker), started on first use."""
    global _SHARED
    with _LOCK:
        if _SHARED is None:
            _SHARED = ReaderServer()
        return _SHARED
