"""Alembic environment: run migrations on the connection leadq hands over."""

from alembic import context

from leadq.store.tables import metadata, migrated

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    include_name=migrated,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
