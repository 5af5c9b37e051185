"""Rescore the leads of a transaction that merged leads, then send lead.merged.

A lead that took in other leads by a merge is rescored with cause `merge`
and a reason that names them (`merge_reason`), whatever wrote the merge:
the tracking API, `leadq import` or `POST /api/leads/{id}/merge`. The
other leads the transaction touched get the writer's own cause. The
lead.merged webhooks go out after the rescore, so each carries the
survivor's stage and scores as the merge left them.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from leadq.service.identity import Merge, merge_reason, resolve
from leadq.service.model_versions import ActiveModel
from leadq.service.rescoring import StageChange, rescore
from leadq.service.webhooks import enqueue
from leadq.store.tables import leads, score_snapshots

# The fields of a lead.merged webhook that describe the survivor after its rescore.
SURVIVOR_FIELDS = ("stage", "rule", "grade", "scores", "probability", "model_version")


def rescore_after_merges(
    connection: Connection,
    active: ActiveModel,
    touched: set[int],
    merges: list[Merge],
    now: int,
    cause: str,
    locked: list | None = None,
) -> list[StageChange]:
    """Rescore the touched leads and the survivors of `merges`; return their stage changes.

    `merges` are the merges of this transaction, in order; each gets its
    lead.merged webhook. `locked` are the touched leads' rows as
    `lock_leads` returned them, when nothing has changed them since.
    """
    took_in: dict[int, list[int]] = {}
    for merge_record in merges:
        merged_id = merge_record.merged_id
        took_in.setdefault(resolve(connection, merged_id), []).append(merged_id)
    changes = []
    for survivor, merged_ids in sorted(took_in.items()):
        changes += rescore(connection, active, [survivor], now, "merge", merge_reason(merged_ids))

    others = touched - took_in.keys()
    if others:
        current = None if locked is None else [row for row in locked if row.id in others]
        changes += rescore(connection, active, others, now, cause, locked=current)

    for merge_record in merges:
        survivor, probability = _survivor_after(connection, merge_record.survivor_id, now)
        data = merged_payload(merge_record, survivor, probability, active)
        enqueue(connection, "lead.merged", data, now)
    return changes


def _survivor_after(connection: Connection, survivor_id: int, now: int):
    """Return the survivor's stored stage and scores, and the probability of its rescore at `now`."""
    row = connection.execute(
        select(
            leads.c.merged_into,
            leads.c.stage,
            leads.c.stage_rule,
            leads.c.grade,
            leads.c.fit,
            leads.c.engagement,
            leads.c.product,
            leads.c.total,
        ).where(leads.c.id == survivor_id)
    ).one()
    probability = connection.execute(
        select(score_snapshots.c.probability)
        .where(score_snapshots.c.lead_id == survivor_id, score_snapshots.c.at == now)
        .order_by(score_snapshots.c.id.desc())
        .limit(1)
    ).scalar()
    return row, probability


def merged_payload(record: Merge, survivor, probability: float | None, active: ActiveModel) -> dict:
    """Return the data of a lead.merged webhook.

    `lead` names the survivor and `merged_lead` the merged lead as it was
    before the merge. The survivor's stage, rule, grade, scores,
    probability and model version are those of its rescore after the
    merge. They are null when a later merge of the same transaction merged
    the survivor away too, because the later webhook carries its survivor's.
    """
    payload = {
        "lead": {"id": record.survivor_id, "lead_key": record.survivor_key, "email": record.email},
        "merged_lead": {"id": record.merged_id, "lead_key": record.merged_key, "email": record.merged_email},
        "merged_lead_id": record.merged_id,
    }
    if survivor.merged_into is not None:
        return payload | dict.fromkeys(SURVIVOR_FIELDS)
    model = {"id": active.id, "name": active.model.name, "version": str(active.model.version)}
    return payload | {
        "stage": survivor.stage,
        "rule": survivor.stage_rule,
        "grade": survivor.grade,
        "scores": {
            "fit": survivor.fit,
            "engagement": survivor.engagement,
            "product": survivor.product,
            "total": survivor.total,
        },
        "probability": probability,
        "model_version": model,
    }
