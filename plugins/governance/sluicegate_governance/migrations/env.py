"""Alembic's environment for the governance store. Run only through
``sluicegate_governance.sql.migrate`` (``sluicegate db upgrade``, or the store on start), which
hands over a connection already inside a transaction; there is no alembic.ini and no URL here."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the governance migrations run through `sluicegate db upgrade` (or the gateway on start), "
        "not the alembic command"
    )

context.configure(
    connection=connection,
    version_table=context.config.attributes["version_table"],
    # SQLite alters a table by copying it: later revisions use op.batch_alter_table.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
