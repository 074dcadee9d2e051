"""`govcast demo`: publish the sample policy and its interpretation over HTTP, like a department's CMS would."""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import requests

from govcast.samples import sample_interpretation, sample_policy


def _submit(base: str, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{base}/v1/publications",
        json=payload,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    if response.status_code != 202:
        raise RuntimeError(f"submit failed: HTTP {response.status_code}: {response.text[:500]}")
    return response.json()


def wait_delivered(base: str, token: str, publication_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the status API until the publication is settled, printing each new state."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        body = requests.get(f"{base}/v1/publications/{publication_id}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if body.get("status") != last:
            last = body.get("status")
            print(f"  {publication_id}: {last}", file=sys.stderr)
        if last in {"delivered", "failed", "partially_delivered", "retracted"} or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def publish_demo(base: str, token: str) -> int:
    try:
        print("publishing the sample policy …", file=sys.stderr)
        policy = _submit(base, token, sample_policy())
        policy_state = wait_delivered(base, token, policy["id"])
        print("publishing its interpretation …", file=sys.stderr)
        interp = _submit(base, token, sample_interpretation(policy["id"]))
        interp_state = wait_delivered(base, token, interp["id"])
    except (requests.RequestException, RuntimeError) as exc:
        print(f"govcast demo: {exc}", file=sys.stderr)
        return 1
    for label, state in (("policy", policy_state), ("interpretation", interp_state)):
        print(f"{label:15} {state['index_no']}  {state['status']}")
        for channel, delivery in sorted(state.get("deliveries", {}).items()):
            where = delivery.get("url") or delivery.get("detail") or ""
            print(f"  {channel:13} {delivery['status']:10} {where}")
    print(f"portal home     {base}/portal/")
    return 0 if {policy_state["status"], interp_state["status"]} == {"delivered"} else 1
