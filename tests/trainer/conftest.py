"""Fixtures of the trainer tests: the template's prepare.py as a module, a prepared
stdlib data set (once per session, in a temporary directory), and a local HTTP server
that serves parquet shards with HTTP Range, redirects and the Hub's checksum header."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

TEMPLATE = Path(str(resources.files("autoresearch_tui.trainer").joinpath("template")))


def load_prepare() -> ModuleType:
    """A fresh module object of the template's prepare.py."""
    spec = importlib.util.spec_from_file_location("ar_template_prepare", TEMPLATE / "prepare.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def prepare_mod() -> ModuleType:
    return load_prepare()


@pytest.fixture(scope="session")
def stdlib_root(tmp_path_factory: pytest.TempPathFactory, prepare_mod: ModuleType) -> Path:
    """A data root holding the prepared stdlib data set (real stdlib, the template's BPE
    vocabulary: about 10 s)."""
    root = tmp_path_factory.mktemp("data")
    prepare_mod.prepare_stdlib(root / f"stdlib-bpe{prepare_mod.VOCAB}")
    return root


@pytest.fixture
def data_env(monkeypatch: pytest.MonkeyPatch, stdlib_root: Path) -> Path:
    """AR_DATA_DIR points at the session's prepared data root."""
    monkeypatch.setenv("AR_DATA_DIR", str(stdlib_root))
    return stdlib_root


class ShardServer:
    """Serves `files` (URL path -> bytes); honours Range; records each request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_after: dict[str, int] = {}  # path -> bytes sent before dropping, once
        self.redirects: dict[str, tuple[str, str]] = {}  # path -> (target, X-Linked-Etag)
        self.send_checksum = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.requests.append((path, self.headers.get("Range")))
                if path in server.redirects:  # as the Hub: the checksum rides on the 302
                    target, etag = server.redirects[path]
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("X-Linked-Etag", f'"{etag}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                if server.send_checksum:
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                cut = server.cut_after.pop(path, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]


@pytest.fixture
def shard_server() -> Iterator[ShardServer]:
    server = ShardServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
