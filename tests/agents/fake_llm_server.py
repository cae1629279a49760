"""A fake LLM provider on 127.0.0.1 for the agents' tests: real SDK clients talk HTTP to it.

It speaks Anthropic `POST /v1/messages`, OpenAI `POST /v1/responses` and
`POST /v1/chat/completions`, with usage fields in each API's own shape, and the error
shapes of both (429 with retry-after, 5xx). A reply may think first, each API its own
way: an Anthropic `thinking` block, a Responses `reasoning` item, a Chat Completions
`reasoning_content` (vLLM's and DeepSeek's field); its reasoning tokens are reported
inside the output tokens, as the real APIs do. What it answers is decided by a responder:
by default the next item of `script`; a test may pass any function of the request. It
logs every request (path, headers, JSON body) and every answer (with the usage it
reported), so tests can check what the clients sent and add up the tokens themselves.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Test API keys: the fixtures put them in the environment; tests grep for them.
ANTHROPIC_KEY = "sk-ant-test-KEY-4f1c9e7a2b"
OPENAI_KEY = "sk-test-KEY-8d3b6a0f5c"


@dataclass(frozen=True)
class FakeUsage:
    input: int = 1200  # uncached prompt tokens
    output: int = 300
    cache_read: int = 0
    cache_write: int = 0  # Anthropic only
    reasoning: int = 0  # the thinking part of `output`


@dataclass
class Reply:
    """One scripted answer."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    usage: FakeUsage = field(default_factory=FakeUsage)
    error: str = "scripted error"
    finish: str = ""  # "length": the reply hit the output token limit
    thinking: str = ""  # the model's thinking, answered before the text


@dataclass
class Request:
    api: str  # "anthropic" | "responses" | "chat"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def model(self) -> str:
        return self.body.get("model", "")

    @property
    def system(self) -> str:
        if self.api == "anthropic":
            system = self.body.get("system", "")
            return system if isinstance(system, str) else "".join(b["text"] for b in system)
        if self.api == "responses":
            return self.body.get("instructions") or ""
        first = self.body["messages"][0]
        return first["content"] if first["role"] == "system" else ""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation after the system prompt, as {role, text}."""
        raw = self.body.get("messages") if self.api != "responses" else self.body.get("input")
        out = []
        for m in raw or []:
            if m.get("role") == "system":
                continue
            content = m.get("content", "")
            if not isinstance(content, str):
                content = "\n\n".join(part.get("text", "") for part in content)
            out.append({"role": m["role"], "text": content})
        return out

    @property
    def text(self) -> str:
        """Everything the model was shown."""
        return "\n\n".join([self.system, *(m["text"] for m in self.messages)])

    @property
    def api_key(self) -> str:
        """The key the client sent (x-api-key, or a bearer token)."""
        bearer = self.headers.get("authorization", "").removeprefix("Bearer ")
        return self.headers.get("x-api-key", "") or bearer


@dataclass
class Exchange:
    request: Request
    reply: Reply
    answered: bool = True  # False: the client had gone (a timeout)


def _usage(api: str, u: FakeUsage) -> dict[str, Any]:
    if api == "anthropic":
        return {
            "input_tokens": u.input,
            "output_tokens": u.output,
            "output_tokens_details": {"thinking_tokens": u.reasoning},
            "cache_read_input_tokens": u.cache_read,
            "cache_creation_input_tokens": u.cache_write,
        }
    prompt = u.input + u.cache_read + u.cache_write
    if api == "responses":
        return {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": u.cache_read},
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": u.reasoning},
            "total_tokens": prompt + u.output,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.output,
        "total_tokens": prompt + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    }


def _thinking(api: str, reply: Reply, n: int) -> list[dict[str, Any]]:
    """The reply's thinking as the first output item(s) of `api`, or none."""
    if not reply.thinking:
        return []
    if api == "anthropic":
        return [{"type": "thinking", "thinking": reply.thinking, "signature": f"sig_{n}"}]
    summary = [{"type": "summary_text", "text": reply.thinking}]
    return [{"type": "reasoning", "id": f"rs_{n}", "summary": summary}]


def _body(api: str, model: str, reply: Reply, n: int) -> dict[str, Any]:
    usage = _usage(api, reply.usage)
    if api == "anthropic":
        text = [{"type": "text", "text": reply.text}] if reply.text else []
        return {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": _thinking(api, reply, n) + text,
            "stop_reason": "max_tokens" if reply.finish == "length" else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
    if api == "responses":
        return {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "incomplete" if reply.finish == "length" else "completed",
            "output": [
                *_thinking(api, reply, n),
                {
                    "type": "message",
                    "id": f"msg_{n}",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": reply.text, "annotations": []}],
                },
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.text,
                    **({"reasoning_content": reply.thinking} if reply.thinking else {}),
                },
                "finish_reason": reply.finish or "stop",
            }
        ],
        "usage": usage,
    }


def _error_body(api: str, reply: Reply) -> dict[str, Any]:
    if api == "anthropic":
        kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(reply.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": reply.error}}
    return {"error": {"message": reply.error, "type": "server_error", "code": None}}


APIS = {"/v1/messages": "anthropic", "/v1/responses": "responses", "/v1/chat/completions": "chat"}


class FakeLLMServer:
    """Start with `with FakeLLMServer() as server:`; `server.url` is its base URL."""

    def __init__(self, responder: Callable[[Request], Reply] | None = None):
        self.script: deque[Reply] = deque()
        self.responder = responder or self._next_scripted
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return [e.request for e in self.exchanges]

    def _next_scripted(self, request: Request) -> Reply:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return Reply(status=400, error="the fake server's script is exhausted")

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                path = self.path.split("?")[0]
                api = APIS.get(path)
                if api is None:
                    self._send(404, {"error": {"message": f"no route {path}"}}, {})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(api, path, headers, body)
                reply = server.responder(request)
                exchange = Exchange(request, reply)
                with server._lock:
                    n = len(server.exchanges)
                    server.exchanges.append(exchange)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status == 200:
                    payload = _body(api, request.model, reply, n)
                else:
                    payload = _error_body(api, reply)
                try:
                    self._send(reply.status, payload, reply.headers)
                except (BrokenPipeError, ConnectionResetError):
                    exchange.answered = False

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def search_replace(path: str, old: str, new: str, description: str = "an edit") -> str:
    """A well-formed reply with one SEARCH/REPLACE block."""
    return (
        f"DESCRIPTION: {description}\nRATIONALE: Because the test says so.\n\n"
        f"{path}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n"
    )
