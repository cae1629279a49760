"""Downloaded data sets, against a local HTTP server on 127.0.0.1: resume with HTTP
Range, checksums, the no-network error, and the whole climbmix pipeline (shards ->
BPE tokenizer -> token streams) on small parquet fixtures."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ShardServer = Any  # conftest.ShardServer (conftest is not importable by name)

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "tree", "big", "small"]


def parquet_bytes(seed: int, ndocs: int = 60) -> bytes:
    """A parquet file with a `text` column of short synthetic documents, 3 row groups."""
    docs = []
    for i in range(ndocs):
        n = 8 + (i * 7 + seed) % 20
        docs.append(" ".join(WORDS[(i * 3 + j * j + seed) % len(WORDS)] for j in range(n)) + ".")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": docs}), buffer, row_group_size=ndocs // 3)
    return buffer.getvalue()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_sleep(prepare_mod: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare_mod.time, "sleep", lambda s: None)


def test_download_resumes_a_partial_file(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path
) -> None:
    data = parquet_bytes(1)
    shard_server.files["/shard_00000.parquet"] = data
    dest = tmp_path / "shard_00000.parquet"
    (tmp_path / "shard_00000.parquet.part").write_bytes(data[:1000])
    prepare_mod.download(f"{shard_server.url}/shard_00000.parquet", dest)
    assert dest.read_bytes() == data
    assert shard_server.ranges("/shard_00000.parquet") == ["bytes=1000-"]
    assert not (tmp_path / "shard_00000.parquet.part").exists()


def test_download_resumes_after_a_dropped_connection(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path, no_sleep: None
) -> None:
    data = parquet_bytes(2)
    shard_server.files["/s.parquet"] = data
    shard_server.cut_after["/s.parquet"] = 1500  # the first response stops after 1500 bytes
    dest = tmp_path / "s.parquet"
    prepare_mod.download(f"{shard_server.url}/s.parquet", dest)
    assert dest.read_bytes() == data
    assert shard_server.ranges("/s.parquet") == [None, "bytes=1500-"]


def test_corrupt_partial_file_fails_the_checksum_and_is_fetched_again(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path, no_sleep: None
) -> None:
    data = parquet_bytes(3)
    shard_server.files["/s.parquet"] = data
    (tmp_path / "s.parquet.part").write_bytes(b"garbage!" * 100)
    prepare_mod.download(f"{shard_server.url}/s.parquet", tmp_path / "s.parquet")
    assert (tmp_path / "s.parquet").read_bytes() == data
    assert shard_server.ranges("/s.parquet") == ["bytes=800-", None]


def test_checksum_mismatch_on_every_attempt_is_an_error(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path, no_sleep: None
) -> None:
    shard_server.files["/s.parquet"] = parquet_bytes(4)
    original = prepare_mod._file_sha256
    prepare_mod._file_sha256 = lambda path: "0" * 64
    try:
        with pytest.raises(prepare_mod.DownloadError, match="checksum mismatch"):
            prepare_mod.download(f"{shard_server.url}/s.parquet", tmp_path / "s.parquet")
    finally:
        prepare_mod._file_sha256 = original
    assert not (tmp_path / "s.parquet").exists()


def test_checksum_on_the_redirect_is_checked(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path, no_sleep: None
) -> None:
    data = parquet_bytes(5)
    shard_server.files["/cdn/s.parquet"] = data
    shard_server.send_checksum = False  # only the redirect carries it
    shard_server.redirects["/good.parquet"] = ("/cdn/s.parquet", hashlib.sha256(data).hexdigest())
    shard_server.redirects["/bad.parquet"] = ("/cdn/s.parquet", "f" * 64)
    prepare_mod.download(f"{shard_server.url}/good.parquet", tmp_path / "good.parquet")
    assert (tmp_path / "good.parquet").read_bytes() == data
    with pytest.raises(prepare_mod.DownloadError, match="checksum mismatch"):
        prepare_mod.download(f"{shard_server.url}/bad.parquet", tmp_path / "bad.parquet")


def test_no_network_is_one_clear_line(
    prepare_mod: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_sleep: None,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AR_DATA_URL", url)
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(prepare_mod, "DATASET", "climbmix")
    monkeypatch.setattr(prepare_mod, "VOCAB", 8192)
    started = time.time()
    assert prepare_mod.main([]) == 1
    assert time.time() - started < 10
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith(f"error: cannot download {url}/shard_00000.parquet:")
    assert "no network?" in err and "stdlib" in err


def test_missing_shard_is_an_http_error(
    prepare_mod: ModuleType, shard_server: ShardServer, tmp_path: Path
) -> None:
    with pytest.raises(prepare_mod.DownloadError, match="HTTP 404") as info:
        prepare_mod.download(f"{shard_server.url}/nope.parquet", tmp_path / "nope.parquet")
    assert info.value.status == 404


def test_climbmix_pipeline_on_local_fixtures(
    prepare_mod: ModuleType,
    shard_server: ShardServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for i, name in enumerate(["shard_00000.parquet", "shard_00001.parquet", "shard_06542.parquet"]):
        shard_server.files[f"/{name}"] = parquet_bytes(10 + i)
    monkeypatch.setenv("AR_DATA_URL", shard_server.url + "/")
    out = tmp_path / "climbmix"
    meta = prepare_mod.prepare_remote("climbmix", out, num_shards=2, vocab_size=300, attempts=1)

    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "shard_00000.parquet",
        "shard_00001.parquet",
        "shard_06542.parquet",
    ]
    tok = prepare_mod.BPETokenizer.load(out / "tokenizer.json")
    assert tok.vocab_size == 300 and tok.bos_id == 299
    text = "the happy dog sat under a big tree. Ünïcode too!"
    assert tok.decode(tok.encode(text)) == text
    assert len(tok.encode("the cat sat on the mat.")) < len("the cat sat on the mat.")

    # the val stream is BOS + tokens of each document; its byte count matches the text
    val_docs = pq.read_table(out / "shards" / "shard_06542.parquet").column("text").to_pylist()
    raw = (out / "val.bin").read_bytes()
    ids = [int.from_bytes(raw[i : i + 2], "little", signed=True) for i in range(0, len(raw), 2)]
    assert ids.count(tok.bos_id) == len(val_docs) == meta["val_docs"]
    assert tok.decode(ids) == "".join(val_docs)
    token_bytes = json.loads((out / "meta.json").read_text())["token_bytes"]
    assert sum(token_bytes[i] for i in ids) == meta["val_bytes"] == len("".join(val_docs).encode())
    assert meta["train_docs"] == 120 and meta["vocab_size"] == 300


def test_tinystories_stops_at_the_last_train_shard(
    prepare_mod: ModuleType,
    shard_server: ShardServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    shard_server.files["/train/0000.parquet"] = parquet_bytes(1)
    shard_server.files["/train/0001.parquet"] = parquet_bytes(2)
    shard_server.files["/validation/0000.parquet"] = parquet_bytes(3)
    monkeypatch.setenv("AR_DATA_URL", shard_server.url)
    paths = prepare_mod.download_shards("tinystories", tmp_path, num_shards=4, attempts=1)
    assert [p.name for p in paths] == [
        "train_0000.parquet",
        "train_0001.parquet",
        "validation_0000.parquet",
    ]
