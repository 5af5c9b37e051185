"""A lock file that queues SQLite writers across threads and processes.

SQLite lets one writer in at a time. A writer that finds the database
locked sleeps in steps of up to 100 ms (the sqlite3_busy_timeout handler)
and tries again. When several processes write, one transaction can
therefore wait hundreds of milliseconds for locks held a few milliseconds
each. Writers first take an exclusive `flock` on a file beside the
database, and the kernel wakes the next waiter as soon as the holder
releases it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("leadq.store")
# Lock files held by the current thread, shared by every WriterQueue of one
# path, so a second Store view of the same database sees the first's lock.
_held_paths = threading.local()


class WriterQueue:
    """An exclusive lock on `<database>-lock`, taken around each write transaction."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-lock")
        self._warned = False

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock; without a lock file, rely on SQLite's busy timeout alone.

        Each call opens its own descriptor, because `flock` excludes open
        files, not processes: two threads of one process then queue too. A
        call inside another of the same thread takes no second lock, so a
        nested write transaction meets SQLite's busy timeout, as it did
        before this queue, instead of waiting for itself.
        """
        held: set[Path] | None = getattr(_held_paths, "paths", None)
        if held is None:
            held = _held_paths.paths = set()
        if self.path in held:
            yield
            return
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            self._warn_once(error)
            yield
            return
        try:
            # NOTE: flock has no timeout. A writer waits here as long as the
            # transaction before it lasts, where SQLite alone gave up after 30 s.
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            held.add(self.path)
            yield
        finally:
            held.discard(self.path)
            # Closing the last descriptor of an open file releases its flock.
            os.close(descriptor)

    def _warn_once(self, error: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "cannot open the writer lock file %s (%s); SQLite writers wait by polling instead",
                self.path,
                error.strerror,
            )
