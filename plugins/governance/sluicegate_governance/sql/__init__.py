"""The governance store in a SQL database (SQLAlchemy 2, async; Alembic migrations)."""
