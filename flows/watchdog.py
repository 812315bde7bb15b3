"""`python -m flows.watchdog PID [INTERVAL]`: kill PID's descendants once PID is gone (see flows.lifecycle.Watchdog)."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil


def main(parent_pid: int, interval: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    me = os.getpid()
    seen: dict[int, psutil.Process] = {}
    try:
        parent = psutil.Process(parent_pid)
    except psutil.NoSuchProcess:
        return
    while os.getppid() == parent_pid:
        try:
            for child in parent.children(recursive=True):
                if child.pid != me:
                    seen.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            break
        time.sleep(interval)
    # The parent is gone: whatever it started and still runs is an orphan. psutil checks each
    # process's start time, so a reused pid is never killed.
    for child in seen.values():
        try:
            if child.is_running():
                child.kill()
        except psutil.Error:
            pass


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.25)
