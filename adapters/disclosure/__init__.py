"""Disclosure platform channel: signed records per public enterprise/institution (contract: deploy/disclosure/openapi.yaml)."""

from adapters.disclosure.adapter import DisclosureAdapter
from adapters.disclosure.config import SANDBOX_SECRET, DisclosureConfig

__all__ = ["SANDBOX_SECRET", "DisclosureAdapter", "DisclosureConfig"]
