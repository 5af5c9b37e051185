"""Record qualifications in the store, list them, and find the ones that count.

Recording is one transaction: it locks the lead, stores the qualification,
writes the `qualification.recorded` webhook to the outbox and rescores the
lead, so a stage change names the qualification that caused it. Rows are
never updated; the latest qualification with a result of passed or failed
is the one that stage conditions read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select

from leadq.binding import LatestQualification
from leadq.errors import LeadNotFound, LeadqError
from leadq.model.qualification import Framework
from leadq.qualification.answers import (
    COMPLETE_RESULTS,
    Answer,
    Evaluation,
    bound_value,
    check_answers,
    evaluate,
)
from leadq.service.stored_json import qualification_answers, qualification_reasons
from leadq.store import MAX_ID
from leadq.store.tables import leads, qualifications
from leadq.store.value_lists import in_list

logger = logging.getLogger(__name__)
MAX_AUTHOR_LENGTH = 200


class UnknownFramework(LeadqError):
    """A framework id that neither the active model nor the built-ins define."""

    exit_code = 2

    def __init__(self, framework_id: str, known: list[str]) -> None:
        super().__init__(
            f"unknown framework {framework_id!r}; use one of: {', '.join(known)}, "
            "or define it under `frameworks:` in the active model"
        )
        self.framework_id = framework_id


@dataclass(frozen=True)
class Qualification:
    """One stored qualification conversation."""

    id: int
    lead_id: int
    framework: str
    framework_version: str
    answers: dict[str, Answer]
    author: str
    at: int
    result: str
    reasons: list[str]
    score: float
    model_version_id: int | None


@dataclass(frozen=True)
class Recorded:
    qualification: Qualification
    previous_stage: str | None
    stage: str | None


def framework_of(model, framework_id: str) -> Framework:
    """Return a framework of the model (or built in); raise UnknownFramework."""
    frameworks = model.all_frameworks()
    if framework_id not in frameworks:
        raise UnknownFramework(framework_id, sorted(frameworks))
    return frameworks[framework_id]


def find_lead(connection: Connection, reference: str | int) -> int:
    """Find a lead by id, lead key or email; a merged lead resolves to its survivor."""
    from leadq.service.identity import resolve

    text = str(reference).strip()
    conditions = [leads.c.lead_key == text, leads.c.email == text.lower()]
    if text.isdecimal() and int(text) <= MAX_ID:
        conditions.append(leads.c.id == int(text))
    found = connection.execute(
        select(leads.c.id).where(or_(*conditions)).order_by(leads.c.id)
    ).first()
    resolved = resolve(connection, found.id) if found is not None else None
    if resolved is None:
        raise LeadNotFound(f"no lead has the id, lead key or email {text!r}")
    return resolved


def record_qualification(
    connection: Connection,
    active,
    lead_id: int,
    framework_id: str,
    raw_answers: dict[str, Any],
    author: str,
    now: int,
) -> Recorded:
    """Check, store and act on one qualification, in the caller's transaction.

    Raises UnknownFramework or InvalidAnswers before anything is written.
    """
    from leadq.service.rescoring import lock_leads, rescore
    from leadq.service.webhooks import enqueue

    framework = framework_of(active.model, framework_id)
    answers = check_answers(framework, raw_answers)
    evaluation = evaluate(framework, answers, now)
    locked = lock_leads(connection, [lead_id])
    if not locked:
        raise LeadNotFound(f"no lead has the id {lead_id}")
    lead = locked[0]
    stored = _insert(
        connection,
        active,
        lead.id,
        framework_id,
        framework,
        answers,
        evaluation,
        author,
        now,
    )
    enqueue(
        connection, "qualification.recorded", _payload(lead, stored, framework), now
    )
    reason = f"{framework.name} qualification {stored.id} {stored.result}"
    changes = rescore(
        connection,
        active,
        [lead.id],
        now,
        "qualification",
        reason,
        qualification_id=stored.id,
    )
    stage = changes[0].new if changes else lead.stage
    logger.info(
        "recorded qualification %d of lead %d: %s", stored.id, lead.id, stored.result
    )
    return Recorded(stored, lead.stage, stage)


def record_for_lead(
    store, lead_id: int, framework_id: str, raw_answers: dict[str, Any], author: str
) -> Recorded:
    """Record a qualification now with the active model, in its own transaction.

    A merged lead's id records for the lead it was merged into. Raises
    LeadNotFound, UnknownFramework or InvalidAnswers, and then writes nothing.
    The transaction is retried after a failure that a new attempt can pass
    (leadq.service.retries), such as an activation that dropped the binding
    table of the version it read.
    """
    from leadq.service.model_versions import ensure_active_model
    from leadq.service.retries import write_with_retries

    ensure_active_model(store)

    def record(connection: Connection) -> Recorded:
        return _record_for_survivor(
            connection, lead_id, framework_id, raw_answers, author
        )

    return write_with_retries(store, record, f"a qualification of lead {lead_id}")


def _record_for_survivor(
    connection: Connection,
    lead_id: int,
    framework_id: str,
    raw_answers: dict[str, Any],
    author: str,
) -> Recorded:
    from leadq.service.merges import resolve_survivor
    from leadq.service.model_versions import active_model
    from leadq.store.database import now_micros

    survivor = resolve_survivor(connection, lead_id)
    if survivor is None:
        raise LeadNotFound(f"no lead has the id {lead_id}")
    return record_qualification(
        connection,
        active_model(connection),
        survivor,
        framework_id,
        raw_answers,
        author,
        now_micros(),
    )


def _insert(
    connection,
    active,
    lead_id,
    framework_id,
    framework,
    answers,
    evaluation: Evaluation,
    author,
    now,
):
    values = {
        "lead_id": lead_id,
        "framework": framework_id,
        "framework_version": str(framework.version),
        "answers": json.dumps(
            {name: answer.as_json() for name, answer in answers.items()}
        ),
        "author": author.strip()[:MAX_AUTHOR_LENGTH] or "unknown",
        "at": now,
        "result": evaluation.result,
        "reasons": json.dumps(evaluation.reasons),
        "score": evaluation.score,
        "model_version_id": active.id,
    }
    new_id = connection.execute(
        insert(qualifications).values(**values).returning(qualifications.c.id)
    ).scalar_one()
    return _qualification({**values, "id": new_id})


def _payload(lead, stored: Qualification, framework: Framework) -> dict:
    return {
        "lead": {"id": lead.id, "lead_key": lead.lead_key, "email": lead.email},
        "qualification": as_document(stored, framework.name),
    }


def as_document(stored: Qualification, framework_name: str | None = None) -> dict:
    """Return a qualification as JSON-ready data, as the API and webhooks send it."""
    return {
        "id": stored.id,
        "lead_id": stored.lead_id,
        "framework": stored.framework,
        "framework_name": framework_name,
        "framework_version": stored.framework_version,
        "answers": {name: answer.as_json() for name, answer in stored.answers.items()},
        "author": stored.author,
        "at": stored.at,
        "result": stored.result,
        "reasons": stored.reasons,
        "score": stored.score,
    }


def list_qualifications(connection: Connection, lead_id: int) -> list[Qualification]:
    """Return a lead's qualifications, newest first.

    Raises DamagedLeadRow for a qualification whose stored answers or
    reasons are not the JSON they should be.
    """
    rows = connection.execute(
        select(qualifications)
        .where(qualifications.c.lead_id == lead_id)
        .order_by(qualifications.c.at.desc(), qualifications.c.id.desc())
    ).all()
    return [_qualification(row._mapping) for row in rows]


def _qualification(row) -> Qualification:
    stored = qualification_answers(row["answers"], row["id"], row["lead_id"])
    answers = {
        name: Answer(answer["value"], answer.get("note"))
        for name, answer in stored.items()
    }
    return Qualification(
        id=row["id"],
        lead_id=row["lead_id"],
        framework=row["framework"],
        framework_version=row["framework_version"],
        answers=answers,
        author=row["author"],
        at=row["at"],
        result=row["result"],
        reasons=qualification_reasons(row["reasons"], row["id"], row["lead_id"]),
        score=row["score"],
        model_version_id=row["model_version_id"],
    )


# Complete qualifications, oldest first, with the columns that scoring and
# the qualification report read.
COMPLETE_QUALIFICATIONS = (
    select(
        qualifications.c.id,
        qualifications.c.lead_id,
        qualifications.c.framework,
        qualifications.c.at,
        qualifications.c.result,
        qualifications.c.answers,
    )
    .where(qualifications.c.result.in_(COMPLETE_RESULTS))
    .order_by(qualifications.c.at, qualifications.c.id)
)
# Built once: every rescore of a model with qualification conditions runs it.
_LATEST_COMPLETE = COMPLETE_QUALIFICATIONS.where(
    in_list(qualifications.c.lead_id, "ids"),
    in_list(qualifications.c.framework, "frameworks"),
    qualifications.c.at <= bindparam("as_of"),
)


def latest_complete(
    connection: Connection, lead_ids: list[int], frameworks: list[str], as_of: int
) -> list[dict[str, LatestQualification]]:
    """Return, per lead in order, its latest complete qualification per framework.

    Qualifications after `as_of` are left out, so a score as of a time reads
    only what was known then. Raises DamagedLeadRow for stored answers that
    are not the JSON they should be.
    """
    parameters = {"ids": list(lead_ids), "frameworks": list(frameworks), "as_of": as_of}
    rows = connection.execute(_LATEST_COMPLETE, parameters).all()
    latest: dict[int, dict[str, LatestQualification]] = {
        lead_id: {} for lead_id in lead_ids
    }
    for row in rows:
        stored = qualification_answers(row.answers, row.id, row.lead_id)
        answers = {name: bound_value(answer["value"]) for name, answer in stored.items()}
        # Rows come oldest first, so the last one of each framework stays.
        latest[row.lead_id][row.framework] = LatestQualification(
            row.result, row.at, answers
        )
    return [latest[lead_id] for lead_id in lead_ids]
