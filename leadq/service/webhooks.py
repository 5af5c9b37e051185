"""Webhooks: subscriptions, the outbox and signed delivery.

`enqueue` runs inside the transaction that changed a lead and writes one
outbox row per active subscription to the event type, so the change and
its webhooks commit together or not at all.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Connection, insert, select

from leadq.store.tables import outbox, webhook_subscriptions

EVENT_TYPES = ("lead.created", "lead.stage_changed", "lead.merged", "qualification.recorded")


def enqueue(connection: Connection, event_type: str, data: dict, now: int) -> int:
    """Write the webhook of `event_type` for each subscriber; return how many."""
    subscriptions = connection.execute(
        select(webhook_subscriptions.c.id, webhook_subscriptions.c.event_types).where(
            webhook_subscriptions.c.active.is_(True)
        )
    ).all()
    rows = []
    for subscription in subscriptions:
        if event_type not in json.loads(subscription.event_types):
            continue
        delivery_id = str(uuid.uuid4())
        body = {"id": delivery_id, "type": event_type, "created_at": now, "data": data}
        rows.append(
            {
                "subscription_id": subscription.id,
                "event_type": event_type,
                "payload": json.dumps(body, separators=(",", ":"), sort_keys=True),
                "delivery_id": delivery_id,
                "created_at": now,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
        )
    if rows:
        connection.execute(insert(outbox), rows)
    return len(rows)
