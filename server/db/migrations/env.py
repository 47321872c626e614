"""Alembic environment: migrations always run on a connection handed over by ``migrate.upgrade``."""

from __future__ import annotations

from alembic import context

from runplane.server.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `runplane server migrate`, which provides a connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # On PostgreSQL the connection comes outside a transaction: each migration commits on its
    # own, so that one may leave its transaction for an autocommit block (CREATE INDEX
    # CONCURRENTLY). On SQLite it comes inside one, which then holds every migration.
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
