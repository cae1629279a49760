"""Contained experiments: one test per row of issue 15's table that the sandbox, the
environment, git's guard, the readonly check and the process rules answer (the attack
runs as a real experiment of the real engine). Each row runs with the bwrap sandbox where
this machine allows it and without (`[search] sandbox = "none"`); a row only the sandbox
can answer is skipped without it, with the reason."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from synthetic import PREPARE_PY, ScriptedProposer, alive, git, make_workspace, wait_until

from autoresearch_tui.agents.command_run import agent_env, run_agent
from autoresearch_tui.agents.proposer import AgentSpec
from autoresearch_tui.search.config import ConfigError, load_config
from autoresearch_tui.search.events import Event, Notice
from autoresearch_tui.search.model import Node
from autoresearch_tui.search.policies import make_policy
from autoresearch_tui.search.processes import marked_groups
from autoresearch_tui.search.sandbox import bwrap_problem
from autoresearch_tui.search.scheduler import Scheduler
from autoresearch_tui.search.slots import Slot
from autoresearch_tui.search.store import Store

NO_BWRAP = bwrap_problem()
BWRAP = pytest.param("bwrap", marks=pytest.mark.skipif(bool(NO_BWRAP), reason=NO_BWRAP))
MODES = ["none", BWRAP]

TRAIN = textwrap.dedent(
    """\
    import os, pathlib, subprocess, sys, tempfile, time
    ATTACK = {attack}
    X = 0
    ROOT = pathlib.Path.cwd().parents[2]  # <workspace>/.autoresearch/worktrees/<node>
    if ATTACK:
    {body}
    print("val_bpb: 1.0", flush=True)
    """
)
TOML = textwrap.dedent(
    """\
    [target]
    editable  = ["train.py"]
    readonly  = ["prepare.py"]
    run       = "python train.py"
    metric    = "val_bpb"
    timeout_s = {timeout}

    [search]
    sandbox   = "{sandbox}"
    base_runs = 1
    merge     = false
    {extra}
    """
)


def workspace(
    tmp: Path, body: str, sandbox: str, *, attack: bool = True, timeout: int = 20, extra: str = ""
) -> Path:
    train = TRAIN.format(attack=attack, body=textwrap.indent(textwrap.dedent(body), "    "))
    toml = TOML.format(sandbox=sandbox, timeout=timeout, extra=extra)
    return make_workspace(tmp / "ws", train=train, toml=toml)


def search(ws: Path, script: list | None = None, **replace: object) -> Scheduler:
    """Run the base (and the scripted children, one at a time) to the end."""
    config = dataclasses.replace(load_config(ws, check_clean=False), **replace)
    notices: list[str] = []

    def listen(event: Event) -> None:
        if isinstance(event, Notice):
            notices.append(event.text)

    s = Scheduler(
        config, [ScriptedProposer(script or [])], policy=make_policy("ratchet"),
        slots=[Slot("cpu0", threads=1)], max_experiments=len(script or []), listeners=[listen],
    )  # fmt: skip
    asyncio.run(s.run())
    s.notices = notices  # type: ignore[attr-defined]
    return s


def log(ws: Path, node: str = "n0000") -> str:
    return (ws / ".autoresearch" / "logs" / f"{node}.log").read_text()


def root(s: Scheduler) -> Node:
    node = s.tree["n0000"]
    assert node is not None
    return node


# -- secrets ---------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", MODES)
def test_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: str) -> None:
    """Row "secrets": no secret-looking variable, no api_key_env name, no env_drop name
    reaches the run (env_keep passes one); the runner is not dumpable; in the sandbox no
    process's environment there holds the runner's keys."""
    secrets = {"HF_TOKEN": "s1", "GITHUB_TOKEN": "s2", "AWS_SESSION_TOKEN": "s3",
               "MY_LLM": "s4", "PLAIN_BUT_DROPPED": "s5", "DB_PASSWORD": "s6"}  # fmt: skip
    for name, value in {**secrets, "KEPT_TOKEN": "k1", "HARMLESS": "h1"}.items():
        monkeypatch.setenv(name, value)
    body = """\
        print("ENV", sorted(os.environ))
        leaked = []
        for p in pathlib.Path("/proc").glob("[0-9]*"):
            try:
                leaked += [p.name] if b"HF_TOKEN=s1" in (p / "environ").read_bytes() else []
            except OSError:
                pass
        print("LEAKED", leaked)
    """
    extra = 'env_drop = ["PLAIN_BUT_DROPPED"]\nenv_keep = ["KEPT_TOKEN"]'
    ws = workspace(tmp_path, body, sandbox, extra=extra)
    agents = [AgentSpec("x", "openai", model="gpt-5", api_key_env="MY_LLM")]
    s = search(ws, agents=agents)
    text = log(ws)
    assert root(s).status == "done", (root(s).reason, text)
    env_line = next(line for line in text.splitlines() if line.startswith("ENV"))
    assert not [name for name in secrets if repr(name) in env_line], env_line
    assert "'KEPT_TOKEN'" in env_line and "'HARMLESS'" in env_line
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE: this runner is not dumpable
    if sandbox == "bwrap":  # the runner is not in the run's PID namespace
        assert "LEAKED []" in text, text


@pytest.mark.parametrize("sandbox", MODES)
def test_a_data_folder_the_environment_names_under_tmp_stays_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: str
) -> None:
    """A data cache under /tmp (AR_DATA_DIR, XDG_CACHE_HOME there) is read by the run in
    the sandbox too, which mounts a private /tmp (it used to be missing: "no prepared
    data"); read-only there."""
    data = tmp_path / "cache" / "data"
    data.mkdir(parents=True)
    (data / "train.bin").write_text("tokens")
    monkeypatch.setenv("AR_DATA_DIR", str(data))
    body = """\
        print("DATA", open(os.environ["AR_DATA_DIR"] + "/train.bin").read())
        try:
            open(os.environ["AR_DATA_DIR"] + "/new.bin", "w").write("x")
        except OSError as exc:
            print("REFUSED", exc.errno)
    """
    ws = workspace(tmp_path, body, sandbox)
    s = search(ws)
    text = log(ws)
    assert root(s).status == "done", (root(s).reason, text)
    assert "DATA tokens" in text
    assert ("REFUSED" in text) == (sandbox == "bwrap"), text


# -- git -------------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", MODES)
def test_git_hook(tmp_path: Path, sandbox: str) -> None:
    """Row "git hook": a run that plants a post-checkout hook (which fails and leaves a
    mark) and edits .git/config: the runner's next `git worktree add` runs no hook, the
    later node is done; without the sandbox the planting node is invalid and git's files
    are put back; in the sandbox the real .git never sees the change."""
    mark = tmp_path / "hook-ran"
    body = f"""\
        hooks = ROOT / ".git" / "hooks"
        hooks.mkdir(parents=True, exist_ok=True)
        (hooks / "post-checkout").write_text("#!/bin/sh\\ntouch {mark}\\nexit 1\\n")
        (hooks / "post-checkout").chmod(0o755)
        with open(ROOT / ".git" / "config", "a") as fh:
            fh.write("[core]\\n\\tfsmonitor = touch {mark}\\n")
    """
    ws = workspace(tmp_path, body, sandbox, attack=False)
    config_before = (ws / ".git" / "config").read_bytes()
    script = [[("ATTACK = False", "ATTACK = True")], [("X = 0", "X = 1")]]
    s = search(ws, script)
    attack, after = (
        next(n for n in s.tree if n.description.startswith(p)) for p in ("ATTACK", "X")
    )
    assert after.status == "done", after.reason
    assert not mark.exists()
    assert not (ws / ".git" / "hooks" / "post-checkout").exists()
    assert (ws / ".git" / "config").read_bytes() == config_before
    if sandbox == "none":
        assert attack.status == "invalid" and ".git/" in attack.reason, attack.reason
    else:
        assert attack.status == "done", attack.reason


def test_git_commands_ignore_a_planted_hook(tmp_path: Path) -> None:
    """Row "git hook", the runner's side: a hook put there by any means never runs."""
    from autoresearch_tui.search.gitops import GitWorkspace

    ws = make_workspace(tmp_path / "ws")
    mark = tmp_path / "ran"
    hook = ws / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {mark}\nexit 1\n")
    hook.chmod(0o755)
    gws = GitWorkspace(ws, ws / ".autoresearch")
    worktree = gws.add_worktree("n0001", gws.head_commit())
    assert (worktree / "train.py").exists() and not mark.exists()


# -- writes outside --------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", [BWRAP])
def test_writes_outside(tmp_path: Path, sandbox: str) -> None:
    """Rows "writes outside" and "state.db": in the sandbox a run cannot change the
    user's checkout, delete a branch, or reach state.db; it may write its worktree,
    a private /tmp and `[search] writable`. (Without the sandbox nothing stops it.)"""
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = Path(f"/tmp/ar-mine.{os.getpid()}")  # the host's /tmp: nothing else writes it
    body = f"""\
        for attempt in (
            lambda: open(ROOT / "prepare.py", "a").write("# changed"),
            lambda: subprocess.run(["git", "update-ref", "-d", "refs/heads/main"], cwd=ROOT, check=True),
            lambda: open(os.environ["AR_STATE_DIR"] + "/state.db", "rb").read(1),
            lambda: open("{mine}", "w").write("mine"),
            lambda: open("{cache}/x", "w").write("cached"),
            lambda: open("out.txt", "w").write("worktree"),
        ):
            try:
                attempt()
                print("ALLOWED")
            except Exception as exc:
                print("REFUSED", type(exc).__name__)
    """
    ws = workspace(tmp_path, body, sandbox, extra=f'writable = ["{cache}"]')
    s = search(ws)
    text = log(ws)
    assert root(s).status == "done", (root(s).reason, text)
    outcomes = [
        line.split()[0]
        for line in text.splitlines()
        if line.split()[:1] in (["ALLOWED"], ["REFUSED"])
    ]
    assert outcomes == ["REFUSED"] * 3 + ["ALLOWED"] * 3, text
    assert (ws / "prepare.py").read_text() == PREPARE_PY
    assert git(ws, "rev-parse", "--verify", "-q", "refs/heads/main").strip()
    assert (cache / "x").read_text() == "cached" and not mine.exists()


# -- readonly check --------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", MODES)
@pytest.mark.parametrize("attack", ["restore", "symlink"])
def test_readonly_check(tmp_path: Path, sandbox: str, attack: str) -> None:
    """Row "readonly check": a change undone before the run ends (content and mtime put
    back), and a swap for a symlink to an identical copy, never pass as done: without the
    sandbox the run is invalid; in it the write is refused and the file never changes."""
    bodies = {
        "restore": """\
            st = os.stat("prepare.py"); old = open("prepare.py").read()
            open("prepare.py", "w").write("TIME_BUDGET = 99\\n"); time.sleep(0.1)
            open("prepare.py", "w").write(old); os.utime("prepare.py", ns=(st.st_atime_ns, st.st_mtime_ns))
        """,
        "symlink": """\
            copy = os.path.join(tempfile.mkdtemp(), "prepare.py")  # not /tmp/copy.py: it shadows a module
            open(copy, "w").write(open("prepare.py").read())
            os.symlink(copy, "link.py"); os.replace("link.py", "prepare.py")
        """,
    }
    ws = workspace(tmp_path, bodies[attack], sandbox)
    s = search(ws)
    node = root(s)
    assert node.status in ("invalid", "crashed"), node.reason
    if sandbox == "none":
        assert (node.status, node.reason) == (
            "invalid",
            "readonly file prepare.py was changed by the run",
        )
    else:
        assert "Read-only file system" in log(ws) or "Device or resource busy" in log(ws)


# -- processes -------------------------------------------------------------------------
@pytest.mark.parametrize("sandbox", MODES)
def test_daemons(tmp_path: Path, sandbox: str) -> None:
    """Row "daemons": a daemon the run forked is dead once the run ended (not at the next
    start); a grandchild holding stdout does not turn a finished run into a timeout; in
    the sandbox a `setsid` daemon with a cleared environment dies too (without it, that
    one escapes: it carries no marker)."""
    # Durations unique to this test process: a `sleep 300` of another run on the machine
    # (a concurrent suite, a fake agent's leftover) once passed for this run's daemon.
    tag = f".{os.getpid()}{10 if sandbox == 'bwrap' else 0}"
    daemon, bare, holder = (f"{n}{tag}" for n in (300, 301, 302))
    body = f"""\
        subprocess.Popen(["sleep", "{daemon}"], start_new_session=True, stdout=subprocess.DEVNULL)
        subprocess.Popen(["setsid", "env", "-i", "sleep", "{bare}"], stdout=subprocess.DEVNULL)
        subprocess.Popen(["sleep", "{holder}"])  # holds our stdout
        time.sleep(0.2)
    """
    ws = workspace(tmp_path, body, sandbox, timeout=60)
    try:
        s = search(ws)
        assert root(s).status == "done", (root(s).reason, log(ws))
        wait_until(lambda: not _sleeping(daemon), "the daemon to be killed at the run's end")
        wait_until(lambda: not _sleeping(holder), "the output holder to be killed")
        if sandbox == "bwrap":
            wait_until(lambda: not _sleeping(bare), "the sandbox's unmarked daemon to die")
    finally:
        for pid in _sleeping(bare):
            os.kill(pid, 9)


def _sleeping(seconds: str) -> list[int]:
    """Live `sleep <seconds>` processes."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "cmdline").read_bytes() == f"sleep\0{seconds}\0".encode() and alive(
                int(proc.name)
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


# -- command agent ---------------------------------------------------------------------
def test_command_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row "command agent": the agent's command carries the workspace's marker (a later
    start finds what it left) and only the keys its own CLI reads."""
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
        monkeypatch.setenv(name, "secret")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").write_text("#!/bin/sh\nenv\nsleep 300 &\n")
    (bin_dir / "claude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = tmp_path / "ws" / ".autoresearch"
    cwd = state / "worktrees" / "n0003"
    cwd.mkdir(parents=True)
    env = agent_env("claude -p", cwd)
    assert env["AR_STATE_DIR"] == str(state.resolve())
    assert "ANTHROPIC_API_KEY" in env and "OPENAI_API_KEY" not in env and "HF_TOKEN" not in env
    assert "OPENAI_API_KEY" in agent_env("codex exec --json", cwd)
    out = asyncio.run(run_agent("claude -p", cwd, "prompt", timeout_s=20))
    marker = f"AR_STATE_DIR={state.resolve()}"
    assert marker in out.output and "HF_TOKEN" not in out.output
    wait_until(lambda: not marked_groups(marker), "the agent's leftovers to be gone")


# -- the sandbox's settings and fallback -------------------------------------------------
def test_sandbox_settings_are_checked(tmp_path: Path) -> None:
    ws = workspace(tmp_path, "pass", "sometimes")
    with pytest.raises(ConfigError, match=r'\[search\] sandbox must be "auto", "bwrap" or "none"'):
        load_config(ws, check_clean=False)
    toml = TOML.format(sandbox="auto", timeout=5, extra="network = 1")
    (ws / "autoresearch.toml").write_text(toml)
    with pytest.raises(ConfigError, match=r"\[search\] network must be true or false"):
        load_config(ws, check_clean=False)
    toml = TOML.format(sandbox="none", timeout=5, extra='writable = "~/.cache/x"\nnetwork = false')
    (ws / "autoresearch.toml").write_text(toml)
    contain = load_config(ws, check_clean=False).contain
    assert (contain.sandbox, contain.writable, contain.network) == ("none", ("~/.cache/x",), False)


def test_without_bwrap_the_run_falls_back_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where bwrap cannot run, "auto" runs each experiment as a process group and says so
    once (a notice, state.db's meta for `status`); "bwrap" refuses to start, naming the fix."""
    from autoresearch_tui.search.sandbox import decide

    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    for tool in ("bash", "git", "setpriv", "sleep", "env"):  # what the runs need, not bwrap
        if found := shutil.which(tool):
            (no_bwrap / tool).symlink_to(found)
    (no_bwrap / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(no_bwrap))
    bwrap_problem.cache_clear()
    try:
        with pytest.raises(ValueError, match="bwrap is not installed — install bubblewrap"):
            decide("bwrap")
        ws = workspace(tmp_path, "pass", "auto", attack=False)
        s = search(ws)
        assert root(s).status == "done", root(s).reason
        said = [n for n in s.notices if "sandbox" in n]  # type: ignore[attr-defined]
        assert said == [
            "no sandbox: bwrap is not installed — install bubblewrap "
            "(Debian/Ubuntu: apt-get install bubblewrap); each run is a process group"
        ]
        store = Store(ws / ".autoresearch" / "state.db", readonly=True)
        assert store.get_meta("sandbox") == said[0]
        store.close()
    finally:
        bwrap_problem.cache_clear()


def test_bwrap_argv(tmp_path: Path) -> None:
    """The sandbox's command line: hidden folders before the worktree's bind, readonly
    files bound read-only after it, no network when asked."""
    from autoresearch_tui.search.contain import Isolation
    from autoresearch_tui.search.sandbox import bwrap_argv

    hidden, readonly = tmp_path / ".git", tmp_path / "wt" / "prepare.py"
    hidden.mkdir()
    readonly.parent.mkdir()
    readonly.write_text("x")
    iso = Isolation(
        sandbox="bwrap", hidden=(str(hidden), "/nonexistent"), writable=("/w",), network=False
    )
    argv = bwrap_argv(["bash", "-c", "x"], readonly.parent, iso, [readonly])
    assert argv[-4:] == ["--", "bash", "-c", "x"]
    joined = " ".join(argv)
    order = [f"--tmpfs {hidden}", f"--bind {readonly.parent} ", "--bind-try /w /w",
             f"--ro-bind {readonly} {readonly}"]  # fmt: skip
    assert [joined.index(part) for part in order] == sorted(joined.index(p) for p in order)
    assert "/nonexistent" not in joined
    assert "--unshare-net" in argv and "--unshare-pid" in argv and "--die-with-parent" in argv
