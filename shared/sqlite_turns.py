"""Turns to write one SQLite database: one writer at a time across threads and processes, and the
next one woken at once.

SQLite lets one writer in at a time and makes the others wait in its busy handler, which sleeps
between tries (1, 2, 5, 10, … up to 100 ms): under load a writer that could have gone a
millisecond after the last one sleeps for tens, which was the SQLite p99 of issue 25 (seconds at
first, then 200–700 ms with two API workers and the relay writing one file). Here writers queue
before `BEGIN IMMEDIATE`: the threads of a process on a reentrant lock, and one thread per process
on an exclusive `flock` of a file beside the database. The process's turn is tried often (every
0.2 ms at first, at most every 2 ms), so it passes within a couple of milliseconds of the last
writer's commit. Waiting longer than the busy timeout fails as SQLite's lock would, with its
OperationalError (a 503). Writers that do not take turns (migrations, the sqlite3 shell) still
meet the busy handler: SQLite's own lock stays what guarantees one writer.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError

FIRST_RETRY_SECONDS = 0.0002
LONGEST_RETRY_SECONDS = 0.002


class WriterTurns:
    """The writers of one SQLite file (`lock_path` beside it; None for an in-memory database,
    where only this process's threads queue)."""

    def __init__(self, lock_path: Path | None, wait_seconds: float) -> None:
        self.lock_path = lock_path
        self.wait_seconds = wait_seconds
        self._threads = threading.RLock()
        self._depth = 0  # how deep the holding thread's turns are nested (changed only by it)
        self._file: int | None = None
        self._pid = os.getpid()

    def after_fork(self) -> None:
        """A child process starts with no turn: a lock or file held at the fork is the parent's."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._threads = threading.RLock()
            self._depth = 0
            self._file = None  # the parent's descriptor shares the parent's lock: never use it

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        if not self._threads.acquire(timeout=self.wait_seconds):
            raise _busy("this process's writers")
        if self._depth == 0 and self.lock_path is not None:
            try:
                self._take_file_lock(deadline)
            except BaseException:
                self._threads.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def _take_file_lock(self, deadline: float) -> None:
        if self._file is None:
            assert self.lock_path is not None
            self._file = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        pause = FIRST_RETRY_SECONDS
        while True:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _busy("another process's writers") from None
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_RETRY_SECONDS)


def _busy(whose: str) -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(f"database is locked ({whose})"))
