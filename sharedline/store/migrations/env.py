"""alembic environment: runs on the connection :func:`sharedline.store.migrate` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sharedline.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "run migrations through sharedline.store.migrate(), which passes a connection"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
