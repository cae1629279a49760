"""Benchmarks: the search policies on synthetic landscapes and the real trainer
(`bench search`), the engine's overhead (`bench overhead`), the TUI's latency
(`python -m autoresearch_tui.app.bench.tui`). The engine never imports this package."""
