"""How a run ends when it is stopped: what it was doing, its last words, and no process left behind.

A run marks its phase (`mark`); `stop_on_signals` makes SIGTERM and Ctrl-C end it within a
moment, saying what state the warehouse is in; `Watchdog` ends the run's child processes (the
temporary Prefect server, spaCy and Dask workers) when the run itself dies, even by `kill -9`.
"""

from __future__ import annotations

import contextvars
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

# What the run is doing: "reading" (nothing written to the lake yet), "committing" (its one
# transaction), "committed" (the snapshot is in; maintenance or export may still run).
_state: dict = {"phase": "reading", "detail": "", "cleanup": None}
_lock = threading.Lock()


def mark(phase: str, detail: str = "", cleanup: Callable[[], None] | None = None) -> None:
    """Record the run's phase (see `_state`); `cleanup` removes what the run staged if it is
    interrupted while still reading (kept until replaced)."""
    with _lock:
        _state.update(phase=phase, detail=detail)
        if cleanup is not None:
            _state["cleanup"] = cleanup


def phase() -> str:
    return _state["phase"]


def outcome_line() -> str:
    """What an interrupted or failed run leaves in the warehouse, from the phase it reached."""
    with _lock:
        current, detail = _state["phase"], _state["detail"]
    if current == "committing":
        return ("the commit was under way: the warehouse holds the whole run or none of it "
                "(`newsflow history` shows which)")
    if current == "committed":
        return f"the run was loaded ({detail}); what came after it did not finish"
    return "nothing was loaded; the warehouse was left as it was"


def _descendants() -> list:
    import psutil

    try:
        return psutil.Process().children(recursive=True)
    except psutil.Error:
        return []


def kill_children() -> None:
    """Kill every process this one started (and theirs)."""
    import psutil

    for child in _descendants():
        try:
            child.kill()
        except psutil.Error:
            pass


@contextmanager
def stop_on_signals(echo: Callable[[str], None]) -> Iterator[None]:
    """On SIGTERM or SIGINT: kill the child processes, remove what the run staged (if it has not
    begun its commit), say what state the warehouse is in, and exit at once (143 or 130). The
    warehouse needs no unwinding: a commit cut short is a transaction never committed, as after
    `kill -9`."""

    def handler(signum, _frame):
        name = signal.Signals(signum).name
        kill_children()
        cleanup = _state["cleanup"]
        try:
            if cleanup is not None and phase() == "reading":
                cleanup()
        except Exception:  # noqa: BLE001 -- a dead run's leftovers are removed by the next run
            pass
        echo(f"interrupted ({name}); {outcome_line()}")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, earlier in previous.items():
            signal.signal(signum, earlier)


def run_interruptibly(fn: Callable[..., T], *args) -> T:
    """`fn(*args)` in a worker thread (with this thread's context variables), this thread waiting
    in short joins: the signal handlers of `stop_on_signals` then run within a moment, and
    Prefect, which swaps in its own SIGTERM handler only in the main thread, leaves them alone
    (its handler unwinds the run, and spaCy's pool waits for its workers for minutes)."""
    outcome: dict = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["value"] = context.run(fn, *args)
        except BaseException as err:  # noqa: BLE001 -- re-raised in the calling thread
            outcome["error"] = err

    worker = threading.Thread(target=target, name="newsflow-run", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


_forking_parent = {"pid": 0}
_at_fork_registered = False


def _remember_parent() -> None:
    _forking_parent["pid"] = os.getpid()


def _die_with_parent() -> None:
    """In a forked child (spaCy's worker processes): be killed when the parent dies."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != _forking_parent["pid"]:  # the parent died before the line above
        os._exit(1)


def die_with_parent_when_forked() -> None:
    """Make every process this one forks from now on die with it (Linux: a parent-death signal).
    Forks are where the watchdog falls short: a child forked just before `kill -9` may never be
    seen by its poll."""
    global _at_fork_registered
    if not _at_fork_registered and sys.platform == "linux":
        os.register_at_fork(before=_remember_parent, after_in_child=_die_with_parent)
        _at_fork_registered = True


class Watchdog:
    """A small process that outlives this one only long enough to kill its descendants when it
    dies (`kill -9` included): it polls this process's children every `interval` seconds and
    kills those it saw once this process is gone (the temporary Prefect server, Dask workers).
    Started in its own session, so a Ctrl-C to the terminal's process group does not stop it
    first. Forked children (spaCy's workers) also get a parent-death signal."""

    def __init__(self, interval: float = 0.25):
        die_with_parent_when_forked()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.watchdog", str(os.getpid()), str(interval)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )

    def __enter__(self) -> "Watchdog":
        return self

    def __exit__(self, *exc) -> None:
        # A normal end: the run stopped its children itself; the watchdog has nothing to do.
        self.process.kill()
        self.process.wait()
