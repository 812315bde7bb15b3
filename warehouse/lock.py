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
import time
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


class _FileLock:
    """The lock of a warehouse on one machine: `flock` on `<warehouse>/.lock`."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = FileLock(root / LOCK_FILE, thread_local=False)

    def acquire(self, timeout: float) -> bool:
        try:
            self.lock.acquire(timeout=timeout)
            return True
        except Timeout:
            return False

    def holder(self) -> Holder | None:
        return holder(self.root)

    def claim(self, me: Holder) -> None:
        (self.root / HOLDER_FILE).write_text(json.dumps(me.__dict__))

    def release(self) -> None:
        (self.root / HOLDER_FILE).unlink(missing_ok=True)
        self.lock.release()


# The advisory lock id of newsflow runs in a Postgres catalog database ("newsflow" as an int).
ADVISORY_KEY = int.from_bytes(b"newsflow", "big") & 0x7FFF_FFFF_FFFF_FFFF


class _PostgresLock:
    """The lock of a warehouse whose catalog is in Postgres, shared by every machine: a
    session-level advisory lock in the catalog database, held by a connection of this process
    (Postgres releases it when the process or its connection dies). The holder describes itself
    in its connection's application_name."""

    def __init__(self, conninfo: str):
        import psycopg

        self.conn = psycopg.connect(conninfo, autocommit=True)

    def _try(self) -> bool:
        return self.conn.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY]).fetchone()[0]

    def acquire(self, timeout: float) -> bool:
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while not self._try():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def holder(self) -> Holder | None:
        row = self.conn.execute(
            "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid) "
            "WHERE l.locktype = 'advisory' AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = %s "
            "AND a.pid <> pg_backend_pid()", [ADVISORY_KEY]).fetchone()
        try:
            return Holder(**json.loads(row[0])) if row else None
        except (ValueError, TypeError):
            return None

    def claim(self, me: Holder) -> None:
        self.conn.execute("SELECT set_config('application_name', %s, false)", [json.dumps(me.__dict__)[:63]])

    def release(self) -> None:
        try:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
        finally:
            self.conn.close()


@contextmanager
def run_lock(root: Path, run_id: str, if_running: str = "wait", wait_timeout: float = 3600.0,
             log=None, catalog: str = "") -> Iterator[Holder | None]:
    """Hold the warehouse for one run. Yields None when the run holds it, or, with
    `if_running="skip"`, the other run's Holder when another run holds it (the caller skips).
    With "wait", waits up to `wait_timeout` seconds (negative: forever), then raises WarehouseBusy.
    With a Postgres `catalog`, the lock is an advisory lock in it, so runs on every machine
    that writes the warehouse are serialized; otherwise a file lock in `root`."""
    if if_running not in IF_RUNNING:
        raise ValueError(f"if_running must be one of {', '.join(IF_RUNNING)}, not {if_running!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = _PostgresLock(catalog.removeprefix("postgres:")) if catalog.startswith("postgres:") else _FileLock(root)
    where = catalog.split(" password=")[0] if catalog.startswith("postgres:") else str(root)
    acquired = False
    try:
        if not lock.acquire(0):
            other = lock.holder()
            who = other.describe() if other else "another run"
            if if_running == "skip":
                if log:
                    log.warning("Skipping run %s: %s is loading warehouse %s", run_id, who, where)
                yield other or Holder("unknown", 0, "unknown", "unknown")
                return
            if log:
                log.warning("Run %s waits: %s is loading warehouse %s (waiting up to %s s)", run_id, who, where,
                            "forever" if wait_timeout < 0 else f"{wait_timeout:g}")
            if not lock.acquire(wait_timeout):
                raise WarehouseBusy(f"gave up after waiting {wait_timeout:g} s: {who} still holds warehouse {where}")
            if log:
                log.info("Run %s holds warehouse %s now", run_id, where)
        acquired = True
        me = Holder(run_id, os.getpid(), socket.gethostname(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        lock.claim(me)
        yield None
    finally:
        if acquired:
            lock.release()
        elif isinstance(lock, _PostgresLock):
            lock.conn.close()
