"""Group calls: accounts, the leads in them, and the group calls of visitors.

A group call merges its traits into the account of its group id and puts
its lead in that account. A lead is in one account at a time, the one of
its group call with the latest event time (the message's `timestamp`, or
the time leadq received it). So a delayed call with an older time leaves
a newer membership in place. `leads.account_at` keeps that time. A lead
put in its account before leadq recorded these times has none, and any
group call moves it.

A group call with only an anonymous id, of a visitor that no lead has
yet, updates the account and waits in `visitor_groups`. When a call links
the anonymous id to a lead, the lead joins the account of the visitor's
latest group call by the same rule, as it takes the visitor's events and
traits.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, delete, select, update

from leadq.service.identity import insert_ignoring_conflict, insert_ignoring_statement, resolve
from leadq.service.stored_json import account_traits
from leadq.store.tables import accounts, leads, visitor_groups
from leadq.store.value_lists import in_list


def update_account(connection: Connection, group_id: str, traits: dict, lead_id: int | None, now: int) -> int:
    """Merge a group call's traits into the account of `group_id`, which is created if missing.

    Returns the account's id. `lead_id` is the call's lead, which the error
    names if the account's stored traits are damaged.
    """
    insert_ignoring_conflict(
        connection,
        accounts,
        {"group_id": group_id, "traits": "{}", "created_at": now, "updated_at": now},
        ["group_id"],
    )
    account = connection.execute(
        select(accounts.c.id, accounts.c.traits).where(accounts.c.group_id == group_id)
    ).one()
    merged = {**account_traits(account.traits, account.id, lead_id), **traits}
    connection.execute(
        update(accounts).where(accounts.c.id == account.id).values(traits=json.dumps(merged), updated_at=now)
    )
    return account.id


def join_account(connection: Connection, lead_id: int, account_id: int, at: int, now: int) -> bool:
    """Put the lead in the account unless its membership has a later time than `at`.

    Returns whether the lead's row changed.
    """
    account_at = connection.execute(select(leads.c.account_at).where(leads.c.id == lead_id)).scalar_one()
    if account_at is not None and account_at > at:
        return False
    connection.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(account_id=account_id, account_at=at, updated_at=now)
    )
    return True


def store_visitor_group(
    connection: Connection, anonymous_id: str, message_id: str, account_id: int, at: int, now: int
) -> None:
    """Keep a visitor's group call until its anonymous id is linked. A repeated message id is kept once."""
    statement = insert_ignoring_statement(connection.dialect.name, visitor_groups, ("message_id",), "id")
    row = {
        "message_id": message_id,
        "anonymous_id": anonymous_id,
        "account_id": account_id,
        "ts": at,
        "received_at": now,
    }
    connection.execute(statement, row)


_VISITOR_ROWS = (
    select(visitor_groups.c.id, visitor_groups.c.anonymous_id, visitor_groups.c.account_id, visitor_groups.c.ts)
    .where(in_list(visitor_groups.c.anonymous_id, "ids"))
    .order_by(visitor_groups.c.ts, visitor_groups.c.id)
)


def claim_visitor_groups(connection: Connection, lead_of: dict[str, int], now: int) -> set[int]:
    """Put each lead in the account of its anonymous ids' latest group call, then delete the calls.

    `lead_of` maps anonymous ids to the leads that have them. Returns the
    leads that joined an account.
    """
    if not lead_of:
        return set()
    rows = connection.execute(_VISITOR_ROWS, {"ids": sorted(lead_of)}).all()
    if not rows:
        return set()
    # Rows come oldest first, so each lead keeps its latest call.
    latest = {resolve(connection, lead_of[row.anonymous_id]): row for row in rows}
    joined = {
        lead_id for lead_id, row in latest.items() if join_account(connection, lead_id, row.account_id, row.ts, now)
    }
    claimed = delete(visitor_groups).where(in_list(visitor_groups.c.id, "row_ids"))
    connection.execute(claimed, {"row_ids": [row.id for row in rows]})
    return joined
