"""Alembic migrations of the store (env.py, versions/); run through persistence.migrate, see docs/operations.md."""
