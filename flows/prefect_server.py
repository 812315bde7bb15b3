"""The local Prefect server that runs use when no PREFECT_API_URL is set: started once, in the
background, and reused by every later run and by `newsflow serve` until `newsflow prefect stop`.

A flow run needs a Prefect API; without one Prefect starts a temporary server for each run (8-10 s
here). Instead, the first run starts `prefect server start` detached (its own session, not a child
of the run, so it outlives it and no watchdog or Ctrl-C of the run stops it), and writes its URL,
port and pid to `<PREFECT_HOME>/newsflow-server.json`. Later runs check that it answers
`/api/health` and use it; one that died is started again. A lock file
(`<PREFECT_HOME>/newsflow-server.lock`) makes concurrent first runs start one server between them.
The server keeps its database in PREFECT_HOME, as the temporary one does, so one PREFECT_HOME has
one server.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

# The port Prefect's own server uses; another is chosen when it is taken.
DEFAULT_PORT = 4200
STATE_FILE = "newsflow-server.json"
LOCK_FILE = "newsflow-server.lock"
LOG_FILE = "newsflow-server.log"
# A fresh PREFECT_HOME (database migrations) on a busy 2-core machine takes up to ~20 s.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """The local server could not be started (the message says why and where its log is)."""


@dataclass(frozen=True)
class Server:
    """A running local server: its API URL (…/api), port and process id."""

    url: str
    port: int
    pid: int

    @property
    def ui_url(self) -> str:
        return self.url.removesuffix("/api")


def prefect_home() -> Path:
    """Prefect's home folder (PREFECT_HOME, ~/.prefect by default), as Prefect resolves it."""
    from prefect.settings import get_current_settings

    return Path(get_current_settings().home).expanduser()


def answers(url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect API at `url` (…/api) says it is healthy."""
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _read_state(home: Path) -> Server | None:
    try:
        return Server(**json.loads((home / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _is_our_server(pid: int) -> bool:
    """Whether `pid` is still a `prefect server start` process (not a pid the system gave another)."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and "server" in process.cmdline()
    except psutil.Error:
        return False


def _serves(server: Server) -> bool:
    """Whether the server's process is the one listening on its port and the API answers there
    (another server on the port, e.g. one another PREFECT_HOME started, does not count)."""
    import psutil

    if not _is_our_server(server.pid):
        return False
    try:
        listening = any(c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                        for c in psutil.Process(server.pid).net_connections("tcp"))
    except psutil.Error:
        return False
    return listening and answers(server.url)


def running(home: Path | None = None) -> Server | None:
    """The local server of `home` (default: Prefect's) if it is up and answers, else None."""
    home = home or prefect_home()
    server = _read_state(home)
    return server if server is not None and _serves(server) else None


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Hold `<home>/newsflow-server.lock`: one process at a time checks, starts or stops the server."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port(preferred: int) -> int:
    """`preferred` if nothing listens on it on 127.0.0.1, else a port the system picks."""
    for port in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise ServerError("no free port on 127.0.0.1")


# Started through this tiny launcher, which starts the server in a session of its own and exits:
# the server is then nobody's child, so the run's watchdog and signal handlers (which kill the
# run's descendants) leave it alone.
_LAUNCHER = ("import subprocess, sys; "
             "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], 'ab'), "
             "stderr=subprocess.STDOUT, start_new_session=True, close_fds=True); print(p.pid)")


def _start(home: Path, preferred: int) -> Server:
    """Start the server on `preferred` if free, else (or if another process took the port first)
    on a port the system picks; wait until it answers."""
    log = home / LOG_FILE
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    for wanted in (preferred, 0):
        port = _free_port(wanted)
        launched = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, str(log),
             sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env, capture_output=True, text=True, check=True)
        server = Server(url=f"http://127.0.0.1:{port}/api", port=port, pid=int(launched.stdout.strip()))
        deadline = time.monotonic() + START_TIMEOUT
        while _is_our_server(server.pid) and time.monotonic() < deadline and not _serves(server):
            time.sleep(0.25)
        if _serves(server):
            (home / STATE_FILE).write_text(json.dumps(asdict(server)))
            return server
        _terminate(server.pid)  # timed out, or died (most often: the port was taken meanwhile)
    raise ServerError(f"the local Prefect server did not start (its log: {log}); set PREFECT_API_URL to a "
                      f"Prefect server of yours instead")


def ensure(port: int = DEFAULT_PORT, home: Path | None = None) -> tuple[Server, bool]:
    """The running local server of `home`, started (on `port` when free) if there is none or it
    died; and whether this call started it."""
    home = home or prefect_home()
    with _locked(home):
        server = running(home)
        if server is not None:
            return server, False
        stale = _read_state(home)
        if stale is not None and _is_our_server(stale.pid):  # alive but not answering: replaced
            _terminate(stale.pid)
        return _start(home, port), True


def _terminate(pid: int) -> None:
    """Stop the server's session (SIGTERM, then SIGKILL after STOP_TIMEOUT) and wait for it to go."""
    import psutil

    try:
        process = psutil.Process(pid)
        os.killpg(pid, signal.SIGTERM)
    except (psutil.Error, ProcessLookupError, PermissionError):
        return
    try:
        process.wait(STOP_TIMEOUT)
    except psutil.TimeoutExpired:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(STOP_TIMEOUT)


def stop(home: Path | None = None) -> Server | None:
    """Stop the local server of `home`; returns the one stopped (None when none was running)."""
    home = home or prefect_home()
    with _locked(home):
        server = _read_state(home)
        alive = server is not None and _is_our_server(server.pid)
        if alive:
            _terminate(server.pid)
        (home / STATE_FILE).unlink(missing_ok=True)
        return server if alive else None
