"""`govcast demo`: publish the sample policy and its interpretation over HTTP, like a department's CMS would."""

from __future__ import annotations

import base64
import io
import sys
import time
import uuid
from typing import Any

import requests

from govcast.samples import DEMO_TARGETING, sample_interpretation, sample_policy

SETTLED = {"delivered", "failed", "partially_delivered", "retracted"}


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


def settled(body: dict[str, Any]) -> bool:
    """Every channel has its answer. Push counts as settled once every business was tried: messages
    waiting for quiet hours to end, or for the platform's receipt, are shown as such."""
    if body.get("status") in SETTLED:
        return True
    others = {ch: d["status"] for ch, d in body.get("deliveries", {}).items() if ch != "push"}
    campaign = body.get("campaign") or {}
    return (all(s in SETTLED | {"dead"} for s in others.values()) and "push" in body.get("deliveries", {})
            and campaign.get("queued", 1) == 0)


def wait_delivered(base: str, token: str, publication_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll the status API until the publication is settled, printing each new state."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        body = requests.get(f"{base}/v1/publications/{publication_id}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        if body.get("status") != last:
            last = body.get("status")
            print(f"  {publication_id}: {last}", file=sys.stderr)
        if settled(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def demo_cover() -> dict[str, str]:
    """The department's own cover for the sample policy (a CMS would send its designer's picture): a 900×383 PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (900, 383), (196, 30, 36))
    draw = ImageDraw.Draw(image)
    for i in range(12):  # a sunrise of rays behind a band: a government cover's usual red and gold
        draw.pieslice((250, 120, 650, 520), 180 + i * 15, 187 + i * 15, fill=(232, 160, 60))
    draw.ellipse((380, 250, 520, 390), fill=(250, 214, 120))
    draw.rectangle((0, 330, 900, 383), fill=(150, 18, 24))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"data": base64.b64encode(buffer.getvalue()).decode()}


def publish_demo(base: str, token: str) -> int:
    try:
        print("publishing the sample policy …", file=sys.stderr)
        policy = _submit(base, token, sample_policy(targeting=DEMO_TARGETING, cover=demo_cover()))
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
        campaign = state.get("campaign")
        if campaign and campaign["matched"]:
            counts = ", ".join(f"{k} {campaign[k]}" for k in ("matched", "delivered", "sent", "deferred", "failed") if campaign[k])
            print(f"  {'':13} push campaign: {counts}")
    print(f"portal home     {base}/portal/")
    print(f"pushes          {base}/sandbox/webhook/_inspect  {base}/sandbox/sms/_inspect  "
          f"{base}/sandbox/wechat/_inspect  (emails: <data dir>/mail/)")
    return 0 if all(_ok(s) for s in (policy_state, interp_state)) else 1


def _ok(state: dict[str, Any]) -> bool:
    """Delivered -- with push possibly still waiting for quiet hours or receipts, which is not a failure."""
    others = [d["status"] for ch, d in state.get("deliveries", {}).items() if ch != "push"]
    campaign = state.get("campaign") or {}
    return state["status"] == "delivered" or (all(s == "delivered" for s in others) and not campaign.get("failed"))
