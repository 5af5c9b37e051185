"""Write tracking groups in a process of their own, beside `leadq serve` on PostgreSQL.

The tracking writer thread (leadq.service.tracking_writer) forms groups of
requests. On PostgreSQL it hands each group to a `GroupProcess`, which
applies it with `ingest_requests` in a child process and returns each
request's outcome. The child shares no interpreter lock with the event
loop that parses and responds to requests, so neither waits for the
other. leadq.service.app.writes_groups_in_own_process chooses where it runs.

The child ends with its parent, also when the parent is killed, and
ignores the SIGINT and SIGTERM that reach the whole process group, since
the parent stops it after writing what is queued. When the
child dies, a new one starts and the group in flight is sent to it once
more. That is safe: the group's transaction either committed or left
nothing, and its message ids make events that did commit count as repeats.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from typing import Any

log = logging.getLogger("leadq.service")

# Seconds that `stop` waits for the child to finish before killing it.
STOP_SECONDS = 30.0
# Seconds that a new child has to open the store and report that it is ready.
START_SECONDS = 60.0


class GroupProcessError(RuntimeError):
    """The child could not start, or a group's error in the child could not be sent whole."""


class GroupProcess:
    """A child process that writes groups of tracking requests to a store."""

    def __init__(self, url: str, artefacts: str, screen: Callable, parent_pid: int) -> None:
        self._arguments = (url, artefacts, screen, parent_pid)
        self._context = multiprocessing.get_context("spawn")
        self._start()

    def write(self, requests: list) -> list:
        """Write one group in the child and return each request's outcome, or raise the group's error."""
        try:
            reply = self._exchange(requests)
        except (EOFError, OSError) as error:
            log.error("the tracking group process ended (%s); starting a new one", self._ended(error))
            self._channel.close()
            self._start()
            reply = self._exchange(requests)
        kind, value = reply
        if kind == "error":
            raise value
        return value

    def stop(self) -> None:
        """Stop the child after its current group, and kill it if it has not ended within STOP_SECONDS."""
        try:
            self._channel.send(None)
        except OSError:
            pass
        self._process.join(STOP_SECONDS)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._channel.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def _start(self) -> None:
        """Start a child, and once more if the first could not start; raise GroupProcessError if neither could."""
        try:
            self._start_once()
        except GroupProcessError as error:
            log.warning("%s; starting another", error)
            self._start_once()

    def _start_once(self) -> None:
        """Start a child and wait until it has opened the store, so it is ready for the first group."""
        self._channel, child = self._context.Pipe()
        self._process = self._context.Process(
            target=serve_groups, args=(*self._arguments, child), name="leadq-tracking-groups", daemon=True
        )
        self._process.start()
        child.close()
        try:
            if not self._channel.poll(START_SECONDS):
                self._process.kill()
                self._channel.close()
                raise GroupProcessError(f"the tracking group process did not start within {START_SECONDS:g} s")
            self._channel.recv()
        except (EOFError, OSError) as error:
            self._channel.close()
            raise GroupProcessError(
                f"the tracking group process failed to start ({self._ended(error)}); its error is in the log above"
            ) from None

    def _exchange(self, requests: list):
        self._channel.send(requests)
        return self._channel.recv()

    def _ended(self, error: BaseException) -> str:
        self._process.join(1)
        code = self._process.exitcode
        return f"exit code {code}" if code is not None else type(error).__name__


def serve_groups(url: str, artefacts: str, screen: Callable, parent_pid: int, channel) -> None:
    """Run the child: open the store and write the groups that arrive on `channel`."""
    from leadq.cli import configure_logging
    from leadq.service.app import end_with_parent, name_process
    from leadq.service.commands import log_like_the_service
    from leadq.service.model_versions import active_model
    from leadq.store.database import open_store

    # Ctrl-C, and a service manager's SIGTERM, reach the whole process
    # group. The parent stops gracefully and still needs this process to
    # write what it has queued, then sends None. A parent that dies takes
    # this process with it by SIGKILL, which cannot be ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    end_with_parent(parent_pid, signal.SIGKILL)
    name_process(f"leadq serve: tracking group process of {parent_pid}")
    configure_logging()
    log_like_the_service()
    store = open_store(url, upgrade=False, artefacts=artefacts)
    # Reading the active model checks the connection and compiles the
    # model, which the first group would otherwise wait for.
    with store.read() as connection:
        active_model(connection)
    gc.freeze()
    channel.send("ready")
    try:
        _write_groups(store, screen, channel)
    finally:
        store.dispose()
    # Leave without the interpreter's shutdown, where DuckDB's bindings would
    # report the objects still in the frozen generation as leaked.
    logging.shutdown()
    os._exit(0)


def _write_groups(store, screen: Callable, channel) -> None:
    """Write each group received on `channel` and send back its outcomes, until None or the parent's end."""
    from leadq.service.ingest import ingest_requests

    while True:
        try:
            requests = channel.recv()
        except EOFError:
            return
        if requests is None:
            return
        try:
            outcomes = ingest_requests(
                store,
                [request.messages for request in requests],
                lambda connection, active: screen(connection, active, requests),
            )
        except Exception as error:  # noqa: BLE001 - the parent raises it for the group's requests
            error.add_note("".join(traceback.format_exception(error)).rstrip())
            channel.send(("error", sendable(error)))
        else:
            channel.send(("ok", [sendable(outcome) for outcome in outcomes]))


def sendable(value: Any) -> Any:
    """Return an outcome in a form that can be pickled to the parent.

    An error that does not survive pickling becomes a GroupProcessError
    that names it and keeps its notes (the child's traceback, for a group's
    error), which the parent's log shows.
    """
    if not isinstance(value, BaseException):
        return value
    try:
        pickle.loads(pickle.dumps(value))
    except Exception:  # noqa: BLE001 - any error that does not round-trip is replaced
        replacement = GroupProcessError(f"{type(value).__name__}: {value}")
        for note in getattr(value, "__notes__", []):
            replacement.add_note(note)
        return replacement
    return value
