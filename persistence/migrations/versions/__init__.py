"""Revisions of the store's schema, oldest first (the baseline is the schema of the last release before migrations)."""
