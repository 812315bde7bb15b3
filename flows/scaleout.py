"""Where a run's tasks run: Prefect's default thread pool in this process, or a Dask cluster.

The settings choose (`task_runner`, `dask_address`); the flow enters the runner itself (see
`flows.pipeline._chunk_work`), so a run started by the CLI, a served schedule or a deployment's
worker all work where the settings say. On Dask, each chunk's language, coding and validation work
is one `work_chunk` task on the cluster; reading, normalizing, comparing with the warehouse and the
commit stay in the flow's process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from config.settings import Settings

TASK_RUNNERS = ("default", "dask")


class TaskRunnerUnusable(ValueError):
    """The task runner the settings name cannot be used; the message says why."""


def task_runner(settings: Settings):
    """The task runner `settings` ask for: None for Prefect's default (a thread pool in this
    process), else a DaskTaskRunner on the scheduler at `dask_address` or on a temporary
    LocalCluster of `dask_workers` processes started for the run."""
    if settings.task_runner not in TASK_RUNNERS:
        raise TaskRunnerUnusable(f"unknown task runner '{settings.task_runner}' (use one of {', '.join(TASK_RUNNERS)})")
    if settings.task_runner == "default":
        return None
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    if settings.dask_workers < 1:
        raise TaskRunnerUnusable(f"dask_workers must be at least 1, not {settings.dask_workers}")
    # One thread per worker: spaCy holds the GIL, so more threads in a process add no parsing.
    return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
        "n_workers": settings.dask_workers, "processes": True, "threads_per_worker": 1,
        # The scheduler serves HTTP even without a dashboard: a free port, not the 8787 of a
        # `dask scheduler` that may be running here.
        "dashboard_address": ":0",
    })


def checked_task_runner(settings: Settings, timeout: float = 10.0) -> None:
    """Raise TaskRunnerUnusable, naming the address, when the settings' runner cannot be used: an
    unknown runner, or a Dask address that is malformed, does not answer within `timeout` seconds,
    is not a scheduler, or has no worker (the run would wait for one forever)."""
    task_runner(settings)
    address = settings.dask_address
    if settings.task_runner != "dask" or not address:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            info = asyncio.run(_identity(address, timeout))
        except (OSError, ValueError, TypeError) as err:
            raise TaskRunnerUnusable(f"cannot reach a Dask scheduler at '{address}': {err}") from None
        if info.get("type") != "Scheduler":
            raise TaskRunnerUnusable(f"'{address}' answers as a Dask {info.get('type', 'server')}, not a scheduler")
        if info.get("workers"):
            return
        if time.monotonic() > deadline:
            raise TaskRunnerUnusable(f"the Dask scheduler at '{address}' has no workers; start some with "
                                     f"`dask worker {address}`")
        time.sleep(0.5)


def cluster_workers(settings: Settings) -> int:
    """How many workers the settings' Dask cluster has: the scheduler's count at `dask_address`
    (at least 1), else the temporary cluster's `dask_workers`."""
    if not settings.dask_address:
        return settings.dask_workers
    return max(1, len(asyncio.run(_identity(settings.dask_address, 10.0)).get("workers") or ()))


async def _identity(address: str, timeout: float) -> dict:
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await comm.write({"op": "identity"})
        return await comm.read()
    finally:
        await comm.close()


@contextmanager
def workers_api(settings: Settings) -> Iterator[None]:
    """A Prefect API the Dask workers can report to, for as long as a run lasts.

    Dask workers run their tasks against the Prefect API of the settings they are sent. With no
    PREFECT_API_URL, each worker process would start a temporary Prefect server of its own and
    record its task runs there; so the run's temporary server is started first and named for the
    run, and the workers report to it. Nothing to do for the default runner."""
    task_runner(settings)  # an unknown runner fails here, before anything starts
    if settings.task_runner != "dask":
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with ExitStack() as stack:
        if not PREFECT_API_URL.value():
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()  # the instance Prefect's client would start (stopped at exit)
            server.start()
            stack.enter_context(temporary_settings(updates={PREFECT_API_URL: server.api_url}))
        # The in-process scheduler of a temporary cluster logs every worker and client it sees.
        stack.enter_context(_logger_level("distributed", logging.WARNING))
        yield


@contextmanager
def _logger_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
