"""Short portal links for SMS: `<public URL>/s/<code>`, a 6-character code per publication.

An SMS segment holds 70 characters including the 【signature】, and the link is written out in it; the
click-counting `/go/pub_<20 hex>?c=sms` alone took 35 of them. The code is derived from the publication
id (SHA-256, base62) and recorded in the adapters' ledger the first time an SMS carries it (channel
`sms_link`, keyed by the code), so the API's `/s/<code>` can look it up; in the unlikely case that
another publication holds the code already, the next derived code is taken. The length never varies,
which lets the SMS text be planned (and checked against one segment) before anything is sent.
"""

from __future__ import annotations

import hashlib

from persistence.ledger import Ledger

LEDGER_CHANNEL = "sms_link"
CODE_CHARS = 6
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ATTEMPTS = 16


def candidate(publication_id: str, attempt: int = 0) -> str:
    number = int.from_bytes(hashlib.sha256(f"{publication_id}#{attempt}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(CODE_CHARS):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def allocate(ledger: Ledger, publication_id: str) -> str:
    """The publication's code (the same on every call), recorded for `resolve`."""
    for attempt in range(_ATTEMPTS):
        code = candidate(publication_id, attempt)
        holder = ledger.get(LEDGER_CHANNEL, code).get("publication_id")
        if holder == publication_id:
            return code
        if holder is None:
            ledger.put(LEDGER_CHANNEL, code, publication_id=publication_id)
            return code
    raise RuntimeError(f"no free short-link code for {publication_id} after {_ATTEMPTS} tries")


def resolve(ledger: Ledger, code: str) -> str | None:
    """The publication id a code stands for; None for a code no SMS ever carried."""
    if len(code) != CODE_CHARS or any(c not in _ALPHABET for c in code):
        return None
    holder = ledger.get(LEDGER_CHANNEL, code).get("publication_id")
    return str(holder) if holder else None
