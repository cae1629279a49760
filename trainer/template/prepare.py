"""
Fixed data preparation, tokenizer, data loader and evaluation for this workspace.

DO NOT EDIT during a search: this file is `readonly` in autoresearch.toml (it is
hashed before every experiment), so every experiment trains on the same data for
the same budget (tokens or seconds) and is scored by the same `evaluate_bpb`.

Usage:
    python prepare.py                  # prepare the data set named by DATASET
    python prepare.py --num-shards 4   # downloaded data sets: train shards to fetch

It imports only the standard library and torch (plus rustbpe and tiktoken for a BPE
vocabulary, and pyarrow for the downloaded data sets).

Data sets (DATASET):
    stdlib       offline: the running Python's own standard library source files,
                 split train/val by a stable hash of each file's path; a BPE
                 tokenizer of VOCAB tokens trained on the train split (VOCAB = 257:
                 byte-level tokens, 256 bytes + BOS). Nothing is downloaded.
    climbmix     autoresearch's data (parquet shards), BPE tokenizer of VOCAB tokens.
    tinystories  TinyStories (parquet shards), BPE tokenizer of VOCAB tokens.

Environment variables:
    AR_DATA_DIR     root of the data cache; data lives in $AR_DATA_DIR/<dataset>.
                    Default: $XDG_CACHE_HOME/autoresearch-tui/data (~/.cache/...);
                    stdlib with a BPE vocabulary lives in <root>/stdlib-bpe<VOCAB>.
    AR_DATA_URL     base URL of the downloaded data set's shards (mirrors, tests).
    AR_TOKEN_BUDGET a budget of this many training tokens instead (tests, benchmarks).
    AR_TIME_BUDGET  a budget of this many training seconds instead (tests, benchmarks).
"""

import argparse
import array
import base64
import hashlib
import http.client
import json
import math
import mmap
import os
import re
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import warnings
import zlib
from pathlib import Path

import torch

# ---------------------------------------------------------------------------
# Constants (fixed: every experiment of a search shares them)
# ---------------------------------------------------------------------------

DATASET = "stdlib"  # stdlib | climbmix | tinystories
VOCAB = 2048  # vocabulary size, BOS included: a BPE (257: byte tokens, stdlib only)
# The training budget of an experiment: exactly one of the two is non-zero.
# Tokens (cpu preset): the same work on an idle or a loaded machine, so a seed gives
# the same value bit for bit. Seconds (gpu preset, as autoresearch): what a GPU-hour buys.
TOKEN_BUDGET = 320_000  # tokens of training per experiment (0: TIME_BUDGET applies)
TIME_BUDGET = 0  # seconds of training per experiment (startup, compile, eval excluded)
CPU_THREADS = 1  # torch threads on a CPU (0: OMP_NUM_THREADS); fixed, as it can change sums
MAX_SEQ_LEN = 256  # context length, also the length of evaluation rows
EVAL_TOKENS = 65536  # validation tokens scored by evaluate_bpb (capped by the split)

if os.environ.get("AR_TIME_BUDGET"):  # tests and benchmarks: a budget in seconds
    TIME_BUDGET, TOKEN_BUDGET = float(os.environ["AR_TIME_BUDGET"]), 0
if os.environ.get("AR_TOKEN_BUDGET"):  # tests and benchmarks: a budget in tokens
    TIME_BUDGET, TOKEN_BUDGET = 0, int(float(os.environ["AR_TOKEN_BUDGET"]))

BOS_ID = VOCAB - 1  # the last id marks the start of every document
BYTE_VOCAB = 257  # the vocabulary of byte-level tokens: 256 bytes + BOS
VAL_PERCENT = 10  # share of stdlib files (by path hash) in the validation split
STDLIB_EXCLUDE = {"test", "tests", "idlelib", "site-packages", "dist-packages", "__pycache__"}

# BPE split pattern (GPT-4 style, with \p{N}{1,2} instead of {1,3}), as autoresearch.
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,2}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
TOKENIZER_MAX_CHARS = 1_000_000_000  # text used to train the BPE tokenizer
TOKENIZER_DOC_CAP = 10_000  # characters of each document used for that

# Downloaded data sets: base URL, train shard name, validation shard name, default count.
REMOTE = {
    "climbmix": {
        "url": "https://huggingface.co/datasets/karpathy/climbmix-400b-shuffle/resolve/main",
        "train": "shard_{:05d}.parquet",
        "val": "shard_06542.parquet",
        "max_shards": 6542,
        "shards": 10,
    },
    "tinystories": {
        "url": "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/refs%2Fconvert%2Fparquet/default",
        "train": "train/{:04d}.parquet",
        "val": "validation/0000.parquet",
        "max_shards": 100,
        "shards": 4,
    },
}


def data_root() -> Path:
    """Root of the data cache (outside the workspace: experiments run in worktrees)."""
    if os.environ.get("AR_DATA_DIR"):
        return Path(os.environ["AR_DATA_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "autoresearch-tui" / "data"


def data_dir(dataset: str = DATASET) -> Path:
    if dataset == "stdlib" and VOCAB != BYTE_VOCAB:  # one cache per vocabulary
        return data_root() / f"stdlib-bpe{VOCAB}"
    return data_root() / dataset


# ---------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------


class ByteTokenizer:
    """Byte-level tokens: id = byte value; BOS_ID (past the 256 bytes) starts a document."""

    def __init__(self, vocab_size: int = VOCAB):
        assert vocab_size > 256, "a byte tokenizer needs 256 ids plus BOS"
        self.vocab_size = vocab_size
        self.bos_id = vocab_size - 1

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def decode(self, ids: list[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: list[int]) -> bytes:
        return bytes(i for i in ids if i < 256)

    def token_bytes(self) -> list[int]:
        """UTF-8 bytes each id stands for (0 for BOS and unused ids)."""
        return [1] * 256 + [0] * (self.vocab_size - 256)


class BPETokenizer:
    """A byte-level BPE (trained by rustbpe) run by tiktoken; BOS_ID is a special token."""

    def __init__(self, pattern: str, ranks: dict[bytes, int], vocab_size: int = VOCAB):
        import tiktoken

        self.vocab_size = vocab_size
        self.bos_id = vocab_size - 1
        assert len(ranks) <= self.bos_id, "the BPE vocabulary must leave room for BOS"
        self.enc = tiktoken.Encoding(
            name="autoresearch-bpe",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens={"<|bos|>": self.bos_id},
        )
        self.ranks = ranks
        self.pattern = pattern

    def encode(self, text: str) -> list[int]:
        return self.enc.encode_ordinary(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self.enc.encode_ordinary_batch(texts, num_threads=os.cpu_count() or 1)

    def decode(self, ids: list[int]) -> str:
        return self.enc.decode([i for i in ids if i != self.bos_id])

    def decode_bytes(self, ids: list[int]) -> bytes:
        return self.enc.decode_bytes([i for i in ids if i != self.bos_id])

    def token_bytes(self) -> list[int]:
        lengths = [0] * self.vocab_size
        for token, rank in self.ranks.items():
            lengths[rank] = len(token)
        return lengths

    def save(self, path: Path) -> None:
        ranks = [[base64.b64encode(t).decode("ascii"), r] for t, r in self.ranks.items()]
        doc = {"pattern": self.pattern, "vocab_size": self.vocab_size, "ranks": ranks}
        _write_atomic(path, json.dumps(doc).encode())

    @classmethod
    def load(cls, path: Path) -> "BPETokenizer":
        doc = json.loads(path.read_text())
        ranks = {base64.b64decode(t): r for t, r in doc["ranks"]}
        return cls(doc["pattern"], ranks, doc["vocab_size"])


def load_tokenizer(dataset: str = DATASET):
    if dataset == "stdlib" and VOCAB == BYTE_VOCAB:
        return ByteTokenizer(VOCAB)
    return BPETokenizer.load(data_dir(dataset) / "tokenizer.json")


# ---------------------------------------------------------------------------
# The stdlib data set (offline)
# ---------------------------------------------------------------------------


def stdlib_files(root: Path) -> list[str]:
    """Relative POSIX paths of the .py files under root, tests and tools excluded, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in STDLIB_EXCLUDE)
        for name in filenames:
            if name.endswith(".py"):
                found.append(Path(dirpath, name).relative_to(root).as_posix())
    return sorted(found)


def is_val_path(relpath: str) -> bool:
    """Stable split: a file is in validation iff the SHA-1 of its path says so."""
    digest = hashlib.sha1(relpath.encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 100 < VAL_PERCENT


def stdlib_split(relpaths: list[str]) -> tuple[list[str], list[str]]:
    """(train, val) relative paths, each sorted; independent of input order."""
    ordered = sorted(set(relpaths))
    return [p for p in ordered if not is_val_path(p)], [p for p in ordered if is_val_path(p)]


def prepare_stdlib(out: Path, source: Path | None = None, vocab_size: int = VOCAB) -> dict:
    """Write train.bin / val.bin (BOS + the tokens of each file) and meta.json into out.

    vocab_size 257: byte tokens; more: a BPE trained on the train split's files first.
    """
    source = Path(source or sysconfig.get_paths()["stdlib"])
    files = stdlib_files(source)
    if not files:
        raise RuntimeError(f"no .py files found under {source}")
    train, val = stdlib_split(files)

    def read(paths: list[str]) -> list[str]:  # stdlib sources are UTF-8 (PEP 3120)
        return [(source / rel).read_bytes().decode("utf-8", errors="replace") for rel in paths]

    splits = {"train": (train, read(train)), "val": (val, read(val))}  # each file read once
    if vocab_size == BYTE_VOCAB:
        tokenizer = ByteTokenizer(vocab_size)
    else:
        print(f"Tokenizer: training a {vocab_size}-token BPE on {len(train)} files ...", flush=True)
        tokenizer = train_bpe(iter(splits["train"][1]), vocab_size)
        tokenizer.save(out / "tokenizer.json")
    meta = {"dataset": "stdlib", "source": str(source), "python": sys.version.split()[0]}
    for split, (paths, texts) in splits.items():
        tokens = array.array("h")
        nbytes = 0
        for text, ids in zip(texts, tokenizer.encode_batch(texts), strict=True):
            tokens.append(tokenizer.bos_id)
            tokens.extend(ids)  # ids < 32768 as int16
            nbytes += len(text.encode("utf-8"))
        print(f"  stdlib {split}: {len(paths)} files, {nbytes / 1e6:.1f} MB", flush=True)
        _write_atomic(out / f"{split}.bin", tokens.tobytes())
        meta[f"{split}_files"] = len(paths)
        meta[f"{split}_bytes"] = nbytes
        meta[f"{split}_tokens"] = len(tokens)
    return _finish(out, meta, tokenizer)


# ---------------------------------------------------------------------------
# Downloaded data sets: resumable download with checksums
# ---------------------------------------------------------------------------


class DownloadError(RuntimeError):
    """A shard could not be fetched; the message is one line for the user."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class _RecordRedirects(urllib.request.HTTPRedirectHandler):
    """Keeps the headers of redirect responses (the Hub puts the checksum there)."""

    def __init__(self):
        self.headers = []

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.headers.append(headers)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _sha256_from(headers_list) -> str | None:
    """The Hub's X-Linked-Etag is the SHA-256 of the file; other ETags are not used."""
    for headers in headers_list:
        value = (headers.get("X-Linked-Etag") or "").strip('W/"')
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
    return None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch(url: str, part: Path, name: str) -> str | None:
    """Append the rest of url to part (HTTP Range); returns the expected SHA-256 if known."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "autoresearch-tui"}
    if have:
        headers["Range"] = f"bytes={have}-"
    redirects = _RecordRedirects()
    opener = urllib.request.build_opener(redirects)
    try:
        response = opener.open(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the range starts past the end: begin again
            part.unlink()
            raise ConnectionError("stale partial download") from e
        raise
    with response:
        if response.status != 206:  # the server ignored Range: start from zero
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length else None
        expected = _sha256_from([*redirects.headers, response.headers])
        done = have
        with open(part, "ab" if have else "wb") as f:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                done += len(chunk)
                _progress_line(name, done, total, unit="bytes")
    if total is not None and done != total:
        raise ConnectionError(f"connection closed at {done} of {total} bytes")
    return expected


def download(url: str, dest: Path, attempts: int = 3) -> Path:
    """Download url to dest, resuming dest.part; verify the checksum where given."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, attempts + 1):
        try:
            expected = _fetch(url, part, dest.name)
            if expected and _file_sha256(part) != expected:
                part.unlink()  # a corrupt partial file: the next attempt starts afresh
                raise ConnectionError("checksum mismatch (SHA-256)")
            part.replace(dest)
            return dest
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == attempts:
                message = f"cannot download {url}: HTTP {e.code} {e.reason}"
                raise DownloadError(message, e.code) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            if attempt == attempts:
                if isinstance(e, urllib.error.URLError):  # no connection at all
                    hint = (
                        " (no network? the offline data set is 'stdlib'; AR_DATA_URL sets a mirror)"
                    )
                    raise DownloadError(f"cannot download {url}: {e.reason}{hint}") from None
                raise DownloadError(f"cannot download {url}: {e}") from None
        time.sleep(min(2 ** (attempt - 1), 30))
    raise AssertionError("unreachable")


def download_shards(dataset: str, out: Path, num_shards: int, attempts: int = 3) -> list[Path]:
    """Fetch train shards 0..num_shards-1 (fewer if the source has fewer) and the val shard."""
    spec = REMOTE[dataset]
    base = os.environ.get("AR_DATA_URL") or spec["url"]
    val_name = spec["val"]
    names = [spec["train"].format(i) for i in range(min(num_shards, spec["max_shards"]))]
    paths = []
    for i, name in enumerate([*names, val_name]):
        dest = out / "shards" / name.replace("/", "_")
        try:
            paths.append(download(f"{base.rstrip('/')}/{name}", dest, attempts))
        except DownloadError as e:
            if e.status == 404 and 0 < i < len(names):  # the source has fewer shards
                print(f"  {name}: not found, using {i} train shards")
                paths.append(
                    download(
                        f"{base.rstrip('/')}/{val_name}",
                        out / "shards" / val_name.replace("/", "_"),
                        attempts,
                    )
                )
                break
            raise
    return paths


def _parquet_texts(path: Path, doc_cap: int | None = None):
    """Yield lists of documents (the 'text' column), one row group at a time."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    for rg in range(pf.num_row_groups):
        texts = pf.read_row_group(rg, columns=["text"]).column("text").to_pylist()
        yield [t[:doc_cap] for t in texts] if doc_cap else texts


def train_bpe(texts, vocab_size: int = VOCAB) -> BPETokenizer:
    """Train a byte-level BPE with rustbpe on an iterable of texts (BOS is the last id)."""
    import rustbpe

    bpe = rustbpe.Tokenizer()
    bpe.train_from_iterator(texts, vocab_size - 1, pattern=SPLIT_PATTERN)  # -1: BOS
    ranks = {bytes(t): r for t, r in bpe.get_mergeable_ranks()}
    return BPETokenizer(bpe.get_pattern(), ranks, vocab_size)


def train_tokenizer(train_shards: list[Path], vocab_size: int = VOCAB) -> BPETokenizer:
    """Train the BPE on (up to TOKENIZER_MAX_CHARS of) the downloaded train shards' text."""

    def texts():
        nchars = 0
        for path in train_shards:
            for batch in _parquet_texts(path, TOKENIZER_DOC_CAP):
                for doc in batch:
                    yield doc
                    nchars += len(doc)
                    if nchars >= TOKENIZER_MAX_CHARS:
                        return

    return train_bpe(texts(), vocab_size)


def prepare_remote(
    dataset: str,
    out: Path,
    num_shards: int | None = None,
    vocab_size: int = VOCAB,
    attempts: int = 3,
) -> dict:
    """Download shards, train the tokenizer, and write train.bin / val.bin / meta.json."""
    spec = REMOTE[dataset]
    shards = download_shards(dataset, out, num_shards or spec["shards"], attempts)
    train_shards, val_shard = shards[:-1], shards[-1]
    tok_path = out / "tokenizer.json"
    if tok_path.exists():
        tokenizer = BPETokenizer.load(tok_path)
    else:
        print(f"Tokenizer: training a {vocab_size}-token BPE ...", flush=True)
        t0 = time.time()
        tokenizer = train_tokenizer(train_shards, vocab_size)
        tokenizer.save(tok_path)
        print(f"Tokenizer: {len(tokenizer.ranks)} tokens in {time.time() - t0:.1f}s")
    meta = {"dataset": dataset, "source": os.environ.get("AR_DATA_URL") or spec["url"]}
    for split, paths in (("train", train_shards), ("val", [val_shard])):
        tmp = out / f"{split}.bin.tmp"
        ntokens = ndocs = nbytes = 0
        with open(tmp, "wb") as f:
            for i, path in enumerate(paths):
                for batch in _parquet_texts(path):
                    tokens = array.array("h")
                    for ids in tokenizer.encode_batch(batch):
                        tokens.append(tokenizer.bos_id)
                        tokens.extend(ids)
                    f.write(tokens.tobytes())
                    ntokens += len(tokens)
                    ndocs += len(batch)
                    nbytes += sum(len(t.encode("utf-8")) for t in batch)
                _progress_line(f"tokenize {split}", i + 1, len(paths), unit="shards")
        tmp.replace(out / f"{split}.bin")
        meta.update({f"{split}_docs": ndocs, f"{split}_bytes": nbytes, f"{split}_tokens": ntokens})
    return _finish(out, meta, tokenizer)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _finish(out: Path, meta: dict, tokenizer) -> dict:
    """meta.json is written last: its presence means the data set is complete."""
    meta.update({"vocab_size": tokenizer.vocab_size, "bos_id": tokenizer.bos_id})
    meta["token_bytes"] = tokenizer.token_bytes()
    _write_atomic(out / "meta.json", json.dumps(meta).encode())
    return meta


_last_progress = [0.0, ""]


def _progress_line(label: str, done: int, total: int | None, unit: str) -> None:
    """A progress bar: redrawn in place on a terminal, a line per 10% in a log."""
    now = time.time()
    finished = total is not None and done >= total
    if total:
        frac = min(done / total, 1.0)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        text = f"{label} |{bar}| {100 * frac:5.1f}%"
    else:
        text = f"{label} {done:,}"
    if unit == "bytes":
        text += f" {done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f} MB" if total else "")
    else:
        text += f" {done}/{total} {unit}"
    if sys.stdout.isatty():
        if finished or now - _last_progress[0] > 0.2:
            print("\r" + text, end="\n" if finished else "", flush=True)
            _last_progress[0] = now
    else:
        decile = f"{label}:{int(10 * done / total) if total else done // 100_000_000}"
        if finished or decile != _last_progress[1]:
            print(text, flush=True)
            _last_progress[1] = decile


def prepare(dataset: str = DATASET, num_shards: int | None = None, attempts: int = 3) -> dict:
    """Prepare the data set into data_dir(dataset) unless it is already there."""
    out = data_dir(dataset)
    meta_path = out / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("vocab_size") == VOCAB:
            print(f"Data: {dataset} already prepared in {out}")
            return meta
    out.mkdir(parents=True, exist_ok=True)
    print(f"Data: preparing {dataset} in {out}", flush=True)
    if dataset == "stdlib":
        return prepare_stdlib(out, vocab_size=VOCAB)
    if dataset in REMOTE:
        return prepare_remote(dataset, out, num_shards, VOCAB, attempts)
    raise ValueError(f"unknown data set {dataset!r} (stdlib, {', '.join(REMOTE)})")


# ---------------------------------------------------------------------------
# Runtime: token streams, data loader, evaluation (imported by train.py)
# ---------------------------------------------------------------------------

_cache = {}


def load_meta(dataset: str = DATASET) -> dict:
    path = data_dir(dataset) / "meta.json"
    if not path.exists():
        raise FileNotFoundError(f"no prepared data at {path.parent}: run `python prepare.py`")
    return json.loads(path.read_text())


def load_tokens(split: str, dataset: str = DATASET) -> torch.Tensor:
    """The split's token stream (int16, BOS before each document), memory-mapped."""
    path = data_dir(dataset) / f"{split}.bin"
    if path not in _cache:
        load_meta(dataset)  # a clear error if the data set was never prepared
        # Mapped read-only: the sandbox mounts the data read-only, and a shared
        # torch.from_file mapping asks for write access. Batches copy windows out of it.
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "not writable": it is never written
            _cache[path] = torch.frombuffer(mapped, dtype=torch.int16)
    return _cache[path]


def make_dataloader(
    batch_size: int, seq_len: int, split: str = "train", device="cpu", seed: int = 0
):
    """Endless batches (x, y, epoch) of random windows of the token stream.

    Each row is seq_len + 1 consecutive tokens from a uniformly random start
    (a seeded generator, so AR_SEED changes the data order); y is x shifted by one.
    """
    tokens = load_tokens(split)
    n_starts = tokens.numel() - seq_len - 1
    if n_starts < 1:
        raise ValueError(f"{split} split has {tokens.numel()} tokens, fewer than seq_len={seq_len}")
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.arange(seq_len + 1)
    pin = torch.device(device).type == "cuda"
    consumed = 0
    while True:
        starts = torch.randint(0, n_starts, (batch_size, 1), generator=generator)
        rows = tokens[starts + offsets].long()
        if pin:
            rows = rows.pin_memory()
        rows = rows.to(device, non_blocking=True)
        consumed += batch_size * seq_len
        yield rows[:, :-1], rows[:, 1:], 1 + consumed // tokens.numel()


def eval_rows(seq_len: int = MAX_SEQ_LEN, eval_tokens: int = EVAL_TOKENS) -> torch.Tensor:
    """The fixed validation rows: consecutive, non-overlapping windows from the start."""
    tokens = load_tokens("val")
    nrows = min(max(eval_tokens // seq_len, 1), (tokens.numel() - 1) // seq_len)
    starts = torch.arange(nrows) * seq_len
    return tokens[starts[:, None] + torch.arange(seq_len + 1)].long()


def scored_rows(batch_size: int, seq_len: int, eval_tokens: int) -> torch.Tensor:
    """The validation rows evaluate_bpb scores: whole batches only (one shape to compile)."""
    rows = eval_rows(seq_len, eval_tokens)
    if len(rows) > batch_size:
        rows = rows[: len(rows) // batch_size * batch_size]
    return rows


def zlib_bpb(batch_size: int, seq_len: int = MAX_SEQ_LEN, eval_tokens: int = EVAL_TOKENS) -> float:
    """zlib -9's bits per byte on the very text evaluate_bpb scores: a bar to beat."""
    targets = scored_rows(batch_size, seq_len, eval_tokens)[:, 1:].reshape(-1)
    text = load_tokenizer().decode_bytes(targets.tolist())  # consecutive: the rows tile it
    return 8 * len(zlib.compress(text, 9)) / len(text)


@torch.no_grad()
def evaluate_bpb(
    model, batch_size: int, device=None, seq_len: int = MAX_SEQ_LEN, eval_tokens: int = EVAL_TOKENS
) -> float:
    """
    Bits per byte (BPB) on the fixed validation rows: vocabulary-independent.

    model(x, y, reduction="none") must return the cross-entropy (nats) of each target.
    BPB = sum of nats over targets / (ln 2 * sum of UTF-8 bytes of those targets);
    BOS targets stand for 0 bytes and are left out of both sums. The rows, their
    order and the batch split are fixed, so a given model always gets the same score.
    """
    if device is None:
        device = next(model.parameters()).device
    token_bytes = torch.tensor(load_meta()["token_bytes"], dtype=torch.int64, device=device)
    rows = scored_rows(batch_size, seq_len, eval_tokens)
    total_nats = 0.0
    total_bytes = 0
    for i in range(0, len(rows), batch_size):
        batch = rows[i : i + batch_size].to(device)
        x, y = batch[:, :-1], batch[:, 1:]
        loss = model(x, y, reduction="none").reshape(-1).double()
        nbytes = token_bytes[y.reshape(-1)]
        total_nats += loss[nbytes > 0].sum().item()
        total_bytes += nbytes.sum().item()
    return total_nats / (math.log(2) * total_bytes)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Prepare the data for this workspace")
    parser.add_argument(
        "--num-shards",
        type=int,
        default=None,
        help="train shards to download (climbmix, tinystories)",
    )
    args = parser.parse_args(argv)
    t0 = time.time()
    try:
        meta = prepare(DATASET, args.num_shards)
    except (DownloadError, OSError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    size = meta["train_bytes"] + meta["val_bytes"]
    print(
        f"Data: {DATASET} ready in {data_dir()} ({size / 1e6:.1f} MB: "
        f"{meta['train_tokens']:,} train / {meta['val_tokens']:,} val tokens) in {time.time() - t0:.1f}s"
    )
    print(f"zlib -9 on the evaluation text: {zlib_bpb(1):.4f} bits per byte (a bar to beat)")
    print("Done! Ready to train: python train.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
