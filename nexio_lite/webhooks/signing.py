"""Standard Webhooks signing (https://www.standardwebhooks.com/), sender side.

Guarantees:

- `sign` produces exactly what the reference receiver (`standardwebhooks.Webhook`)
  computes: `v1,` + base64(HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body)),
  the key being the base64-decoded part of the secret after `whsec_`.
- `signature_header` carries one signature per secret, space separated, so during a
  secret rotation a receiver holding either the old or the new secret verifies.
- Nothing here does I/O or reads the clock: the caller passes the timestamp.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Sequence
from secrets import token_bytes

from nexio_lite.models import random_id

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 bits: within the spec's 24–64 bytes, base64 without padding
WEBHOOK_ID_PREFIX = "msg_"
WEBHOOK_ID_LENGTH = 24  # base62 characters after the prefix, about 143 bits


def new_secret() -> str:
    """A fresh signing secret: `whsec_` + base64 of 24 random bytes (32 characters)."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def new_webhook_id() -> str:
    """A fresh message id: `msg_` + 24 random base62 characters (`random_id`: unbiased,
    from the CSPRNG's bytes drawn in bulk). Both stores give each new delivery one."""
    return random_id(WEBHOOK_ID_PREFIX, WEBHOOK_ID_LENGTH)


@functools.lru_cache(maxsize=64)
def secret_key(secret: str) -> bytes:
    """The HMAC key behind `secret` (`whsec_<base64>`; the prefix is optional, missing
    padding is tolerated). Raises ValueError for invalid base64 or an empty key. Cached:
    a sender signs with the same few secrets over and over."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}." + body>` under `secret`."""
    to_sign = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    digest = hmac.digest(secret_key(secret), to_sign, "sha256")
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per distinct secret, in the given
    order, joined by single spaces. Raises ValueError when `secrets` is empty."""
    distinct = list(dict.fromkeys(secrets))
    if not distinct:
        raise ValueError("at least one webhook secret is required")
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in distinct)


def webhook_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes, user_agent: str
) -> dict[str, str]:
    """Every header of one delivery attempt: the three Standard Webhooks headers,
    `Content-Type: application/json` and `User-Agent`."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "Content-Type": "application/json",
        "User-Agent": user_agent,
    }
