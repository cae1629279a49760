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


def test_stdlib_prepare_trains_a_bpe_and_writes_streams_and_meta(
    prepare_mod: ModuleType, stdlib_root: Path, data_env: Path
) -> None:
    out = stdlib_root / "stdlib-bpe2048"
    assert prepare_mod.data_dir("stdlib") == out  # one cache per vocabulary
    meta = json.loads((out / "meta.json").read_text())
    assert meta["vocab_size"] == prepare_mod.VOCAB == 2048 and meta["bos_id"] == 2047
    assert meta["train_bytes"] > 5 * meta["val_bytes"] > 0
    val = prepare_mod.load_tokens("val").tolist()
    assert len(val) == meta["val_tokens"] and val.count(2047) == meta["val_files"]
    # every byte is counted once: the tokens' byte lengths sum to the split's bytes
    assert sum(meta["token_bytes"][i] for i in val) == meta["val_bytes"]
    assert meta["val_bytes"] / meta["val_tokens"] > 2.5  # code compresses to ~3 bytes a token
    tokenizer = prepare_mod.load_tokenizer()
    first = val[1 : val.index(2047, 1)]  # the first validation file, decoded exactly
    source = (
        Path(meta["source"])
        / prepare_mod.stdlib_split(prepare_mod.stdlib_files(Path(meta["source"])))[1][0]
    )
    assert tokenizer.decode_bytes(first) == source.read_bytes()


def test_stdlib_prepare_with_byte_tokens(prepare_mod: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "lib"
    for rel, text in {"a.py": "x = 1\n", "pkg/b.py": "def f():\n    return 'ü'\n"}.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_text(text, encoding="utf-8")
    meta = prepare_mod.prepare_stdlib(tmp_path / "out", source, vocab_size=257)
    assert meta["vocab_size"] == 257 and meta["bos_id"] == 256
    for split in ("train", "val"):
        tokens = (tmp_path / "out" / f"{split}.bin").stat().st_size // 2
        assert tokens == meta[f"{split}_tokens"] == meta[f"{split}_bytes"] + meta[f"{split}_files"]
    assert meta["train_bytes"] + meta["val_bytes"] == 6 + len("def f():\n    return 'ü'\n") + 1


def test_data_dir_defaults_to_xdg_cache(
    prepare_mod: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AR_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = tmp_path / "autoresearch-tui" / "data"
    assert prepare_mod.data_dir("stdlib") == root / f"stdlib-bpe{prepare_mod.VOCAB}"
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


def uniform_logits(vocab: int) -> torch.Tensor:
    logits = torch.zeros(vocab, dtype=torch.float64)
    logits[vocab - 1] = -math.inf  # never predicts BOS: uniform over the other tokens
    return logits


def test_a_uniform_byte_model_scores_exactly_eight_bits_per_byte(
    prepare_mod: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "lib"
    for i in range(40):  # enough files that both splits get some
        (source / f"m{i}.py").parent.mkdir(parents=True, exist_ok=True)
        (source / f"m{i}.py").write_text(f"def f{i}(x):\n    return x * {i}  # ü\n" * 20)
    monkeypatch.setenv("AR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(prepare_mod, "VOCAB", 257)
    monkeypatch.setattr(prepare_mod, "_cache", {})
    prepare_mod.prepare_stdlib(prepare_mod.data_dir("stdlib"), source, vocab_size=257)
    assert prepare_mod.data_dir("stdlib") == tmp_path / "data" / "stdlib"
    bpb = prepare_mod.evaluate_bpb(FixedLogits(uniform_logits(257)), 8, seq_len=64, eval_tokens=512)
    assert bpb == pytest.approx(8.0, abs=1e-9)


def test_evaluate_bpb_equals_hand_computation(prepare_mod: ModuleType, data_env: Path) -> None:
    vocab = prepare_mod.VOCAB
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(vocab, generator=gen, dtype=torch.float64)
    bpb = prepare_mod.evaluate_bpb(FixedLogits(logits), 8, seq_len=64, eval_tokens=4096)
    # by hand: the first 4096/64 rows of 65 tokens of val.bin; targets = tokens 1..64 of each
    raw = (prepare_mod.data_dir("stdlib") / "val.bin").read_bytes()
    val = [
        int.from_bytes(raw[2 * i : 2 * i + 2], "little", signed=True) for i in range(64 * 64 + 1)
    ]
    token_bytes = prepare_mod.load_meta()["token_bytes"]
    log_z = math.log(sum(math.exp(v) for v in logits.tolist()))
    bits = nbytes = 0.0
    for row in range(64):
        for target in val[row * 64 + 1 : row * 64 + 65]:
            if token_bytes[target]:  # BOS targets carry no bytes
                bits += (log_z - logits[target].item()) / math.log(2)
                nbytes += token_bytes[target]
    assert bpb == pytest.approx(bits / nbytes, rel=1e-12)


def test_evaluate_bpb_is_deterministic(prepare_mod: ModuleType, data_env: Path) -> None:
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(prepare_mod.VOCAB, 16)
            self.head = torch.nn.Linear(16, prepare_mod.VOCAB)

        def forward(self, x, y, reduction="mean"):
            logits = self.head(torch.tanh(self.emb(x)))
            return F.cross_entropy(
                logits.view(-1, logits.size(-1)), y.reshape(-1), reduction=reduction
            )

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
    uniform = prepare_mod.evaluate_bpb(
        FixedLogits(uniform_logits(prepare_mod.VOCAB)), 16, seq_len=128, eval_tokens=16384
    )
    assert first == pytest.approx(uniform, rel=0.2)  # an untrained model is about uniform


def test_zlib_bpb_compresses_the_very_text_evaluate_bpb_scores(
    prepare_mod: ModuleType, data_env: Path
) -> None:
    import zlib

    rows = prepare_mod.eval_rows(64, 4096)  # 64 rows of 65 tokens, consecutive
    val = prepare_mod.load_tokens("val")
    assert torch.equal(rows[:, 1:].reshape(-1), val[1 : 1 + 64 * 64].long())  # they tile it
    tokenizer = prepare_mod.load_tokenizer()
    text = tokenizer.decode_bytes(val[1 : 1 + 64 * 64].tolist())  # BOS is no byte
    expected = 8 * len(zlib.compress(text, 9)) / len(text)
    assert prepare_mod.zlib_bpb(8, seq_len=64, eval_tokens=4096) == expected
    assert 0.5 < expected < 8.0  # code compresses
    smaller = prepare_mod.zlib_bpb(48, seq_len=64, eval_tokens=4096)  # whole batches: 48 rows
    text48 = tokenizer.decode_bytes(val[1 : 1 + 48 * 64].tolist())
    assert smaller == 8 * len(zlib.compress(text48, 9)) / len(text48)
