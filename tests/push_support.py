"""Generated businesses for push tests and the targeting benchmark (deterministic by seed)."""

from __future__ import annotations

import base64
import csv
import random
from pathlib import Path
from typing import Any

from schemas.subscriber import CSV_HEADER
from schemas.vocab import _CREDIT_CHARS, _CREDIT_WEIGHTS

REGIONS = ["历下区", "市中区", "槐荫区", "天桥区", "历城区", "长清区", "章丘区", "济阳区", "莱芜区", "钢城区", "平阴县",
           "商河县", "高新区", "起步区", "南部山区"]
INDUSTRIES = ["C3911", "C3912", "C3921", "C391", "C39", "C3411", "C2710", "I6510", "I6420", "F5123", "E4710",
              "M7320", "A0111", "C3311", "K7010"]
SCALES = ["大型", "中型", "小型", "微型"]
QUALS = ["高新技术企业", "科技型中小企业", "创新型中小企业", "专精特新中小企业", '专精特新"小巨人"', "瞪羚", "独角兽"]
TOPICS = ["税费减免", "融资支持", "人才", "稳岗就业", "科技创新", "数字化转型", "对外贸易", "消费", "乡村振兴", "绿色低碳"]
SECRET = "whsec_" + base64.b64encode(b"govcast-test-webhook-secret-0123").decode()


def credit_code(n: int) -> str:
    """A checksum-valid (fictional) unified social credit code number `n`: 91 3701 xx ... + check char."""
    body = "913701" + "00" + f"{n:09d}"
    total = sum(_CREDIT_CHARS.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_CHARS[(31 - total % 31) % 31]


CHANNEL_MIXES = [["webhook", "email"], ["email"], ["email", "webhook"], ["webhook"], ["sms", "email"], ["sms"],
                 ["wechat_template", "sms"], ["wechat_template", "email"]]


def openid(n: int) -> str:
    """A follower's openid as the WeChat sandbox accepts it (28 characters, starting with "o")."""
    return f"oTest{n:023d}"


def business(n: int, rng: random.Random, *, webhook_base: str = "", email_domain: str = "example.test") -> dict[str, Any]:
    """Business number `n` with a random profile; its channels need a webhook receiver only when `webhook_base`."""
    mixes = CHANNEL_MIXES if webhook_base else [m for m in CHANNEL_MIXES if "webhook" not in m]
    return {
        "credit_code": credit_code(n), "name": f"济南测试企业{n:06d}有限公司", "region": rng.choice(REGIONS),
        "industry": rng.choice(INDUSTRIES), "scale": rng.choice(SCALES),
        "qualifications": "|".join(rng.sample(QUALS, rng.randint(0, 2))),
        "topics": "|".join(rng.sample(TOPICS, rng.randint(0, 3))),
        "mobile": f"13{rng.randint(100000000, 999999999)}", "email": f"biz{n}@{email_domain}",
        "webhook_url": f"{webhook_base}/hooks/{n}" if webhook_base else "",
        "webhook_secret": SECRET if webhook_base else "",
        "wechat_openid": openid(n), "channels": "|".join(rng.choice(mixes)),
        "quiet_hours": "", "daily_cap": "5",
    }


def write_csv(path: Path, rows: list[dict[str, Any]], extra_lines: list[str] = ()) -> Path:  # type: ignore[assignment]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_HEADER)
        writer.writeheader()
        writer.writerows(rows)
        for line in extra_lines:
            fh.write(line + "\n")
    return path


def expected(rows: list[dict[str, Any]], *, regions: set[str], industry: str, quals: set[str]) -> set[str]:
    """Independent computation of who a targeting matches (a plain scan, for checking the index)."""
    return {r["credit_code"] for r in rows
            if r["region"] in regions and r["industry"].startswith(industry)
            and quals & set(filter(None, r["qualifications"].split("|")))}


class Receiver:
    """A real HTTP webhook receiver on loopback: verifies Standard Webhooks signatures with the PyPI library,
    counts deliveries by webhook-id, and answers the status set per path (default 204)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from standardwebhooks import Webhook

        self.answers: dict[str, int] = {}
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.bad_signatures = 0
        receiver, verifier = self, Webhook(SECRET)
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = verifier.verify(body, headers)
                except Exception:
                    with lock:
                        receiver.bad_signatures += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                status = receiver.answers.get(self.path, 204)
                if 200 <= status < 300:
                    with lock:
                        receiver.received.setdefault(headers["webhook-id"], []).append(
                            {"path": self.path, "payload": payload})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
