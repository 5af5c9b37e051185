"""Write transactions that run again after a failure that a new attempt can pass.

Tracking groups, import batches, admin actions and qualifications each
write in one transaction. A deadlock, a serialization failure, a lock
timeout, an insert that raced another one for a unique key or a busy
SQLite file rolls the transaction back, and the same work may then
succeed. So may work that read the active model version just before an
activation committed and dropped that version's binding table (PostgreSQL
42P01): run again, it reads the version that is active now.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from leadq.store.database import Store
from leadq.store.tables import BINDING_TABLE_PREFIX

log = logging.getLogger("leadq.service")

RETRIES = 8
# PostgreSQL's SQLSTATEs of a deadlock, a serialization failure, a lock
# wait that reached lock_timeout and a unique key violation.
_RETRYABLE_STATES = ("40P01", "40001", "55P03", "23505")
# PostgreSQL's SQLSTATE for a table that does not exist.
UNDEFINED_TABLE = "42P01"

Result = TypeVar("Result")


def write_with_retries(store: Store, write: Callable[[Connection], Result], work: str) -> Result:
    """Run `write` in a write transaction and return its result, retried after a retryable failure.

    Each attempt is a new transaction, which `write` starts from scratch.
    `work` names what is written in the log line of a retry, such as "a
    recycle". Other errors and the last attempt's error are raised.
    """
    for attempt in range(RETRIES):
        try:
            with store.write() as connection:
                return write(connection)
        except DBAPIError as error:
            if attempt == RETRIES - 1 or not is_retryable(error):
                raise
            log.info("retrying %s after %s: %s", work, type(error.orig).__name__, first_line(error.orig))
            time.sleep(0.005 * 2**attempt)
    raise AssertionError("unreachable")


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message, such as PostgreSQL's "deadlock detected"."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def is_retryable(error: DBAPIError) -> bool:
    """Return whether a new attempt may pass the failure.

    That is a deadlock, a serialization failure, a lock timeout, a racing
    insert, a busy SQLite file or a dropped binding table.
    """
    code = getattr(error.orig, "sqlstate", None)
    if code in _RETRYABLE_STATES:
        return True
    if code == UNDEFINED_TABLE and BINDING_TABLE_PREFIX in str(error.orig):
        return True
    return "database is locked" in str(error.orig)
