"""Disclosure platform channel (公共企事业单位信息公开发布平台): one record per concerned unit.

A publication naming units is ONE delivery task; its rendition (adapters/disclosure/render.py)
holds one record per unit. The adapter files them one by one and remembers every record id
in the ledger, so a retry after a crash, a timeout or a 503 goes on with the units not done yet:

    ledger["disclosure", <delivery_id>]      {"units": {credit_code: record_id}}   units done by this delivery
    ledger["disclosure", "pub:" + <pub id>]  {"records": {credit_code: record_id}, "version": n, "retracted": bool}

The platform keeps one record per (source_id = publication id, unit): a create whose answer
was lost answers 409 DUPLICATE_RECORD with the existing id, which the adapter adopts and
brings up to date with PATCH. A revision (new version, e.g. validity 有效 → 失效) PATCHes the
existing records and revokes the records of units it no longer names; a retraction revokes
every record (found in the ledger and, for lost answers, by asking the platform).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import requests

from adapters.base import AdapterServices
from adapters.disclosure.client import Answer, PlatformClient
from adapters.disclosure.config import DisclosureConfig
from schemas.delivery import Action, Delivered, DeliveryResult, DeliveryTask, Rejected, Retryable

log = logging.getLogger("govcast.adapters.disclosure")

CHANNEL = "disclosure"
NETWORK_RETRY_AFTER = 30.0
_FIXED = ("source_id", "unit")  # a record's identity: never PATCHed


class Stop(Exception):
    """A platform answer that ends this delivery attempt with `result`."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(getattr(result, "reason", ""))
        self.result = result


def outcome(answer: Answer, doing: str) -> DeliveryResult:
    """The typed result of a platform error answer."""
    reason = f"{doing}: {answer.status} {answer.code} {answer.message}".strip()
    if answer.status in (429, 503) or answer.status >= 500:
        return Retryable(reason=reason, retry_after=answer.retry_after if answer.retry_after is not None else NETWORK_RETRY_AFTER)
    if answer.code in ("TIMESTAMP_EXPIRED", "NONCE_REPLAYED"):  # clock skew: a fresh signature later may pass
        return Retryable(reason=reason, retry_after=60)
    return Rejected(reason=reason, code=answer.code)


class DisclosureAdapter:
    channel: ClassVar[str] = CHANNEL

    def __init__(self, config: DisclosureConfig, services: AdapterServices, *, client: PlatformClient | None = None) -> None:
        self.config = config
        self.ledger = services.ledger
        self.client = client or PlatformClient(config)

    def deliver(self, task: DeliveryTask) -> DeliveryResult:
        if task.channel != CHANNEL:
            return Rejected(reason=f"task for channel {task.channel!r} sent to the disclosure platform", code="wrong_channel")
        try:
            if task.action is Action.retract:
                return self._retract(task)
            return self._publish(task)
        except Stop as stop:
            return stop.result
        except requests.RequestException as exc:
            reason = f"disclosure platform unreachable: {type(exc).__name__}: {exc}"
            log.warning("%s: %s", task.delivery_id, reason)
            return Retryable(reason=reason, retry_after=NETWORK_RETRY_AFTER)

    def close(self) -> None:
        self.client.close()

    # -- publish / revise ------------------------------------------------------------------------

    def _publish(self, task: DeliveryTask) -> DeliveryResult:
        pub, rendition = task.publication, task.rendition
        if rendition.get("unknown_units"):
            return Rejected(reason="units not in the unit registry: " + ", ".join(rendition["unknown_units"]), code="INVALID_UNIT")
        records: list[dict[str, Any]] = rendition.get("records") or []
        if not records:
            return Rejected(reason="the publication names no units; the disclosure channel does not apply", code="no_units")
        state = self.ledger.get(CHANNEL, _pub_key(pub.id))
        if state.get("retracted"):
            return Delivered(detail=f"retracted earlier; version {pub.version} not filed")
        if state.get("version", 0) > pub.version:
            return Delivered(detail=f"version {pub.version} is older than the filed version {state['version']}; kept it")
        known: dict[str, str] = dict(state.get("records", {}))
        done: dict[str, str] = dict(self.ledger.get(CHANNEL, task.delivery_id).get("units", {}))
        for record in records:
            code = record["unit"]["credit_code"]
            if code in done:
                continue
            record_id = known.get(code)
            if record_id is None:
                record_id, fresh = self._create(record)
            else:
                fresh = False
            if not fresh:
                self._update(record_id, record)
            done[code] = known[code] = record_id
            self.ledger.put(CHANNEL, task.delivery_id, units=done)
            self.ledger.put(CHANNEL, _pub_key(pub.id), records=known)
        current = {r["unit"]["credit_code"] for r in records}
        for code in sorted(set(known) - current):  # a revision no longer names this unit
            self._revoke(known[code], f"第{pub.version}版不再涉及该单位")
            del known[code]
            self.ledger.put(CHANNEL, _pub_key(pub.id), records=known)
        self.ledger.put(CHANNEL, _pub_key(pub.id), version=pub.version)
        listed = ", ".join(f"{code} → {done[code]}" for code in sorted(current))
        return Delivered(external_id=",".join(done[c] for c in sorted(current)),
                         detail=f"version {pub.version}: {len(current)} record(s) ({pub.validity.value}): {listed}")

    def _create(self, record: dict[str, Any]) -> tuple[str, bool]:
        """The record id, and whether this call created it (False: it existed, answer reconciled)."""
        answer = self.client.call("POST", "/v1/records", record)
        if answer.status == 201:
            return str(answer.body["record_id"]), True
        if answer.status == 409 and answer.code == "DUPLICATE_RECORD" and answer.body.get("record_id"):
            log.info("record of %s for %s exists (%s): reconciled", record["source_id"], record["unit"]["credit_code"],
                     answer.body["record_id"])
            return str(answer.body["record_id"]), False
        raise Stop(outcome(answer, f"creating the record of unit {record['unit']['credit_code']}"))

    def _update(self, record_id: str, record: dict[str, Any]) -> None:
        changes = {k: v for k, v in record.items() if k not in _FIXED}
        answer = self.client.call("PATCH", f"/v1/records/{record_id}", changes)
        if answer.status != 200:
            raise Stop(outcome(answer, f"updating record {record_id}"))

    # -- retract ---------------------------------------------------------------------------------

    def _retract(self, task: DeliveryTask) -> DeliveryResult:
        pub = task.publication
        state = self.ledger.put(CHANNEL, _pub_key(pub.id), retracted=True)  # later publish retries must not refile
        records: dict[str, str] = dict(state.get("records", {}))
        found = self.client.call("GET", "/v1/records", query={"source_id": pub.id})  # answers we may have lost
        if found.status != 200:
            raise Stop(outcome(found, "looking up the records to revoke"))
        for record in found.body.get("records", []):
            records.setdefault(record["unit"]["credit_code"], record["record_id"])
        reason = pub.retract_reason or "撤回"
        for code in sorted(records):
            self._revoke(records[code], reason)
        return Delivered(external_id=",".join(records[c] for c in sorted(records)) or None,
                         detail=f"{len(records)} record(s) revoked" if records else "no record was filed; nothing to revoke")

    def _revoke(self, record_id: str, reason: str) -> None:
        answer = self.client.call("POST", f"/v1/records/{record_id}/revoke", {"reason": reason})
        if answer.status not in (200, 404):  # 404: the platform holds no such record any more
            raise Stop(outcome(answer, f"revoking record {record_id}"))


def _pub_key(publication_id: str) -> str:
    return f"pub:{publication_id}"
