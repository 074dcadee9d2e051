"""Business records: input is checked in full; a record read back from the store is the record that was stored."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from pydantic import ValidationError

from schemas.subscriber import PushChannel, Subscriber, from_csv_row
from schemas.vocab import credit_code_checksum_ok
from tests.push_support import business, credit_code


def stored_doc(**changes: object) -> str:
    row = business(5, random.Random(1), webhook_base="https://hooks.example.cn") | {"channels": "webhook|email"}
    sub = Subscriber(**from_csv_row(row).model_dump(), consent_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                     origin="imported", unsubscribed=["sms"])
    return json.dumps(sub.stored() | changes, ensure_ascii=False)


def test_a_stored_record_reads_back_as_the_record_full_validation_gives() -> None:
    doc = stored_doc()
    read = Subscriber.from_stored(doc)
    assert read == Subscriber.model_validate_json(doc)
    assert read.channels == [PushChannel.webhook, PushChannel.email] and isinstance(read.channels[0], PushChannel)
    assert read.webhook_secret is not None and read.webhook_secret.get_secret_value().startswith("whsec_")
    assert read.consent_at == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert read.reachable_channels() == [PushChannel.webhook, PushChannel.email]


def test_input_checks_still_apply_to_everything_but_stored_records() -> None:
    bad_code = credit_code(5)[:17] + ("0" if credit_code(5)[17] != "0" else "1")
    with pytest.raises(ValidationError, match="check character"):
        Subscriber.model_validate_json(stored_doc(credit_code=bad_code))
    with pytest.raises(ValidationError, match="contact point"):
        Subscriber.model_validate_json(stored_doc(webhook_url=None))
    with pytest.raises(ValidationError):  # types are still parsed on the stored path
        Subscriber.from_stored(stored_doc(daily_cap="many"))


def test_credit_code_check_character() -> None:
    codes = [credit_code(n) for n in range(1, 2000)]
    assert all(credit_code_checksum_ok(code) for code in codes)
    code = codes[6]
    wrong = [code[:17] + c for c in "0123456789ABCDEFGHJKLMNPQRTUWXY" if c != code[17]]
    assert not any(credit_code_checksum_ok(w) for w in wrong)
    assert not credit_code_checksum_ok(code[:17]) and not credit_code_checksum_ok(code + "1")
    assert not credit_code_checksum_ok("I" + code[1:]) and not credit_code_checksum_ok(code.lower())
