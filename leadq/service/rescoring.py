"""Rescore stored leads on the store's database and move their stages.

Every rescore locks the leads first (PostgreSQL: FOR UPDATE, SQLite: the
write transaction), runs the compiled query on their own rows and writes
the new scores. With a `predictive` section, each lead's probability is
predicted from that run (leadq.service.predictions) and bound for the
query. It then applies stage rules that files do not have: sticky
stages, recycle stages, and webhooks that fire only the first time a lead
reaches a stage since it was last recycled. A stage change, its history row and its
webhooks are written in the caller's transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import Connection, select

from leadq.engines import run_on_connection
from leadq.learning.predictive import with_prediction
from leadq.model.schema import ScoringModel
from leadq.results import lead_from_row, rank_result
from leadq.service.event_bindings import binds_in_store, bound_events
from leadq.service.lead_tables import read_stored_leads
from leadq.service.model_versions import ActiveModel, naming_values_beyond_limits
from leadq.service.predictions import PROBABILITY_RULE, predict_stored
from leadq.service.stored_json import reached_stages
from leadq.service.webhooks import outbox_rows
from leadq.store.column_writes import insert_rows, sent_together, update_rows
from leadq.store.database import artefacts_folder_of
from leadq.store.tables import leads, outbox, score_snapshots, stage_history
from leadq.store.value_lists import in_list

# Causes of a rescore, kept in stage history and webhooks.
CAUSES = (
    "event", "identify", "import", "schedule", "model", "recycle", "merge", "manual",
    "qualification",
)  # fmt: skip


@dataclass(frozen=True)
class StageChange:
    lead_id: int
    old: str | None
    new: str
    rule: str
    fired: bool


_LEADS_TO_LOCK = (
    select(
        leads.c.id, leads.c.stage, leads.c.stage_rule, leads.c.reached, leads.c.total, leads.c.lead_key, leads.c.email
    )
    .where(in_list(leads.c.id, "ids"), leads.c.merged_into.is_(None))
    .order_by(leads.c.id)
)


def lock_leads(connection: Connection, lead_ids) -> list:
    """Lock the leads' rows in id order, so concurrent writers queue up."""
    query = _LEADS_TO_LOCK
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    return connection.execute(query, {"ids": sorted(set(lead_ids))}).all()


def rescore(
    connection: Connection,
    active: ActiveModel,
    lead_ids,
    now: int,
    cause: str,
    reason: str | None = None,
    *,
    release_sticky: bool = False,
    qualification_id: int | None = None,
    locked: list | None = None,
) -> list[StageChange]:
    """Rescore leads as of `now`; return their stage changes.

    `release_sticky` lets the computed stage replace a sticky one, as a
    recycle does. `qualification_id` names the qualification that caused
    the rescore in stage history and webhooks. `locked` are the leads' rows
    as `lock_leads` returned them earlier in this transaction, when nothing
    has changed them since. Without them, the leads are locked and read here.
    """
    rows = locked if locked is not None else lock_leads(connection, lead_ids)
    current = {row.id: row for row in rows}
    if not current:
        return []
    ranked, predicted = _ranked(connection, active, list(current), now)
    changes, writes = [], _Writes()
    for row in ranked.to_pylist():
        scored = lead_from_row(active.compiled, row)
        lead_id = int(scored.lead_id)
        cause_of = _Cause(cause, reason, qualification_id)
        probability = row.get("probability")
        reasons = _reasons(scored, probability, predicted.get(scored.lead_id))
        change = _apply(
            writes, active, current[lead_id], scored, _ProbabilityAndReasons(probability, reasons),
            now, cause_of, release_sticky,
        )  # fmt: skip
        if change is not None:
            changes.append(change)
    writes.execute(connection, now)
    return changes


@dataclass
class _Writes:
    """Lead updates, snapshots, stage history and webhooks of one rescore, written together at its end.

    Updates that set the same columns go in one statement
    (leadq.store.column_writes), which costs far less than a statement
    per lead.
    """

    updates: dict[tuple[str, ...], list[dict]] = field(default_factory=dict)
    snapshots: list[dict] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    # Stage change webhooks to send, as (event type, data).
    webhooks: list[tuple[str, dict]] = field(default_factory=list)

    def update(self, lead_id: int, values: dict) -> None:
        self.updates.setdefault(tuple(sorted(values)), []).append({"id": lead_id, **values})

    def execute(self, connection: Connection, now: int) -> None:
        webhooks = outbox_rows(connection, self.webhooks, now) if self.webhooks else []
        with sent_together(connection):
            for rows in self.updates.values():
                update_rows(connection, leads, "id", rows)
            insert_rows(connection, score_snapshots, self.snapshots)
            insert_rows(connection, stage_history, self.history)
            insert_rows(connection, outbox, webhooks)


def _ranked(connection, active: ActiveModel, lead_ids: list[int], now: int):
    """Score the leads (see _scored) and rank the result.

    A score that overflows because of the version's values beyond the
    limits raises a LeadqError that names them and the fix
    (model_versions.naming_values_beyond_limits).
    """
    with naming_values_beyond_limits(active):
        result, predicted = _scored(connection, active, lead_ids, now)
        return rank_result(active.compiled, result), predicted


def _scored(connection, active: ActiveModel, lead_ids: list[int], now: int):
    """Run the compiled query on the leads as of `now`, with their probabilities
    when the model has a `predictive` section.

    Returns the query's result and each lead key's predictive reasons (JSON).
    """
    compiled = active.compiled
    if binds_in_store(connection, compiled):
        return _scored_in_store(connection, compiled, lead_ids, now), {}
    stored = read_stored_leads(connection, compiled, lead_ids, now)
    result = run_on_connection(connection, compiled, stored.tables, now, ids_unique=True)
    artefacts = artefacts_folder_of(connection)
    prediction = predict_stored(active.id, compiled, stored, now, artefacts, result)
    if prediction is None:
        return result, {}
    rerun = partial(run_on_connection, connection, compiled, as_of_micros=now, ids_unique=True)
    return with_prediction(compiled, stored.tables, result, prediction, rerun), prediction.reasons


def _scored_in_store(connection, compiled, lead_ids: list[int], now: int):
    """Run the compiled query with the events copied from their stored bindings.

    NOTE: models with a `predictive` section still bind events in Python,
    because their features read the events table. So do rescores in a
    store whose binding table the service has not created yet.
    """
    stored = read_stored_leads(connection, compiled, lead_ids, now, with_events=False)
    added = bound_events(connection, compiled, lead_ids)
    return run_on_connection(connection, compiled, stored.tables, now, added=added, ids_unique=True)


def _reasons(scored, probability: float | None, predictive: str | None) -> list[dict]:
    """List the rule contributions, then the probability and its top factors.

    The probability is the entry with section `predictive` and rule
    `probability`. Feature names always contain a colon, so none can clash.
    """
    reasons = [
        {"rule": c.rule_id, "section": c.section, "points": round(c.points, 6)} for c in scored.reasons()
    ]
    if probability is not None:
        reasons.append({"rule": PROBABILITY_RULE, "section": "predictive", "points": probability})
        reasons += json.loads(predictive or "[]")
    return reasons


def next_stage(model: ScoringModel, current: str | None, computed: str, *, release_sticky: bool = False) -> str:
    """Return the stage a lead moves to when the model computes `computed`.

    A sticky stage stays unless the computed stage is listed before it (a
    step forward, since stages are listed from the most advanced) or is a
    recycle stage, or the lead is being recycled.
    """
    stages = {stage.id: stage for stage in model.stages}
    if release_sticky or current is None or current == computed or current not in stages:
        return computed
    if not stages[current].sticky or stages[computed].recycle:
        return computed
    order = [stage.id for stage in model.stages]
    return computed if order.index(computed) < order.index(current) else current


@dataclass(frozen=True)
class _Cause:
    kind: str
    reason: str | None
    qualification_id: int | None


@dataclass(frozen=True)
class _ProbabilityAndReasons:
    """A rescored lead's probability (None without one) and its stored reasons."""

    probability: float | None
    reasons: list[dict]


def _apply(
    writes: _Writes, active: ActiveModel, current, scored, predicted: _ProbabilityAndReasons,
    now, cause: _Cause, release_sticky,
):  # fmt: skip
    stage = next_stage(active.model, current.stage, scored.stage, release_sticky=release_sticky)
    values = {
        "fit": scored.fit_score,
        "engagement": scored.engagement_score,
        "product": scored.product_score,
        "total": scored.total_score,
        "grade": scored.grade,
        "reasons": json.dumps(predicted.reasons),
        "scored_at": now,
        "model_version_id": active.id,
    }
    change = None
    scores_moved = current.total is None or round(current.total, 1) != round(scored.total_score, 1)
    rule = _stage_rule(current, stage, scored)
    if stage != current.stage:
        moved = _Move(stage, rule, predicted.probability)
        change = _change_stage(writes, active, current, moved, now, cause, release_sticky)
        values.update(stage=stage, stage_since=now, reached=json.dumps(change.reached))
    values["stage_rule"] = rule
    if change is not None or scores_moved or rule != current.stage_rule:
        values["updated_at"] = now
    writes.update(current.id, values)
    if change is not None or scores_moved or cause.kind != "schedule":
        writes.snapshots.append(_snapshot(active, current.id, scored, stage, predicted.probability, now))
    return change.event if change is not None else None


def _stage_rule(current, stage: str, scored) -> str:
    """Return the rule that keeps the lead in `stage` now.

    That is the computed stage's rule when the model decided `stage`, and
    `sticky` when a sticky stage kept the lead although its rule no longer
    applies, such as after a later failed BANT. A stage moved by hand keeps
    the rule `manual` while it is held.
    """
    if stage == scored.stage:
        return scored.stage_rule
    if stage == current.stage and current.stage_rule == "manual":
        return "manual"
    return "sticky"


@dataclass
class _Change:
    event: StageChange
    reached: list[str]


@dataclass(frozen=True)
class _Move:
    """The stage a rescore moves a lead to, the rule, and the lead's probability."""

    stage: str
    rule: str
    probability: float | None


def _change_stage(writes: _Writes, active, current, moved: _Move, now, cause: _Cause, release_sticky) -> _Change:
    stage, rule = moved.stage, moved.rule
    reached = [] if release_sticky else reached_stages(current.reached, current.id)
    first_time = stage not in reached
    # A recycle always sends a webhook, so a CRM that mirrors stages follows.
    fired = release_sticky or (first_time and not _is_catch_all(active.model, stage))
    if first_time:
        reached.append(stage)
    writes.history.append(
        {
            "lead_id": current.id,
            "at": now,
            "old_stage": current.stage,
            "new_stage": stage,
            "rule": rule,
            "model_version_id": active.id,
            "cause": cause.kind,
            "reason": cause.reason,
            "qualification_id": cause.qualification_id,
            "probability": moved.probability,
        }
    )
    if fired:
        writes.webhooks.append(("lead.stage_changed", _stage_payload(active, current, moved, cause)))
    return _Change(StageChange(current.id, current.stage, stage, rule, fired), reached)


def _is_catch_all(model: ScoringModel, stage: str) -> bool:
    last = model.stages[-1]
    return last.when is None and last.id == stage


def _stage_payload(active, current, moved: _Move, cause: _Cause) -> dict:
    payload = {
        "lead": {"id": current.id, "lead_key": current.lead_key, "email": current.email},
        "previous_stage": current.stage,
        "stage": moved.stage,
        "rule": moved.rule,
        "cause": cause.kind,
        "reason": cause.reason,
        "probability": moved.probability,
        "model_version": {"id": active.id, "name": active.model.name, "version": str(active.model.version)},
    }
    if cause.qualification_id is not None:
        payload["qualification_id"] = cause.qualification_id
    return payload


def _snapshot(active, lead_id, scored, stage, probability, now) -> dict:
    return {
        "lead_id": lead_id,
        "at": now,
        "fit": scored.fit_score,
        "engagement": scored.engagement_score,
        "product": scored.product_score,
        "total": scored.total_score,
        "grade": scored.grade,
        "stage": stage,
        "model_version_id": active.id,
        "probability": probability,
    }
