"""Repositories shaped like the real ones `init` meets (tests/app/test_init_repo.py).

* `autoresearch_like`: karpathy/autoresearch's layout — a uv project (pyproject, uv.lock,
  the checkout's `.venv`, git-ignored), `prepare.py` (readonly) that `train.py` imports,
  data in a cache directory outside the repository (`AUTORESEARCH_FIXTURE_CACHE`, like
  `~/.cache/autoresearch`), progress lines rewritten with `\\r` and a `---` summary block
  with `val_bpb:`; run `uv run train.py`.
* `nanogpt_like`: karpathy/nanoGPT's layout — `train.py` that execs `configurator.py`
  and imports `model.py`, a config file (`config/train_shakespeare_char.py`, the
  editable file) passed as its argument, prepared data `data/shakespeare_char/*.bin`
  that .gitignore hides, an `out-*` directory written at run time, and
  `step N: train loss X, val loss Y` lines; run `python train.py config/...py`.

Plain Python (no numpy, no torch): each run reads the data and finishes well under 2 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from synthetic import git

UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
CACHE_VAR = "AUTORESEARCH_FIXTURE_CACHE"

TEXT = "".join(f"line {i}: the quick brown fox {i % 7} jumps over {i % 11} lazy dogs\n"
               for i in range(400))  # fmt: skip


AR_PYPROJECT = """\
[project]
name = "autoresearch-like"
version = "0.1.0"
description = "A tiny stand-in for karpathy/autoresearch"
requires-python = ">=3.11"
dependencies = []
"""

AR_PREPARE = textwrap.dedent(
    '''\
    """Fixed constants, data download and evaluation (do not modify), like autoresearch's."""
    import math
    import os

    MAX_SEQ_LEN = 64
    TIME_BUDGET = 1
    CACHE_DIR = os.environ.get("AUTORESEARCH_FIXTURE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "autoresearch-fixture"
    )
    DATA = os.path.join(CACHE_DIR, "data", "shard_00000.txt")


    def download_data(text):
        os.makedirs(os.path.dirname(DATA), exist_ok=True)
        with open(DATA, "w") as f:
            f.write(text)


    def make_dataloader():
        with open(DATA) as f:  # FileNotFoundError: run prepare.py first
            text = f.read()
        return [text[i : i + MAX_SEQ_LEN] for i in range(0, len(text), MAX_SEQ_LEN)]


    def evaluate_bpb(batches, lr, depth):
        entropy = len(set("".join(batches))) / 64
        return entropy + 0.3 * math.log2(lr / 0.02) ** 2 + 0.05 * (depth - 6) ** 2


    if __name__ == "__main__":
        download_data(os.environ.get("FIXTURE_TEXT", "hello world\\n" * 100))
        print(f"Data: {DATA}")
    '''
)

AR_TRAIN = textwrap.dedent(
    '''\
    """Pretraining script (the file agents edit), like autoresearch's train.py."""
    import time

    from prepare import MAX_SEQ_LEN, TIME_BUDGET, evaluate_bpb, make_dataloader

    DEPTH = 4
    MATRIX_LR = 0.04
    WARMUP_RATIO = 0.1

    t0 = time.time()
    batches = make_dataloader()
    steps = 5
    for step in range(steps):
        loss = 3.0 / (1 + step * MATRIX_LR * 10)
        print(f"\\rstep {step:05d} ({100 * (step + 1) / steps:.1f}%) | loss: {loss:.6f}", end="")
    print()
    val_bpb = evaluate_bpb(batches, MATRIX_LR, DEPTH)
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {time.time() - t0:.1f}")
    print(f"peak_vram_mb:     {0.0:.1f}")
    print(f"num_steps:        {steps}")
    print(f"depth:            {DEPTH}")
    '''
)

NANO_PREPARE = textwrap.dedent(
    '''\
    """Prepare the character-level data set: train.bin, val.bin (uint16 ids) and meta.pkl."""
    import os
    import pickle
    from array import array

    here = os.path.dirname(__file__)
    with open(os.path.join(here, "input.txt")) as f:
        data = f.read()
    chars = sorted(set(data))
    stoi = {ch: i for i, ch in enumerate(chars)}
    n = len(data)
    for name, part in (("train", data[: int(n * 0.9)]), ("val", data[int(n * 0.9) :])):
        with open(os.path.join(here, f"{name}.bin"), "wb") as f:
            array("H", [stoi[c] for c in part]).tofile(f)
    with open(os.path.join(here, "meta.pkl"), "wb") as f:
        pickle.dump({"vocab_size": len(chars), "stoi": stoi}, f)
    print(f"vocab size: {len(chars):,}")
    '''
)

NANO_CONFIGURATOR = textwrap.dedent(
    '''\
    """Poor Man's Configurator, like nanoGPT's: exec a config file, then --key=value."""
    import sys
    from ast import literal_eval

    for arg in sys.argv[1:]:
        if "=" not in arg:
            print(f"Overriding config with {arg}:")
            with open(arg) as f:
                exec(f.read())
        else:
            key, val = arg[2:].split("=")
            globals()[key] = literal_eval(val)
    '''
)

NANO_MODEL = textwrap.dedent(
    '''\
    """The "model": a loss that depends on the hyperparameters and the data."""
    import math


    def loss_at(it, vocab_size, learning_rate, n_layer, dropout, train):
        floor = math.log(vocab_size) * 0.3 + 0.4 * math.log10(learning_rate / 2e-3) ** 2
        floor += 0.02 * (n_layer - 4) ** 2 + dropout * (0.1 if train else 0.3)
        return floor + 2.0 / (1 + it * learning_rate * 50)
    '''
)

NANO_TRAIN = textwrap.dedent(
    '''\
    """Training script, like nanoGPT's train.py (defaults here, overrides from config/)."""
    import os
    import pickle
    from array import array

    from model import loss_at

    out_dir = "out"
    eval_interval = 5
    dataset = "openwebtext"
    learning_rate = 6e-4
    max_iters = 10
    n_layer = 12
    dropout = 0.0
    device = "cuda"
    exec(open("configurator.py").read())  # overrides from the command line or a config file

    data_dir = os.path.join("data", dataset)
    train_data = array("H")
    with open(os.path.join(data_dir, "train.bin"), "rb") as f:
        train_data.frombytes(f.read())
    with open(os.path.join(data_dir, "meta.pkl"), "rb") as f:
        vocab_size = pickle.load(f)["vocab_size"]
    print(f"found vocab_size = {vocab_size} (inside {data_dir}/meta.pkl)")
    os.makedirs(out_dir, exist_ok=True)
    for it in range(max_iters + 1):
        if it % eval_interval == 0:
            train = loss_at(it, vocab_size, learning_rate, n_layer, dropout, True)
            val = loss_at(it, vocab_size, learning_rate, n_layer, dropout, False)
            print(f"step {it}: train loss {train:.4f}, val loss {val:.4f}")
            with open(os.path.join(out_dir, "ckpt.pt"), "wb") as f:
                pickle.dump({"iter_num": it, "best_val_loss": val}, f)
        print(f"iter {it}: loss {loss_at(it, vocab_size, learning_rate, n_layer, dropout, True):.4f}")
    '''
)

NANO_CONFIG = textwrap.dedent(
    """\
    # train a miniature character-level shakespeare model
    out_dir = "out-shakespeare-char"
    eval_interval = 5
    dataset = "shakespeare_char"
    learning_rate = 1e-3
    max_iters = 10
    n_layer = 6
    dropout = 0.2
    device = "cpu"
    """
)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _commit(root: Path) -> None:
    git(root, "init", "-q", "-b", "master")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial commit")


def _run(root: Path, *argv: str, env: dict[str, str] | None = None) -> None:
    out = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, f"{argv}: {out.stdout}{out.stderr}"


def autoresearch_like(root: Path, cache: Path) -> Path:
    """The autoresearch-like repository at `root`, synced with uv (offline), its data
    prepared into `cache` (outside the repository)."""
    root.mkdir(parents=True)
    _write(root, {"pyproject.toml": AR_PYPROJECT, "prepare.py": AR_PREPARE,
                  "train.py": AR_TRAIN, "program.md": "# autoresearch\nLower val_bpb.\n",
                  ".gitignore": "__pycache__/\n*.py[oc]\n.venv\nresults.tsv\n"})  # fmt: skip
    _run(root, UV, "lock", "--offline")
    _run(root, UV, "sync", "--offline", "--python", sys.executable)
    env = {**os.environ, CACHE_VAR: str(cache), "FIXTURE_TEXT": TEXT}
    _run(root, UV, "run", "prepare.py", env=env)
    _commit(root)
    return root


def nanogpt_like(root: Path) -> Path:
    """The nanoGPT-like repository at `root`, its shakespeare_char data prepared (and
    git-ignored, as nanoGPT's .gitignore does)."""
    root.mkdir(parents=True)
    _write(root, {"train.py": NANO_TRAIN, "model.py": NANO_MODEL,
                  "configurator.py": NANO_CONFIGURATOR,
                  "config/train_shakespeare_char.py": NANO_CONFIG,
                  "data/shakespeare_char/prepare.py": NANO_PREPARE,
                  ".gitignore": "__pycache__/\n*.bin\n*.pkl\n*.pt\n*.pyc\ninput.txt\n"})  # fmt: skip
    _commit(root)
    (root / "data/shakespeare_char/input.txt").write_text(TEXT)
    _run(root, sys.executable, "data/shakespeare_char/prepare.py")
    return root
