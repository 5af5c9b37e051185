"""Rescore the leads of a transaction that merged leads.

A lead that took in other leads by a merge is rescored with cause `merge`
and a reason that names them (`merge_reason`), whatever wrote the merge:
the tracking API, `leadq import` or `POST /api/leads/{id}/merge`. The
other leads the transaction touched get the writer's own cause.
"""

from __future__ import annotations

from sqlalchemy import Connection

from leadq.service.identity import merge_reason, resolve
from leadq.service.model_versions import ActiveModel
from leadq.service.rescoring import StageChange, rescore


def rescore_after_merges(
    connection: Connection,
    active: ActiveModel,
    touched: set[int],
    merged: list[int],
    now: int,
    cause: str,
    locked: list | None = None,
) -> list[StageChange]:
    """Rescore the touched leads and the survivors of `merged`; return their stage changes.

    `merged` are the ids of the leads merged away in this transaction.
    `locked` are the touched leads' rows as `lock_leads` returned them,
    when nothing has changed them since.
    """
    took_in: dict[int, list[int]] = {}
    for merged_id in merged:
        took_in.setdefault(resolve(connection, merged_id), []).append(merged_id)
    changes = []
    for survivor, merged_ids in sorted(took_in.items()):
        changes += rescore(connection, active, [survivor], now, "merge", merge_reason(merged_ids))

    others = touched - took_in.keys()
    if others:
        current = None if locked is None else [row for row in locked if row.id in others]
        changes += rescore(connection, active, others, now, cause, locked=current)
    return changes
