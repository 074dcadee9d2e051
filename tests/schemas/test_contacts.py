"""Masked contact forms (domain.md): what operators and the API see of a business's contacts."""

from __future__ import annotations

from schemas.contacts import mask_contact, mask_text, mask_url


def test_each_contact_has_its_masked_form() -> None:
    assert mask_contact("mobile", "13812345678") == "138****5678"
    assert mask_contact("email", "zhang.san@example.com") == "z***@example.com"
    assert mask_contact("wechat_openid", "oAbCdEfGhIjKlMnOpQrStUvWxYz") == "oAbC…xYz"
    assert mask_contact("webhook_url", "https://hooks.example.test/k3y?token=abc") == "https://hooks.example.test/…"
    assert mask_contact("mobile", None) is None and mask_contact("name", "企业") == "企业"


def test_a_webhook_url_never_shows_credentials_or_path() -> None:
    assert mask_url("https://user:pw@hooks.example.test:8443/secret/path") == "https://hooks.example.test:8443/…"


def test_free_text_loses_addresses_and_mobiles_but_keeps_the_rest() -> None:
    text = "550 5.1.1 <li.si@corp.example.cn>: mailbox unavailable; SMS 13912345678 failed (code 1234567890123)"
    assert mask_text(text) == ("550 5.1.1 <l***@corp.example.cn>: mailbox unavailable; SMS 139****5678 failed "
                               "(code 1234567890123)")
