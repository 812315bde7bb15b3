"""How far a run's parse has got, shown to whoever started it: a progress bar on a terminal
(articles parsed of total, rate, time left), plain lines otherwise, nothing by default.

The pipeline reports through `current()`; `newsflow run` chooses the display (`showing`). It goes
to stderr: stdout is the run's summary.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    """Reports nothing (a run started outside `newsflow run`: a deployment's, a test's)."""

    def start(self, total: int, chunk: int, chunks: int) -> None:
        """Parsing of `total` articles of chunk `chunk` (from 0) of `chunks` begins (none: nothing
        is shown for the chunk)."""

    def advance(self, articles: int) -> None:
        """`articles` more are parsed."""

    def finish(self) -> None:
        """The chunk's parse is done."""


class Lines(Progress):
    """Plain lines, for a log or a pipe: one when a chunk's parse starts, one every tenth of it
    (at most one per `every` seconds), one when it ends."""

    def __init__(self, stream: TextIO, every: float = 5.0):
        self.stream, self.every, self.total = stream, every, 0

    def start(self, total: int, chunk: int, chunks: int) -> None:
        self.total, self.done, self.began, self.last = total, 0, time.monotonic(), 0.0
        self.step = max(1, total // 10)
        if not total:
            return
        of = f" (chunk {chunk + 1} of {chunks})" if chunks > 1 else ""
        self._line(f"parsing {total} article{'s' if total != 1 else ''}{of}")

    def advance(self, articles: int) -> None:
        before, self.done = self.done, self.done + articles
        now = time.monotonic()
        if self.done < self.total and self.done // self.step > before // self.step and now - self.last >= self.every:
            rate = self.done / max(now - self.began, 1e-9)
            self._line(f"parsed {self.done} of {self.total} articles ({rate:.1f}/s, about "
                       f"{(self.total - self.done) / rate:.0f} s left)")
            self.last = now

    def finish(self) -> None:
        if not self.total:
            return
        spent = time.monotonic() - self.began
        self._line(f"parsed {self.done} of {self.total} articles in {spent:.1f} s "
                   f"({self.done / max(spent, 1e-9):.1f}/s)")

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class Bar(Progress):
    """A bar on the terminal (rich): articles parsed of total, rate, time left."""

    def __init__(self, stream: TextIO):
        from rich.console import Console

        self.console = Console(file=stream)
        self.bar = None

    def start(self, total: int, chunk: int, chunks: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Rich, TextColumn, TimeRemainingColumn

        if not total:
            return
        of = f" (chunk {chunk + 1} of {chunks})" if chunks > 1 else ""
        self.bar = Rich(TextColumn(f"parsing{of}"), BarColumn(), MofNCompleteColumn(), TextColumn("articles"),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=self.console)
        self.bar.start()
        self.task = self.bar.add_task("parse", total=total, rate="")

    def advance(self, articles: int) -> None:
        if self.bar is None:
            return
        self.bar.advance(self.task, articles)
        speed = self.bar.tasks[0].speed
        self.bar.update(self.task, rate=f"{speed:.1f}/s" if speed else "")

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


_current: list[Progress] = [Progress()]


def current() -> Progress:
    return _current[0]


@contextmanager
def showing(stream: TextIO | None = None) -> Iterator[None]:
    """Show the parse's progress on `stream` (default stderr) while the block runs: a bar when it
    is a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    _current[0] = Bar(stream) if stream.isatty() else Lines(stream)
    try:
        yield
    finally:
        shown, _current[0] = _current[0], Progress()
        if isinstance(shown, Bar):
            shown.finish()  # a bar a failed parse left running
