"""One run at a time per warehouse: an OS file lock held for the whole run.

Readers never take it (they read published versions of the database, see `Warehouse.publish`);
only runs do, so two scheduled or hand-started runs cannot interleave their reads of the
warehouse state and their loads. The lock is `flock`-based (filelock): the OS releases it when
the holding process dies, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.json"
IF_RUNNING = ("wait", "skip")


class WarehouseBusy(RuntimeError):
    """Another run held the warehouse for longer than this run was willing to wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds the warehouse: written beside the lock for the log lines of runs that find it."""

    run_id: str
    pid: int
    host: str
    since: str

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, since {self.since})"


def holder(root: Path) -> Holder | None:
    """The run that holds `root`'s lock now, as it described itself; None when unknown."""
    try:
        return Holder(**json.loads((Path(root) / HOLDER_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_locked(root: Path) -> bool:
    """Whether a run holds the warehouse now."""
    probe = FileLock(Path(root) / LOCK_FILE, thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


@contextmanager
def run_lock(root: Path, run_id: str, if_running: str = "wait", wait_timeout: float = 3600.0,
             log=None) -> Iterator[Holder | None]:
    """Hold the warehouse for one run. Yields None when the run holds it, or, with
    `if_running="skip"`, the other run's Holder when another run holds it (the caller skips).
    With "wait", waits up to `wait_timeout` seconds (negative: forever), then raises WarehouseBusy."""
    if if_running not in IF_RUNNING:
        raise ValueError(f"if_running must be one of {', '.join(IF_RUNNING)}, not {if_running!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(root / LOCK_FILE, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        other = holder(root)
        who = other.describe() if other else "another run"
        if if_running == "skip":
            if log:
                log.warning("Skipping run %s: %s is loading warehouse %s", run_id, who, root)
            yield other or Holder("unknown", 0, "unknown", "unknown")
            return
        if log:
            log.warning("Run %s waits: %s is loading warehouse %s (waiting up to %s s)", run_id, who, root,
                        "forever" if wait_timeout < 0 else f"{wait_timeout:g}")
        try:
            lock.acquire(timeout=wait_timeout)
        except Timeout:
            raise WarehouseBusy(f"gave up after waiting {wait_timeout:g} s: {who} still holds warehouse {root}") from None
        if log:
            log.info("Run %s holds warehouse %s now", run_id, root)
    try:
        me = Holder(run_id, os.getpid(), socket.gethostname(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        (root / HOLDER_FILE).write_text(json.dumps(me.__dict__))
        yield None
    finally:
        (root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()
