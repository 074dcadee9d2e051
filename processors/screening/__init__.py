"""Screening internals: reading text as a reader sees it, classification marks, personal data (see processors.screen)."""
