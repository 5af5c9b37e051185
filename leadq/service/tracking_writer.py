"""Write tracking requests in groups: one transaction and one rescore per group.

The tracking API hands each checked request to the process's
`TrackingWriter`. Its thread takes every request that is waiting, screens
and applies them together with `ingest_requests`, commits once and then
returns each request's result. Under load a group contains the requests
that arrived while the previous group was written, so many requests share
one commit and one rescore. A request that arrives alone is written at once.

A request gets its response only after its group commits, so a 2xx still
means its events are stored. When a group fails, each of its requests is
written again on its own, so one bad request fails alone.

With `own_process`, which `leadq serve` sets on PostgreSQL, the thread only
forms the groups, and a child process writes them
(leadq.service.group_process).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from leadq.service.group_process import GroupProcess
from leadq.service.ingest import IngestResult, Message, ingest_requests
from leadq.service.model_versions import ActiveModel
from leadq.store.database import Store

log = logging.getLogger("leadq.service")

# A group stops growing at this many messages, which bounds a transaction's
# length. A full /v1/batch request of 500 KB contains about 2,000 messages.
GROUP_MESSAGES = 5_000


@dataclass
class TrackingRequest:
    """A checked tracking request: its messages, their places in the body, and its key's hash."""

    messages: list[Message]
    places: list[str]
    key_hash: str


@dataclass
class _Queued:
    request: TrackingRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


# Returns, inside the transaction and for each request of a group, the
# error that keeps it from being written, or None.
GroupScreen = Callable[[Connection, ActiveModel, list[TrackingRequest]], list[Exception | None]]


class TrackingWriter:
    """A thread that writes queued tracking requests in groups.

    With `own_process`, the groups are written in a child process, and
    `screen` must be a module-level function, which the child imports.
    """

    def __init__(self, store: Store, screen: GroupScreen, *, own_process: bool = False) -> None:
        self._store = store
        self._screen = screen
        self._process = None
        if own_process:
            self._process = GroupProcess(store.url, str(store.artefacts), screen, os.getpid())
        self._queue: queue.SimpleQueue[_Queued | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="leadq-tracking-writer", daemon=True)
        self._thread.start()

    async def write(self, request: TrackingRequest) -> IngestResult:
        """Queue the request; return its result once its group has committed."""
        loop = asyncio.get_running_loop()
        queued = _Queued(request, loop, loop.create_future())
        self._queue.put(queued)
        return await queued.future

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        self._thread.join()
        if self._process is not None:
            self._process.stop()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group, stopping = self._take_group(first)
            self._write_group(group)

    def _take_group(self, first: _Queued) -> tuple[list[_Queued], bool]:
        """Return the first request and those waiting behind it, and whether a stop is queued."""
        group, count = [first], len(first.request.messages)
        while count < GROUP_MESSAGES:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                return group, False
            if request is None:
                return group, True
            group.append(request)
            count += len(request.request.messages)
        return group, False

    def _write_group(self, group: list[_Queued]) -> None:
        requests = [queued.request for queued in group]
        try:
            outcomes = self._apply(requests)
        except Exception as error:  # noqa: BLE001 - each request gets its own outcome below
            if len(group) == 1:
                _set_outcome(group[0], error)
                return
            log.warning("a group of %d tracking requests failed (%s); writing each alone", len(group), error)
            for queued in group:
                self._write_group([queued])
            return
        for queued, outcome in zip(group, outcomes):
            _set_outcome(queued, outcome)

    def _apply(self, requests: list[TrackingRequest]) -> list:
        if self._process is not None:
            return self._process.write(requests)
        return ingest_requests(
            self._store,
            [request.messages for request in requests],
            lambda connection, active: self._screen(connection, active, requests),
        )


def _set_outcome(queued: _Queued, outcome: IngestResult | BaseException) -> None:
    def settle() -> None:
        # A client that disconnected cancelled its future; its events stay committed.
        if queued.future.cancelled():
            return
        if isinstance(outcome, BaseException):
            queued.future.set_exception(outcome)
        else:
            queued.future.set_result(outcome)

    try:
        queued.loop.call_soon_threadsafe(settle)
    except RuntimeError:
        log.info("a tracking request's event loop closed before its result was returned")


_creating = threading.Lock()


def tracking_writer(app, screen: GroupScreen) -> TrackingWriter:
    """Return the app's writer, starting it with `screen` on first use.

    It writes in a process of its own when the app's state sets
    `groups_in_own_process`.
    """
    writer = getattr(app.state, "tracking_writer", None)
    if writer is None:
        with _creating:
            writer = getattr(app.state, "tracking_writer", None)
            if writer is None:
                own_process = getattr(app.state, "groups_in_own_process", False)
                writer = TrackingWriter(app.state.store, screen, own_process=own_process)
                app.state.tracking_writer = writer
    return writer


def stop_tracking_writer(app) -> None:
    writer = getattr(app.state, "tracking_writer", None)
    if writer is not None:
        writer.stop()
        app.state.tracking_writer = None
