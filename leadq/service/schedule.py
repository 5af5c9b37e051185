"""Rescore every lead: time decay for leads with no new events, and new models.

`rescore_all` runs in batches, each in its own transaction, so a long run
never holds the store's write lock for long. Leads scored by an older model
version are rescored with cause `model`, so their stage changes name the
version that moved them. The rest get cause `schedule`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from sqlalchemy import select

from leadq.service.model_versions import ensure_active_model
from leadq.service.rescoring import rescore
from leadq.store.database import Store, now_micros
from leadq.store.tables import leads

log = logging.getLogger("leadq.service")
BATCH = 500


@dataclass
class RescoreReport:
    leads: int = 0
    stage_changes: int = 0


# NOTE: a batch whose rescore fails stops the run, and the next run starts
# again at the first lead, so one lead that cannot be scored keeps every
# later lead on its old scores. Failing leads are not set aside one by one.
def rescore_all(store: Store, *, as_of: int | None = None, only_stale: bool = False) -> RescoreReport:
    active = ensure_active_model(store)
    report = RescoreReport()
    after = 0
    while True:
        if only_stale and not _any_stale(store, after, active.id):
            return report
        with store.write() as connection:
            ids = _next_batch(connection, after, active.id if only_stale else None)
            if not ids:
                return report
            stale = _stale(connection, ids, active.id)
            now = as_of if as_of is not None else now_micros()
            reason = f"model {active.label} activated"
            changes = rescore(connection, active, stale, now, "model", reason) if stale else []
            fresh = sorted(set(ids) - set(stale))
            if fresh:
                changes += rescore(connection, active, fresh, now, "schedule")
        report.leads += len(ids)
        report.stage_changes += len(changes)
        after = ids[-1]


def _any_stale(store: Store, after: int, version_id: int) -> bool:
    """Tell whether a lead after `after` was scored by another model version.

    The scheduler polls every few seconds, so the search runs in a read
    transaction, which on SQLite leaves the write lock to tracking requests.
    """
    with store.read() as connection:
        return bool(_next_batch(connection, after, version_id, limit=1))


# NOTE: every poll scans `leads` for an older model version, because
# model_version_id has no index. A full rescore holds SQLite's write lock
# batch by batch, so tracking requests wait behind it.
def _next_batch(connection, after: int, stale_for: int | None, limit: int = BATCH) -> list[int]:
    query = select(leads.c.id).where(leads.c.id > after, leads.c.merged_into.is_(None))
    if stale_for is not None:
        query = query.where(
            (leads.c.model_version_id.is_(None)) | (leads.c.model_version_id != stale_for)
        )
    return list(connection.execute(query.order_by(leads.c.id).limit(limit)).scalars())


def _stale(connection, ids: list[int], version_id: int) -> list[int]:
    rows = connection.execute(
        select(leads.c.id, leads.c.model_version_id).where(leads.c.id.in_(ids))
    ).all()
    return [row.id for row in rows if row.model_version_id not in (None, version_id)]


class RescoreWorker:
    """Inside `leadq serve`: rescore leads of an older model version within
    seconds of an activation, and every lead each `every_seconds`.

    It reads the active version when it starts, so that it logs each later
    activation once.
    """

    def __init__(self, store: Store, every_seconds: float = 3600.0, poll_seconds: float = 2.0) -> None:
        self.store = store
        self.every = every_seconds
        self.poll = poll_seconds
        self._active_id = ensure_active_model(store).id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadq-rescore", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        waited = 0.0
        while not self._stop.wait(self.poll):
            waited += self.poll
            try:
                full = waited >= self.every
                if full:
                    waited = 0.0
                self._note_activation()
                report = rescore_all(self.store, only_stale=not full)
                if report.leads:
                    log.info("rescored %d leads, %d stage changes", report.leads, report.stage_changes)
            except Exception:  # noqa: BLE001 - the worker must outlive one failed run
                log.exception("scheduled rescore failed; retrying at the next tick")

    def _note_activation(self) -> None:
        active = ensure_active_model(self.store)
        if active.id != self._active_id:
            log.info(
                "model %s is active now; the leads that older versions scored are rescored",
                active.label,
            )
            self._active_id = active.id
