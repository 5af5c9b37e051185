"""Rescore every lead: time decay for leads with no new events, and new models.

`rescore_all` runs in batches, each in its own transaction, so a long run
never holds the store's write lock for long. Leads scored by an older model
version are rescored with cause `model`, so their stage changes name the
version that moved them. The rest get cause `schedule`. `rescore_due`
rescores the leads whose event with a time ahead of the clock has come due
(leadq.service.future_events).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from leadq.errors import LeadqError
from leadq.service.future_events import due_leads, note_future_events
from leadq.service.model_versions import ActiveModel, ensure_active_model, still_active
from leadq.service.rescoring import rescore
from leadq.store.database import Store, now_micros
from leadq.store.tables import leads

log = logging.getLogger("leadq.service")
BATCH = 500


@dataclass
class RescoreReport:
    leads: int = 0
    stage_changes: int = 0
    # Leads that could not be rescored, with the error; they keep their old scores.
    failed: dict[int, str] = field(default_factory=dict)


def rescore_all(
    store: Store,
    *,
    as_of: int | None = None,
    only_stale: bool = False,
    skip: Collection[int] = (),
    active: ActiveModel | None = None,
) -> RescoreReport:
    """Rescore every lead, or with `only_stale` those of an older model version, in batches.

    `active` is the active version as the caller read it; without it, the
    run reads it. Each batch checks that it is still active, and when
    another version was activated during the run, the rest of the run uses
    that one. When a batch fails, its leads are rescored one at a time, so
    a lead that cannot be scored keeps its old scores and the others are
    rescored. An error of the database itself (a lock timeout or a lost
    connection) is raised at once. Leads in `skip` are left out.
    """
    if active is None:
        active = ensure_active_model(store)
    report = RescoreReport()
    after = 0
    while True:
        if only_stale and not _any_stale(store, after, active.id, skip):
            return report
        with store.read() as connection:
            ids = _next_batch(connection, after, active.id if only_stale else None, skip)
        if not ids:
            return report
        active = _rescore_counted(store, active, ids, as_of, report)
        after = ids[-1]


def rescore_due(
    store: Store, active: ActiveModel, *, as_of: int | None = None, skip: Collection[int] = ()
) -> RescoreReport:
    """Rescore the leads whose noted event time has passed, in batches, and note each one's next time.

    Leads in `skip`, and leads that fail here, are left out. A failed lead
    keeps its old scores and its noted time.
    """
    report = RescoreReport()
    while True:
        now = as_of if as_of is not None else now_micros()
        with store.read() as connection:
            ids = due_leads(connection, now, set(skip) | set(report.failed), BATCH)
        if not ids:
            return report
        active = _rescore_counted(store, active, ids, as_of, report, note_next=True)


def _rescore_counted(
    store: Store, active: ActiveModel, ids: list[int], as_of: int | None, report: RescoreReport, note_next: bool = False
) -> ActiveModel:
    """Rescore a batch, or each of its leads alone when the batch fails, and count it in `report`.

    Returns the version that the last rescore used.
    """
    failed_before = len(report.failed)
    try:
        active, changes = _rescore_batch(store, active, ids, as_of, note_next)
        report.stage_changes += changes
    except OperationalError:
        raise
    except Exception:  # noqa: BLE001 - each lead is tried alone below
        active = _rescore_one_by_one(store, active, ids, as_of, report, note_next)
    report.leads += len(ids) - (len(report.failed) - failed_before)
    return active


def _rescore_batch(
    store: Store, active: ActiveModel, ids: list[int], as_of: int | None, note_next: bool = False
) -> tuple[ActiveModel, int]:
    """Rescore the leads in one transaction; return the version used and the number of stage changes.

    With `note_next`, each lead's next event time after the rescore is
    noted in the same transaction.
    """
    with store.write() as connection:
        active = still_active(connection, active)
        stale = _stale(connection, ids, active.id)
        now = as_of if as_of is not None else now_micros()
        reason = f"model {active.label} activated"
        changes = rescore(connection, active, stale, now, "model", reason) if stale else []
        fresh = sorted(set(ids) - set(stale))
        if fresh:
            changes += rescore(connection, active, fresh, now, "schedule")
        if note_next:
            note_future_events(connection, ids, now)
    return active, len(changes)


def _rescore_one_by_one(
    store: Store, active: ActiveModel, ids: list[int], as_of: int | None, report: RescoreReport, note_next: bool
) -> ActiveModel:
    """Rescore each lead in a transaction of its own; return the version that the last one used."""
    for lead_id in ids:
        try:
            active, changes = _rescore_batch(store, active, [lead_id], as_of, note_next)
            report.stage_changes += changes
        except OperationalError:
            raise
        except Exception as error:  # noqa: BLE001 - the lead is reported and the run goes on
            report.failed[lead_id] = _described(error)
    return active


def _described(error: Exception) -> str:
    """Return leadq's own message for its errors, and the type and message of others."""
    return str(error) if isinstance(error, LeadqError) else f"{type(error).__name__}: {error}"


def _any_stale(store: Store, after: int, version_id: int, skip: Collection[int]) -> bool:
    """Tell whether a lead after `after` was scored by another model version.

    The scheduler polls every few seconds, so the search runs in a read
    transaction, which on SQLite leaves the write lock to tracking requests.
    """
    with store.read() as connection:
        return bool(_next_batch(connection, after, version_id, skip, limit=1))


# NOTE: every poll scans `leads` for an older model version, because
# model_version_id has no index. A full rescore holds SQLite's write lock
# batch by batch, so tracking requests wait behind it.
def _next_batch(
    connection, after: int, stale_for: int | None, skip: Collection[int], limit: int = BATCH
) -> list[int]:
    query = select(leads.c.id).where(leads.c.id > after, leads.c.merged_into.is_(None))
    if skip:
        query = query.where(leads.c.id.not_in(sorted(skip)))
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
    seconds of an activation, leads whose event ahead of the clock has come
    due within seconds of its time, and every lead each `every_seconds`.

    It reads the active version when it starts, so that it logs each later
    activation once.
    """

    def __init__(self, store: Store, every_seconds: float = 3600.0, poll_seconds: float = 2.0) -> None:
        self.store = store
        self.every = every_seconds
        self.poll = poll_seconds
        self._active_id = ensure_active_model(store).id
        self._failed: set[int] = set()
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
                active = ensure_active_model(self.store)
                self._note_activation(active)
                # Leads that failed are tried again by the next full run, not at every poll.
                skip = () if full else self._failed
                report = rescore_all(self.store, only_stale=not full, skip=skip, active=active)
                self._failed = set(report.failed) if full else self._failed | set(report.failed)
                self._log(report, "leads")
                due = rescore_due(self.store, active, skip=self._failed)
                self._failed |= set(due.failed)
                self._log(due, "leads whose events came due")
            except Exception:  # noqa: BLE001 - the worker must outlive one failed run
                log.exception("scheduled rescore failed; retrying at the next tick")

    @staticmethod
    def _log(report: RescoreReport, label: str) -> None:
        if report.leads:
            log.info("rescored %d %s, %d stage changes", report.leads, label, report.stage_changes)
        for lead_id, error in report.failed.items():
            log.error("rescore of lead %d failed, so it keeps its old scores: %s", lead_id, error)

    def _note_activation(self, active: ActiveModel) -> None:
        if active.id != self._active_id:
            log.info(
                "model %s is active now; the leads that older versions scored are rescored",
                active.label,
            )
            self._active_id = active.id
