"""The disclosure platform channel as the rest of govcast sees it."""

from __future__ import annotations

from typing import cast

from adapters.base import AdapterConfig, AdapterServices, ChannelAdapter
from adapters.common.install import Installation
from adapters.disclosure.adapter import DisclosureAdapter
from adapters.disclosure.config import DisclosureConfig, DisclosureSettings, disclosure_config, disclosure_env
from adapters.disclosure.render import render_disclosure
from adapters.disclosure.sandbox import disclosure_sandbox
from adapters.disclosure.units import load_units
from adapters.spec import Capabilities, ChannelSpec
from schemas.publication import PublicationFields


def _adapter(config: AdapterConfig, services: AdapterServices) -> ChannelAdapter:
    return DisclosureAdapter(cast(DisclosureConfig, config), services)


def _names_units(fields: PublicationFields) -> bool:
    return bool(fields.units)  # the platform lists items per public enterprise/institution


def _known_units(fields: PublicationFields, install: Installation) -> list[tuple[str, str]]:
    if not fields.units:
        return [("body.units", "the disclosure channel needs the units concerned (unified social credit codes)")]
    known = load_units(disclosure_env(install).units_file)
    return [(f"body.units.{i}", f"unit {code} is not in the unit registry of the disclosure platform")
            for i, code in enumerate(fields.units) if known.get(code) is None]


SPEC = ChannelSpec(
    name="disclosure", label="公开平台", settings=DisclosureSettings, config=disclosure_config, adapter=_adapter,
    renderer=render_disclosure, sandboxes={"disclosure": disclosure_sandbox}, applies=_names_units, check=_known_units,
    capabilities=Capabilities(retract=True, edit=True, follows_validity=True),
    summary="public-enterprise/institution disclosure platform: one signed record per named unit",
)
