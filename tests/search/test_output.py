"""Live parsing of experiment output: autoresearch's format must parse unchanged."""

from __future__ import annotations

import math

from autoresearch_tui.search.output import OutputParser

AUTORESEARCH = (
    "step 00000 (0.0%) | loss: 10.812500 | lrm: 1.00 | dt: 1432ms | tok/sec: 366,130 | "
    "mfu: 12.3% | epoch: 1 | remaining: 300s\r"
    "step 00001 (0.3%) | loss: 10.125000 | lrm: 1.00 | dt: 301ms | tok/sec: 1,741,000 | "
    "mfu: 39.8% | epoch: 1 | remaining: 299s\r"
    "step 00953 (100.0%) | loss: 3.123456 | lrm: 0.00 | dt: 300ms | tok/sec: 1,745,000 | "
    "mfu: 39.8% | epoch: 1 | remaining: 0s\n"
    "---\nval_bpb:          0.997900\ntraining_seconds: 300.1\ntotal_seconds:    325.9\n"
    "peak_vram_mb:     45060.2\nmfu_percent:      39.80\n"
)


def test_autoresearch_output_parses_as_it_streams() -> None:
    parser = OutputParser("val_bpb")
    for i in range(0, len(AUTORESEARCH), 7):  # arbitrary chunk boundaries
        parser.feed(AUTORESEARCH[i : i + 7], elapsed=float(i))
    parser.close()
    assert [(s, loss) for s, loss, _ in parser.take_points()] == [
        (0, 10.8125), (1, 10.125), (953, 3.123456),
    ]  # fmt: skip
    assert parser.progress == 100.0
    assert parser.value == 0.9979 and parser.crash_reason(0) == ""


def test_last_metric_line_wins_and_regex_alternative() -> None:
    parser = OutputParser("val_bpb")
    parser.feed("val_bpb: 1.5\nval_bpb = 1.25\nstep 3 loss=2.0 | x\n")
    assert parser.value == 1.25 and parser.take_points() == [(3, 2.0, 0.0)]
    regex = OutputParser("val_loss", metric_regex=r"val loss ([0-9.]+)")
    regex.feed("iter 10: val loss 3.2, train 3.1\niter 20: val loss 2.9, train 2.8\n")
    assert regex.value == 2.9


def test_crash_reasons() -> None:
    parser = OutputParser("val_bpb")
    parser.feed("Traceback...\nRuntimeError: CUDA out of memory\n")
    assert parser.crash_reason(1) == "exit code 1: RuntimeError: CUDA out of memory"
    assert parser.crash_reason(0).startswith("no 'val_bpb: <float>' line in the output")
    parser.feed("val_bpb: nan\n")
    assert math.isnan(parser.value) and parser.crash_reason(0) == "val_bpb is nan"
    parser.feed("val_bpb: inf\n")
    assert parser.crash_reason(0) == "val_bpb is inf"
