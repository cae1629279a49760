"""docs/ARCHITECTURE.md §1's dependency rules, checked on the real source and a real
interpreter.

app -> search, agents, trainer; search -> agents only through the proposer interface
(and its request types), the shared number formats and the locked parser; trainer imports none of the
others; only app/ imports textual (the engine runs headless); the benchmarks (app/bench/)
are reached only from their CLI subcommand, never from the engine or the rest of the app.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "search", "agents", "trainer")


def imports(package: str) -> dict[str, set[str]]:
    """file -> every module it imports (absolute names), for one of the code folders."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def offenders(package: str, rule) -> list[str]:
    return [f"{f}: {m}" for f, mods in imports(package).items() for m in sorted(mods) if rule(m)]


def test_only_app_imports_textual() -> None:
    for package in ("search", "agents", "trainer"):
        assert offenders(package, lambda m: m.split(".")[0] == "textual") == []


def test_trainer_imports_none_of_the_others() -> None:
    assert (
        offenders(
            "trainer",
            lambda m: (
                m.startswith("autoresearch_tui.") and not m.startswith("autoresearch_tui.trainer")
            ),
        )
        == []
    )


def test_engine_never_imports_the_app_and_search_uses_agents_only_through_the_interface() -> None:
    for package in ("search", "agents"):
        assert offenders(package, lambda m: m.startswith("autoresearch_tui.app")) == []
    seam = tuple(f"autoresearch_tui.agents.{m}" for m in ("proposer", "request", "format", "pyast"))
    assert (
        offenders("search", lambda m: m.startswith("autoresearch_tui.agents") and m not in seam)
        == []
    )
    assert offenders("agents", lambda m: m.startswith("autoresearch_tui.search")) == []


def test_only_the_bench_subcommand_imports_the_benchmarks() -> None:
    bench = "autoresearch_tui.app.bench"
    for package in ("search", "agents", "trainer"):
        assert offenders(package, lambda m: m == bench or m.startswith(bench + ".")) == []
    importers = {
        f.split(":")[0]
        for f in offenders("app", lambda m: m == bench or m.startswith(bench + "."))
        if not f.startswith("app/bench/")
    }
    assert importers <= {"app/cli.py"}, importers


def test_the_engine_runs_without_textual_installed() -> None:
    code = (
        "import sys; sys.modules['textual'] = None\n"  # any import of textual now fails
        "import autoresearch_tui.search.scheduler, autoresearch_tui.search.snapshot\n"
        "import autoresearch_tui.agents.factory, autoresearch_tui.agents.backends\n"
        "import autoresearch_tui.app.headless, autoresearch_tui.trainer.workspace\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_every_code_folder_is_installed() -> None:
    """pyproject's package list names every folder with an __init__.py: a folder left out
    works in an editable install and is missing from a wheel (search/policies was)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {Path(folder) for folder in setuptools["package-dir"].values()}
    installed = {Path(setuptools["package-dir"][name]) for name in setuptools["packages"]}
    folders = {
        init.parent.relative_to(ROOT)
        for package in (*PACKAGES, "briefs")
        for init in (ROOT / package).rglob("__init__.py")
        if "template" not in init.parts
    }
    assert folders <= mapped and folders <= installed, sorted(map(str, folders - installed))


def test_rooms_stay_small() -> None:
    """One room per concern (issue 11): no module in search/, agents/ or app/ over 500
    lines, no class over 400, no function over 80; split along the seams instead."""
    found = []
    for package in ("search", "agents", "app"):
        for path in (ROOT / package).rglob("*.py"):
            text, name = path.read_text(), path.relative_to(ROOT)
            if (lines := len(text.splitlines())) > 500:
                found.append(f"{name}: {lines} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    limit = 400 if isinstance(node, ast.ClassDef) else 80
                    if (size := (node.end_lineno or node.lineno) - node.lineno + 1) > limit:
                        found.append(f"{name}:{node.lineno} {node.name}: {size} lines")
    assert found == []
