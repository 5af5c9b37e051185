"""Stage changes pushed to open leads pages as server-sent events.

Each stream polls `stage_history` for rows after the last one it sent,
once a second, and sends each as an event whose `id` is the row id. A
stream ends after STREAM_SECONDS. The browser's EventSource then
reconnects and sends the last id in the Last-Event-ID header, so no change
is lost between two streams and no connection outlives a server shutdown
by more than STREAM_SECONDS.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, func, select

from leadq.store.database import Store
from leadq.store.tables import stage_history

POLL_SECONDS = 1.0
STREAM_SECONDS = 15.0
BATCH = 200


def last_change_id(connection: Connection) -> int:
    return connection.execute(
        select(func.coalesce(func.max(stage_history.c.id), 0))
    ).scalar_one()


def changes_after(store: Store, after: int) -> list[dict]:
    query = (
        select(
            stage_history.c.id,
            stage_history.c.lead_id,
            stage_history.c.old_stage,
            stage_history.c.new_stage,
            stage_history.c.cause,
        )
        .where(stage_history.c.id > after)
        .order_by(stage_history.c.id)
        .limit(BATCH)
    )
    with store.read() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


async def stage_events(request: Request, after: int) -> AsyncIterator[str]:
    """Yield server-sent events of stage changes after the row id `after`."""
    store = request.app.state.store
    deadline = time.monotonic() + STREAM_SECONDS
    yield "retry: 1000\n\n"
    while time.monotonic() < deadline and not await request.is_disconnected():
        for change in await run_in_threadpool(changes_after, store, after):
            after = change["id"]
            yield f"id: {after}\nevent: stage\ndata: {json.dumps(change)}\n\n"
        await asyncio.sleep(POLL_SECONDS)
