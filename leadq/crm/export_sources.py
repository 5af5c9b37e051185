"""Scored leads to export: from the service's store, or from scoring files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from sqlalchemy import select

from leadq.crm.export import ExportLead
from leadq.crm.reading import CrmOptions, model_names, read_lead_file
from leadq.scoring import ScoreRun, micros_since_epoch
from leadq.service.damaged_leads import errors_of, raise_damaged
from leadq.service.stored_json import DamagedLeadRow, lead_attributes, lead_reasons
from leadq.store.database import Store
from leadq.store.tables import leads


def leads_from_store(store: Store) -> list[ExportLead]:
    """Return every scored lead of the store, highest total score first.

    Merged leads are left out: their data lives on the lead they were merged into.
    Raises DamagedLeadRow, before anything is exported, for a lead whose
    stored attributes or reasons are not the JSON they should be, or
    DamagedLeads when several such columns are damaged.
    """
    query = (
        select(leads)
        .where(leads.c.merged_into.is_(None), leads.c.scored_at.is_not(None))
        .order_by(leads.c.total.desc(), leads.c.lead_key)
    )
    with store.read() as connection:
        rows = connection.execute(query).all()
    try:
        return [_stored_lead(row) for row in rows]
    except DamagedLeadRow:
        # Only a damaged store pays for reading every row again to list them all.
        damaged = [error for row in rows for error in _damaged_columns(row)]
        raise_damaged(damaged, "nothing was exported")
        raise


def _damaged_columns(row) -> list[DamagedLeadRow]:
    attributes = errors_of(lead_attributes, row.attributes, row.id)
    return attributes + errors_of(lead_reasons, row.reasons, row.id)


def _stored_lead(row) -> ExportLead:
    # Factors of the probability (section `predictive`) are not points, as in `leadq score`.
    stored = lead_reasons(row.reasons, row.id)
    reasons = [(item["rule"], item["points"]) for item in stored if item["section"] != "predictive"]
    return ExportLead(
        key=row.lead_key,
        email=row.email,
        attributes=lead_attributes(row.attributes, row.id),
        fit=row.fit or 0.0,
        engagement=row.engagement or 0.0,
        product=row.product or 0.0,
        grade=row.grade,
        stage=row.stage,
        reasons=reasons,
        scored_at=row.scored_at,
    )


def leads_from_run(run: ScoreRun, leads_path: str | Path, encoding: str | None, crm: CrmOptions) -> list[ExportLead]:
    """Return the leads of a `leadq score` run, in its ranking, with their file's attributes."""
    attributes = _attributes_by_key(run, leads_path, encoding, crm)
    scored_at = micros_since_epoch(run.as_of)
    exported = []
    for lead in run.leads:
        values = attributes.get(lead.lead_id, {})
        email = lead.lead_id if run.model.key == "email" else _email(values)
        reasons = [(reason.rule_id, reason.points) for reason in lead.reasons()]
        exported.append(
            ExportLead(
                lead.lead_id, email, values, lead.fit_score, lead.engagement_score, lead.product_score,
                lead.grade, lead.stage, reasons, scored_at,
            )  # fmt: skip
        )
    return exported


def _attributes_by_key(run: ScoreRun, leads_path, encoding, crm: CrmOptions) -> dict[str, dict]:
    """Read the leads file again, as scoring read it; the last row of a key wins."""
    fixed_names = model_names(run.model, run.compiled.layout)
    source = read_lead_file(leads_path, encoding=encoding, options=crm, fixed_names=fixed_names)
    table = source.table
    key_column = next(name for name in table.column_names if run.model.columns.get(name, name) == run.model.key)
    keys = pc.utf8_trim_whitespace(pc.cast(table[key_column], "string"))
    if run.model.key == "email":
        keys = pc.utf8_lower(keys)
    by_key = {}
    for key, row in zip(keys.to_pylist(), table.to_pylist()):
        by_key[key] = {name: value for name, value in row.items() if value is not None and str(value).strip()}
    return by_key


def _email(values: dict) -> str | None:
    email = values.get("email")
    return str(email).strip().lower() if email else None
