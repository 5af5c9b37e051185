"""The service's store: tables, migrations and connections (SQLite or PostgreSQL)."""

# The largest row id: id columns are signed 64-bit integers on PostgreSQL
# (BIGINT) and SQLite (INTEGER). This module imports nothing, so that the
# commands can use the bound without loading SQLAlchemy.
MAX_ID = 2**63 - 1
