"""Signing is checked against the reference receiver, `standardwebhooks`, as is."""

from __future__ import annotations

import base64
import collections
import json
import re
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from nexio_lite.webhooks.signing import (
    new_secret,
    new_webhook_id,
    secret_key,
    sign,
    signature_header,
    webhook_headers,
)

BODY = json.dumps({"eval_id": "eval_7xKp2mNc", "status": "completed", "note": "ünïcode –"}).encode()


def test_new_secret_is_whsec_base64_of_24_to_32_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 32
    assert new_secret() != secret


def test_new_webhook_id_is_msg_and_at_least_22_base62_characters() -> None:
    webhook_id = new_webhook_id()
    assert re.fullmatch(r"msg_[0-9A-Za-z]{22,}", webhook_id)
    assert new_webhook_id() != webhook_id


def test_new_webhook_id_is_msg_and_24_unbiased_base62_characters() -> None:
    """Exactly 24 characters of the 62, never repeated, each about as often as another (a
    byte taken mod 62 without rejecting 248..255 would favour '0'..'7' by about 21 %)."""
    ids = [new_webhook_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"msg_[0-9A-Za-z]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    counts = collections.Counter("".join(i.removeprefix("msg_") for i in ids))
    assert len(counts) == 62
    expected = 24 * len(ids) / 62  # about 3,871; its standard deviation is about 62
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts


def test_secret_key_is_decoded_once_per_secret() -> None:
    secret = new_secret()
    before = secret_key.cache_info()
    key = secret_key(secret)
    assert secret_key(secret) is key
    after = secret_key.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert key == base64.b64decode(secret.removeprefix("whsec_"))
    # an invalid secret is not remembered: it raises every time
    for _ in range(2):
        with pytest.raises(ValueError, match="base64"):
            secret_key("whsec_not*base64")


def test_sign_matches_a_hand_computed_hmac() -> None:
    """Known vector: key bytes, id, timestamp and body give a fixed signature."""
    import hashlib
    import hmac

    key = b"0123456789abcdef0123456789abcdef"
    secret = "whsec_" + base64.b64encode(key).decode()
    expected = base64.b64encode(
        hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    ).decode()
    assert sign(secret, "msg_1", 1700000000, b"{}") == "v1," + expected


def test_standardwebhooks_verifies_our_headers() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], new_webhook_id(), int(time.time()), BODY, "nexio-lite/0.1")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_headers_carry_content_type_user_agent_and_stable_id() -> None:
    headers = webhook_headers([new_secret()], "msg_abc", 1700000000, BODY, "nexio-lite/0.1")
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-timestamp"] == "1700000000"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "nexio-lite/0.1"


def test_rotation_receiver_holding_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = webhook_headers([new, old], new_webhook_id(), int(time.time()), BODY, "ua")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers) is not None
    assert Webhook(new).verify(BODY, headers) is not None
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_tampered_body_or_wrong_secret_fails_verification() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], new_webhook_id(), int(time.time()), BODY, "ua")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_signature_header_is_single_space_joined_and_deduplicated() -> None:
    a, b = new_secret(), new_secret()
    header = signature_header([a, b, a], "msg_1", 1, b"{}")
    assert header == f"{sign(a, 'msg_1', 1, b'{}')} {sign(b, 'msg_1', 1, b'{}')}"


def test_no_secret_or_bad_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature_header([], "msg_1", 1, b"{}")
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not*base64")
    with pytest.raises(ValueError, match="empty"):
        secret_key("whsec_")


def test_unpadded_secret_is_accepted_like_the_reference_library() -> None:
    key = b"k" * 25  # base64 with one '=' of padding
    padded = "whsec_" + base64.b64encode(key).decode()
    assert secret_key(padded.rstrip("=")) == key
    headers = webhook_headers([padded.rstrip("=")], "msg_1", int(time.time()), BODY, "ua")
    assert Webhook(padded).verify(BODY, headers) is not None
