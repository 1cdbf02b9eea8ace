"""`nexio_lite.client.verify_webhook`: what it accepts and what it refuses, cross-checked
with the server's signer and with the `standardwebhooks` reference library."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from nexio_lite.client import WebhookVerificationError, verify_webhook
from nexio_lite.webhooks.signing import new_secret, webhook_headers

NOW = 1_780_000_000
BODY = json.dumps({"id": "eval_abc", "status": "completed", "note": "déjà"}).encode()


def signed(secrets: list[str], body: bytes = BODY, at: int = NOW) -> dict[str, str]:
    return webhook_headers(secrets, "msg_0123456789abcdefABCDEFGH", at, body, "nexio-test")


def test_a_good_webhook_returns_its_parsed_body() -> None:
    secret = new_secret()
    assert verify_webhook(secret, signed([secret]), BODY, now=NOW) == json.loads(BODY)


def test_header_names_in_any_case_pairs_and_a_str_body_are_accepted() -> None:
    secret = new_secret()
    upper = {name.upper(): value for name, value in signed([secret]).items()}
    assert verify_webhook(secret, upper, BODY.decode(), now=NOW)["note"] == "déjà"
    pairs = [(name.title(), value) for name, value in signed([secret]).items()]
    assert verify_webhook(secret, pairs, BODY, now=NOW)["id"] == "eval_abc"


def test_a_tampered_body_is_refused() -> None:
    secret = new_secret()
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify_webhook(secret, signed([secret]), BODY.replace(b"completed", b"failed"), now=NOW)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(new_secret(), signed([new_secret()]), BODY, now=NOW)


def test_a_tampered_id_or_timestamp_is_refused() -> None:
    secret = new_secret()
    headers = signed([secret])
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, {**headers, "webhook-id": "msg_other"}, BODY, now=NOW)
    stamp = str(NOW + 1)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, {**headers, "webhook-timestamp": stamp}, BODY, now=NOW)


def test_the_timestamp_must_be_within_five_minutes_either_way() -> None:
    secret = new_secret()
    headers = signed([secret])
    assert verify_webhook(secret, headers, BODY, now=NOW + 300)
    assert verify_webhook(secret, headers, BODY, now=NOW - 300)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(secret, headers, BODY, now=NOW + 301)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify_webhook(secret, headers, BODY, now=NOW - 301)
    assert verify_webhook(secret, headers, BODY, now=NOW + 3000, tolerance=3600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify_webhook(secret, headers, BODY)  # the clock's now: 2026 and later


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed([new, old])
    assert len(headers["webhook-signature"].split()) == 2
    assert verify_webhook(old, headers, BODY, now=NOW) == verify_webhook(
        new, headers, BODY, now=NOW
    )
    assert verify_webhook([new_secret(), old], signed([old]), BODY, now=NOW)  # receiver holds two
    with pytest.raises(WebhookVerificationError):
        verify_webhook(new_secret(), headers, BODY, now=NOW)


def test_missing_or_malformed_headers_are_refused() -> None:
    secret = new_secret()
    headers = signed([secret])
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        without = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(WebhookVerificationError, match=f"missing header {name}"):
            verify_webhook(secret, without, BODY, now=NOW)
    for stamp in ("-1", "1.5e9", "soon", "１２３"):
        with pytest.raises(WebhookVerificationError, match="unix seconds"):
            verify_webhook(secret, {**headers, "webhook-timestamp": stamp}, BODY, now=NOW)
    junk = "v1a,abc v2,xyz v1,not*base64 " + headers["webhook-signature"]
    assert verify_webhook(secret, {**headers, "webhook-signature": junk}, BODY, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, {**headers, "webhook-signature": "v1a,abc"}, BODY, now=NOW)


def test_a_signed_body_that_is_not_a_json_object_is_refused() -> None:
    secret = new_secret()
    for body in (b"[1, 2]", b"not json"):
        with pytest.raises(WebhookVerificationError, match="JSON"):
            verify_webhook(secret, signed([secret], body), body, now=NOW)


def test_a_bad_secret_is_a_configuration_error_not_a_bad_webhook() -> None:
    headers = signed([new_secret()])
    with pytest.raises(ValueError, match="base64") as caught:
        verify_webhook("whsec_***", headers, BODY, now=NOW)
    assert not isinstance(caught.value, WebhookVerificationError)
    with pytest.raises(ValueError, match="at least one"):
        verify_webhook([], headers, BODY, now=NOW)


def test_agrees_with_the_standard_webhooks_reference_library() -> None:
    secret = new_secret()
    at = datetime.fromtimestamp(NOW, UTC)
    signature = Webhook(secret).sign("msg_reference", at, BODY.decode())
    headers = {"webhook-id": "msg_reference", "webhook-timestamp": str(NOW),
               "webhook-signature": signature}  # fmt: skip
    assert verify_webhook(secret, headers, BODY, now=NOW) == json.loads(BODY)
    secret_without_prefix = secret.removeprefix("whsec_")
    assert verify_webhook(secret_without_prefix, headers, BODY, now=NOW)
