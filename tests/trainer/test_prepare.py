"""The template's prepare.py: byte tokenizer, the stdlib data set and its split, the
data loader, and evaluate_bpb (deterministic, equal to hand-computed values)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F


def test_byte_tokenizer_round_trips(prepare_mod: ModuleType) -> None:
    tok = prepare_mod.ByteTokenizer(257)
    text = "def f(x):\n    return x ** 2  # ünïcode ✓ 🐍\n"
    ids = tok.encode(text)
    assert ids == list(text.encode("utf-8"))
    assert all(0 <= i < 256 for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode([tok.bos_id, *ids, tok.bos_id]) == text  # BOS decodes to nothing
    assert tok.bos_id == 256
    assert tok.token_bytes() == [1] * 256 + [0]


def test_stdlib_files_exclude_tests_and_tools(prepare_mod: ModuleType, tmp_path: Path) -> None:
    for rel in [
        "os.py",
        "json/decoder.py",
        "test/test_os.py",
        "unittest/test/test_case.py",
        "lib2to3/tests/data.py",
        "idlelib/editor.py",
        "site-packages/pip/__init__.py",
        "json/README.txt",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    assert prepare_mod.stdlib_files(tmp_path) == ["json/decoder.py", "os.py"]


def test_stdlib_split_is_stable_and_disjoint(prepare_mod: ModuleType) -> None:
    import sysconfig

    files = prepare_mod.stdlib_files(Path(sysconfig.get_paths()["stdlib"]))
    train, val = prepare_mod.stdlib_split(files)
    assert set(train).isdisjoint(val)
    assert sorted(train + val) == sorted(files)
    assert 0.05 < len(val) / len(files) < 0.15
    shuffled = files[:]
    random.Random(0).shuffle(shuffled)
    assert prepare_mod.stdlib_split(shuffled) == (train, val)
    # membership depends on the path alone: adding or removing files moves nobody else
    train2, val2 = prepare_mod.stdlib_split([*files[::2], "zz_new_module.py"])
    assert set(val2) - {"zz_new_module.py"} == set(val) & set(files[::2])
    assert set(train2) - {"zz_new_module.py"} == set(train) & set(files[::2])


def test_stdlib_prepare_writes_streams_and_meta(stdlib_root: Path) -> None:
    out = stdlib_root / "stdlib"
    meta = json.loads((out / "meta.json").read_text())
    assert meta["vocab_size"] == 257 and meta["bos_id"] == 256
    for split in ("train", "val"):
        tokens = (out / f"{split}.bin").stat().st_size // 2
        assert tokens == meta[f"{split}_tokens"] == meta[f"{split}_bytes"] + meta[f"{split}_files"]
    assert meta["train_bytes"] > 5 * meta["val_bytes"] > 0


def test_data_dir_defaults_to_xdg_cache(
    prepare_mod: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AR_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert prepare_mod.data_dir("stdlib") == tmp_path / "autoresearch-tui" / "data" / "stdlib"
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "elsewhere"))
    assert prepare_mod.data_dir("climbmix") == tmp_path / "elsewhere" / "climbmix"


def test_missing_data_is_a_clear_error(
    prepare_mod: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"run `python prepare.py`"):
        prepare_mod.load_tokens("train")


def test_dataloader_windows_are_shifted_and_seeded(prepare_mod: ModuleType, data_env: Path) -> None:
    x, y, epoch = next(prepare_mod.make_dataloader(4, 64, "train", "cpu", seed=1))
    assert x.shape == y.shape == (4, 64) and x.dtype == torch.long and epoch == 1
    assert torch.equal(x[:, 1:], y[:, :-1])
    x2, _, _ = next(prepare_mod.make_dataloader(4, 64, "train", "cpu", seed=1))
    x3, _, _ = next(prepare_mod.make_dataloader(4, 64, "train", "cpu", seed=2))
    assert torch.equal(x, x2) and not torch.equal(x, x3)


class FixedLogits(torch.nn.Module):
    """A model whose next-byte distribution ignores the input: softmax(logits)."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, x, y, reduction="mean"):
        logits = self.logits.expand(*x.shape, -1)
        return F.cross_entropy(
            logits.reshape(-1, logits.size(-1)), y.reshape(-1), reduction=reduction
        )


def test_uniform_model_scores_exactly_eight_bits_per_byte(
    prepare_mod: ModuleType, data_env: Path
) -> None:
    logits = torch.zeros(257, dtype=torch.float64)
    logits[256] = -math.inf  # never predicts BOS: uniform over the 256 bytes
    bpb = prepare_mod.evaluate_bpb(FixedLogits(logits), 8, seq_len=64, eval_tokens=4096)
    assert bpb == pytest.approx(8.0, abs=1e-9)


def test_evaluate_bpb_equals_hand_computation(prepare_mod: ModuleType, data_env: Path) -> None:
    logits = torch.randn(257, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    bpb = prepare_mod.evaluate_bpb(FixedLogits(logits), 8, seq_len=64, eval_tokens=4096)
    # by hand: the first 4096/64 rows of 65 tokens of val.bin; targets = tokens 1..64 of each
    raw = (data_env / "stdlib" / "val.bin").read_bytes()
    val = [
        int.from_bytes(raw[2 * i : 2 * i + 2], "little", signed=True) for i in range(64 * 64 + 1)
    ]
    log_z = math.log(sum(math.exp(v) for v in logits.tolist()))
    bits = nbytes = 0.0
    for row in range(64):
        for target in val[row * 64 + 1 : row * 64 + 65]:
            if target != 256:  # BOS targets carry no bytes
                bits += (log_z - logits[target].item()) / math.log(2)
                nbytes += 1
    assert bpb == pytest.approx(bits / nbytes, rel=1e-12)


def test_evaluate_bpb_is_deterministic(prepare_mod: ModuleType, data_env: Path) -> None:
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(257, 16)
            self.head = torch.nn.Linear(16, 257)

        def forward(self, x, y, reduction="mean"):
            logits = self.head(torch.tanh(self.emb(x)))
            return F.cross_entropy(logits.view(-1, 257), y.reshape(-1), reduction=reduction)

    model = Tiny()
    # Bit-for-bit at a fixed thread count, as the cpu preset runs (CPU_THREADS = 1): with
    # several threads the BLAS may use fewer on a loaded machine and sum in another order
    # (seen once: 8.083465007 vs 8.083465346).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first = prepare_mod.evaluate_bpb(model, 16, seq_len=128, eval_tokens=16384)
        assert prepare_mod.evaluate_bpb(model, 16, seq_len=128, eval_tokens=16384) == first
        fours = prepare_mod.evaluate_bpb(model, 4, seq_len=128, eval_tokens=16384)
    finally:
        torch.set_num_threads(threads)
    assert fours == pytest.approx(first)
    assert 7.0 < first < 10.0  # an untrained model is about uniform


def test_zlib_bpb_compresses_the_very_text_evaluate_bpb_scores(
    prepare_mod: ModuleType, data_env: Path
) -> None:
    import zlib

    rows = prepare_mod.eval_rows(64, 4096)  # 64 rows of 65 tokens, consecutive
    val = prepare_mod.load_tokens("val")
    assert torch.equal(rows[:, 1:].reshape(-1), val[1 : 1 + 64 * 64].long())  # they tile it
    text = bytes(t for t in val[1 : 1 + 64 * 64].tolist() if t < 256)  # BOS is no byte
    expected = 8 * len(zlib.compress(text, 9)) / len(text)
    assert prepare_mod.zlib_bpb(8, seq_len=64, eval_tokens=4096) == expected
    assert 0.5 < expected < 8.0  # code compresses
    smaller = prepare_mod.zlib_bpb(48, seq_len=64, eval_tokens=4096)  # whole batches: 48 rows
    text48 = bytes(t for t in val[1 : 1 + 48 * 64].tolist() if t < 256)
    assert smaller == 8 * len(zlib.compress(text48, 9)) / len(text48)
