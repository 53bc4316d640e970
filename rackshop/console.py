"""Everything that draws on the terminal: the only module that imports rich.

The core hands plain data (tables as rows, progress as callbacks, errors as exceptions) to the
functions here; the CLI decides which console they go to. Tables and summaries go to stdout;
logs, progress bars and errors go to stderr, so ``rackshop status > file`` stays clean.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from rackshop.errors import RackshopError
from rackshop.redact import redact


def make_consoles(*, no_color: bool = False) -> tuple[Console, Console]:
    """stdout and stderr consoles. Colour only on a terminal, and never with ``--no-color``."""
    out = Console(no_color=no_color, highlight=False, soft_wrap=False)
    err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
    return out, err


def null_console() -> Console:
    """A console that prints nowhere (listings are not wanted with JSON output)."""
    import io

    return Console(file=io.StringIO())


def log_handler(err: Console, *, show_path: bool = False) -> logging.Handler:
    """A rich handler for human-readable logs on stderr."""
    return RichHandler(
        console=err,
        show_path=show_path,
        show_time=True,
        markup=False,
        rich_tracebacks=False,
        log_time_format="%H:%M:%S",
    )


def print_error(err: Console, exc: BaseException, *, debug_hint: bool = True) -> None:
    """Print a user-facing error: what went wrong, how to fix it; never a traceback."""
    if isinstance(exc, RackshopError):
        lines = redact(exc.message).splitlines() or [type(exc).__name__]
        err.print(Text("error: ", style="bold red") + Text(lines[0]))
        for line in lines[1:]:
            err.print(Text(line))
        if exc.hint:
            err.print(Text("hint: ", style="yellow") + Text(redact(exc.hint)))
    else:
        err.print(Text("error: ", style="bold red")
                  + Text(redact(f"rackshop hit an unexpected problem: {type(exc).__name__}: "
                                f"{exc}")))
        if debug_hint:
            err.print(Text("hint: ", style="yellow")
                      + Text("rerun with --debug for the full traceback, and please report it"))


def print_table(
    console: Console,
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    caption: str | None = None,
) -> None:
    """Print a simple table; cells are shown with ``str()`` (``None`` as an empty cell)."""
    table = Table(title=title, caption=caption, title_justify="left", show_lines=False)
    for index, col in enumerate(columns):
        cells = [row[index] for row in rows if index < len(row) and row[index] is not None]
        numeric = bool(cells) and all(isinstance(c, int | float) for c in cells)
        table.add_column(col.replace("_", " "), justify="right" if numeric else "left",
                         overflow="fold")
    for row in rows:
        table.add_row(*("" if c is None else Text(redact(str(c))) for c in row))
    console.print(table)




def print_line(console: Console, text: str, style: str | None = None) -> None:
    """Print one line of plain text (markup is not interpreted)."""
    console.print(Text(redact(text), style=style or ""))


class RichProgress:
    """Progress bars on stderr, implementing the core's progress callback protocol.

    ``start(phase, total)`` opens a bar (``total`` may be ``None`` for unknown), ``advance(n)``
    moves it, ``finish()`` closes it.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, phase: str, total: int | None) -> None:
        self.finish()
        self._task = self._progress.add_task(phase, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            if task.total is not None:
                self._progress.update(self._task, completed=task.total)
            self._task = None


@contextmanager
def progress_bars(err: Console, *, enabled: bool) -> Iterator[RichProgress | None]:
    """Progress bars with ETA when ``enabled`` (a TTY and not JSON logs), else ``None``."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    with progress:
        rp = RichProgress(progress)
        yield rp
        rp.finish()


def confirm(err: Console, question: str) -> bool:
    """Ask a yes/no question on the terminal (callers ensure a TTY is attached)."""
    answer = err.input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")
