"""Import leads, events and outcomes from files into the store.

An import reads and checks every row first (leadq.service.import_rows), so
a rejected row never half-writes a lead. Then it writes the accepted rows
in batches. Each batch is one transaction that also rescores the leads it
touched with the active model (cause "import", or "merge" for a lead that
a row's email merged another lead into), so stages, stage history and
webhooks follow as they do for the tracking API, and a crash leaves whole
batches.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadq.crm.reading import CrmOptions, model_names, read_crm_leads, read_event_times
from leadq.inputs import SourceTable, check_timezone, read_source
from leadq.service.future_events import note_future_events
from leadq.service.identity import (
    EMAIL,
    USER_ID,
    Merge,
    find_identity,
    lead_with_email,
    lead_with_user_id,
    resolve,
)
from leadq.service.import_rows import (
    CheckedFile,
    EventRow,
    LeadRow,
    OutcomeRow,
    Rejection,
    check_events,
    check_leads,
    check_outcomes,
)
from leadq.service.model_versions import ActiveModel, ensure_active_model, still_active
from leadq.service.merge_rescoring import rescore_after_merges
from leadq.service.rescoring import lock_leads
from leadq.service.retries import write_with_retries
from leadq.service.stored_json import DamagedLeadRow, lead_attributes
from leadq.service.traits import set_attribute_times
from leadq.store.database import Store, now_micros
from leadq.store.tables import events, leads, outcomes

log = logging.getLogger("leadq.service")

KINDS = ("leads", "events", "outcomes")
# Rows per transaction. A batch of events ends where a lead's events end,
# so it may hold more rows, and a lead's events are all written before the
# lead is rescored.
BATCH_ROWS = 500
SOURCE = "import"


@dataclass
class ImportReport:
    kind: str
    path: str
    model: str
    rows: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    superseded: int = 0
    missing_fields: list[str] = field(default_factory=list)
    # Mapped columns that the file lacks: column -> the lead field a rule reads.
    absent_columns: dict[str, str] = field(default_factory=dict)
    # leadq's score columns of an earlier export, which are not stored.
    score_columns: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    stored: int = 0
    repeated: int = 0
    rescored: int = 0
    stage_changes: int = 0
    # How a leads file was read: hubspot, salesforce or generic, whether
    # that was detected from the header, and the file's format (csv,
    # parquet or jsonl).
    crm_format: str | None = None
    crm_detected: bool = False
    file_format: str | None = None

    @property
    def accepted(self) -> int:
        return self.rows - len(self.rejected)


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    stored: int = 0
    repeated: int = 0
    rescored: int = 0
    stage_changes: int = 0


def import_file(
    store: Store,
    kind: str,
    path: str | Path,
    *,
    encoding: str | None = None,
    timezone: str | None = None,
    crm: CrmOptions | None = None,
) -> ImportReport:
    """Check a file, then write its accepted rows and rescore the leads they touch.

    A leads file is read as a CRM export first (`crm`; by default its format
    is detected from the header). An events file's times follow
    `crm.date_format` when it is set. Raises InputError, before anything is
    written, for a problem with the whole file.
    """
    started = time.perf_counter()
    if timezone is not None:
        check_timezone(timezone)
    source = read_source(path, encoding=encoding, skip_invalid_lines=True)
    active = ensure_active_model(store)
    # NOTE: the file and its checked rows stay in memory until the last batch
    # is written; nothing streams yet.
    crm_leads = None
    if source.skipped_lines and not source.table.num_columns:
        # Every line was skipped, so there are no columns to check.
        checked = CheckedFile(source.path, 0)
    elif kind == "leads":
        fixed_names = model_names(active.model, active.compiled.layout)
        crm_leads = read_crm_leads(source, crm or CrmOptions(), fixed_names)
        checked = check_leads(crm_leads.source, active.model, active.compiled.layout, crm_leads.problems)
    elif kind == "events" and crm is not None and crm.date_format is not None:
        source, problems = read_event_times(source, active.model, crm.date_format)
        checked = check_events(source, active.model, active.compiled.layout, timezone, problems)
    else:
        checked = _check(store, active, kind, source, timezone)

    checked.reject_lines(source.skipped_lines)
    report = ImportReport(kind, checked.path, active.label, checked.rows, checked.rejected, checked.superseded)
    report.missing_fields, report.absent_columns = checked.missing_fields, checked.absent_columns
    if crm_leads is not None:
        report.crm_format, report.crm_detected = crm_leads.format, crm_leads.detected
        report.file_format, report.score_columns = source.format, crm_leads.score_columns
    for batch in _batches(kind, checked.accepted):
        _add(report, _write_rows(store, active, kind, batch, report))

    log.info(
        "imported %s %s: %d rows, %d rejected, %d leads rescored in %.1f s",
        kind, report.path, report.rows, len(report.rejected), report.rescored, time.perf_counter() - started,
    )  # fmt: skip
    return report


def _check(store: Store, active: ActiveModel, kind: str, source: SourceTable, timezone) -> CheckedFile:
    layout = active.compiled.layout
    if kind == "events":
        return check_events(source, active.model, layout, timezone)
    with store.read() as connection:
        key_kind = EMAIL if active.model.key == "email" else USER_ID

        def find_lead(key: str) -> int | None:
            return resolve(connection, find_identity(connection, key_kind, key))

        return check_outcomes(source, active.model, timezone, find_lead)


def _batches(kind: str, rows: list) -> list[list]:
    if kind != "events":
        return [rows[start : start + BATCH_ROWS] for start in range(0, len(rows), BATCH_ROWS)]
    # Group each lead's events, in file order, and never split a group.
    by_key: dict[str, list[EventRow]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    batches: list[list] = [[]]
    for group in by_key.values():
        if batches[-1] and len(batches[-1]) + len(group) > BATCH_ROWS:
            batches.append([])
        batches[-1].extend(group)
    return [batch for batch in batches if batch]


def _write_rows(store: Store, active: ActiveModel, kind: str, rows: list, report: ImportReport) -> BatchResult:
    """Write a batch of rows, and reject the rows of a lead whose stored row is damaged.

    The batch is written again without those rows, so each damaged lead
    costs it one rolled-back attempt.
    """
    write = WRITERS[kind]
    while rows:
        batch = rows
        try:
            return _write_batch(store, lambda connection, now: write(connection, active, batch, now))
        except DamagedLeadRow as error:
            damaged = _rows_of_lead(store, active, batch, error.lead_id)
            if not damaged:
                raise
            report.rejected += [Rejection(row.place, None, str(error)) for row in damaged]
            rejected = {id(row) for row in damaged}
            rows = [row for row in batch if id(row) not in rejected]
    return BatchResult()


def _rows_of_lead(store: Store, active: ActiveModel, rows: list, lead_id: int | None) -> list:
    """Return the rows that write to a stored lead: by their key, a leads row's email, or an outcome's lead."""
    if lead_id is None:
        return []
    key_kind = EMAIL if active.model.key == "email" else USER_ID
    with store.read() as connection:

        def lead_of(kind: str, value: str | None) -> int | None:
            return None if value is None else resolve(connection, find_identity(connection, kind, value))

        def writes_to_lead(row) -> bool:
            if isinstance(row, OutcomeRow):
                return resolve(connection, row.lead_id) == lead_id
            return lead_id in (lead_of(key_kind, row.key), lead_of(EMAIL, getattr(row, "email", None)))

        return [row for row in rows if writes_to_lead(row)]


def _write_batch(store: Store, write: Callable[[Connection, int], BatchResult]) -> BatchResult:
    """Run one batch in its own transaction, retried on a deadlock or a busy database."""
    return write_with_retries(store, lambda connection: write(connection, now_micros()), "an import batch")


def _add(report: ImportReport, result: BatchResult) -> None:
    for name in ("created", "updated", "stored", "repeated", "rescored", "stage_changes"):
        setattr(report, name, getattr(report, name) + getattr(result, name))


def _rescore(
    connection: Connection, active: ActiveModel, lead_ids, now: int, result: BatchResult, merges: list[Merge]
) -> None:
    """Rescore the batch's leads with cause `import`, and the survivors of
    `merges` with cause `merge`."""
    touched = {resolve(connection, lead_id) for lead_id in lead_ids} - {None}
    if touched:
        # A model activated since the import began scores the leads, because
        # the activation may have dropped the binding table of `active`.
        current = still_active(connection, active)
        changes = rescore_after_merges(connection, current, touched, merges, now, SOURCE)
        result.stage_changes = len(changes)
        result.rescored = len(touched)


def _lead_of_key(
    connection: Connection, active: ActiveModel, key: str, email: str | None, now, created, merges: list[Merge]
) -> int:
    """Find or create the lead of a key: an email, or a user id with an optional email.

    A merge of the lead that has the email and the key's lead is appended to `merges`.
    """
    if active.model.key == "email":
        return lead_with_email(connection, None, key, now, created, merges)
    lead_id = lead_with_user_id(connection, key, email, now, created)
    if email is not None:
        lead_id = lead_with_email(connection, lead_id, email, now, created, merges)
    return lead_id


# Leads


def write_leads(connection: Connection, active: ActiveModel, rows: list[LeadRow], now: int) -> BatchResult:
    created: list[int] = []
    merges: list[Merge] = []
    lead_ids = [_lead_of_key(connection, active, row.key, row.email, now, created, merges) for row in rows]
    lock_leads(connection, lead_ids)
    for row, lead_id in zip(rows, lead_ids):
        _update_attributes(connection, resolve(connection, lead_id), row, now)

    result = BatchResult(created=len(created), updated=len(rows) - len(created))
    _rescore(connection, active, lead_ids, now, result, merges)
    return result


def _update_attributes(connection: Connection, lead_id: int, row: LeadRow, now: int) -> None:
    """Set the row's attributes, with the import's time as their event time.

    Attributes the row leaves blank keep their values. A file contains
    current values, so they replace attributes whatever their times, and a
    trait replaces them only when its event time is at or after the import
    (leadq.service.traits).
    """
    stored = connection.execute(
        select(leads.c.attributes, leads.c.attribute_times).where(leads.c.id == lead_id)
    ).one()
    attributes = {**lead_attributes(stored.attributes, lead_id), **row.attributes}
    values = {
        "attributes": json.dumps(attributes),
        "attribute_times": set_attribute_times(stored.attribute_times, row.attributes, now),
        "updated_at": now,
    }
    if row.email is not None:
        values["email"] = row.email
    connection.execute(update(leads).where(leads.c.id == lead_id).values(**values))


# Events


def write_events(connection: Connection, active: ActiveModel, rows: list[EventRow], now: int) -> BatchResult:
    created: list[int] = []
    merges: list[Merge] = []
    keys = dict.fromkeys(row.key for row in rows)
    lead_of = {key: _lead_of_key(connection, active, key, None, now, created, merges) for key in keys}
    lock_leads(connection, lead_of.values())
    lead_of = {key: resolve(connection, lead_id) for key, lead_id in lead_of.items()}
    stored_for = _insert_events(connection, rows, lead_of, now)
    note_future_events(connection, {lead_of[row.key] for row in rows if row.ts > now} - {None}, now)

    result = BatchResult(created=len(created), stored=len(stored_for), repeated=len(rows) - len(stored_for))
    # A lead whose events were all stored before needs no new score.
    _rescore(connection, active, set(stored_for) | set(created), now, result, merges)
    return result


def _insert_events(connection: Connection, rows: list[EventRow], lead_of: dict, now: int) -> list[int]:
    """Insert events, skipping ids the store has; return the lead of each new event."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(events)
        .on_conflict_do_nothing(index_elements=["message_id"])
        .returning(events.c.lead_id)
    )
    values = [
        {
            "message_id": row.message_id,
            "lead_id": lead_of[row.key],
            "anonymous_id": None,
            "event_name": row.name,
            "ts": row.ts,
            "received_at": now,
            "properties": json.dumps(row.properties),
            "source": SOURCE,
        }
        for row in rows
    ]
    return list(connection.execute(statement, values).scalars())


# Outcomes


def write_outcomes(connection: Connection, active: ActiveModel, rows: list[OutcomeRow], now: int) -> BatchResult:
    """Store outcomes. One without a time gets the import's time, so a second
    import of it stores it again."""
    lock_leads(connection, [row.lead_id for row in rows])
    result = BatchResult()
    touched = []
    for row in rows:
        lead_id = resolve(connection, row.lead_id)
        if row.at is not None and _outcome_stored(connection, lead_id, row):
            result.repeated += 1
            continue
        at = row.at if row.at is not None else now
        connection.execute(
            insert(outcomes).values(lead_id=lead_id, outcome=row.outcome, at=at, value=row.value, source=SOURCE)
        )
        result.stored += 1
        touched.append(lead_id)
    _rescore(connection, active, touched, now, result, merges=[])
    return result


def _outcome_stored(connection: Connection, lead_id: int, row: OutcomeRow) -> bool:
    """Return whether an earlier import already stored this outcome at this time."""
    value = outcomes.c.value.is_(None) if row.value is None else outcomes.c.value == row.value
    found = connection.execute(
        select(outcomes.c.id).where(
            outcomes.c.lead_id == lead_id, outcomes.c.outcome == row.outcome, outcomes.c.at == row.at, value
        )
    ).first()
    return found is not None


WRITERS = {"leads": write_leads, "events": write_events, "outcomes": write_outcomes}
