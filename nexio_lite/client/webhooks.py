"""`verify_webhook`: check a webhook from nexio_lite in your own receiver.

The Standard Webhooks scheme (https://www.standardwebhooks.com/), written out here so
the client needs nothing of the server's code: the signed content is
`{webhook-id}.{webhook-timestamp}.{body}`, the signature `v1,` + base64 of its
HMAC-SHA256 under the key the secret `whsec_<base64>` encodes.

Guarantees: a webhook is accepted only when its `webhook-timestamp` is within
`tolerance` seconds of now (either way) and one of the space-separated signatures of
`webhook-signature` (the server lists two while a secret rotates) matches one of the
given secrets, compared in constant time; then its body is returned parsed. Anything
else raises `WebhookVerificationError`, and nothing is parsed before it is verified.
A secret that is not valid base64 raises `ValueError` (a configuration error, not a
bad webhook).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_SECONDS = 300

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class WebhookVerificationError(ValueError):
    """The webhook is not authentic, too old or too new, or malformed."""


def verify_webhook(
    secret: str | Iterable[str],
    headers: Headers,
    body: bytes | str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """The webhook's JSON body (the job envelope), once its signature and timestamp
    check out. `secret` is the organization's `whsec_…` secret, or several (a receiver
    in the middle of a rotation); `headers` any mapping or pairs, names in any case
    (an aiohttp, Flask, Django or Starlette request's headers as they are); `body` the
    raw bytes as received (a str is UTF-8 encoded); `now` the unix time to check
    against (the clock's by default)."""
    found = _lower(headers)
    msg_id = _required(found, "webhook-id")
    timestamp = _timestamp(_required(found, "webhook-timestamp"), tolerance, now)
    payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    keys = [_key(s) for s in ([secret] if isinstance(secret, str) else secret)]
    if not keys:
        raise ValueError("at least one webhook secret is required")
    expected = [hmac.new(k, signed, hashlib.sha256).digest() for k in keys]
    if not any(
        hmac.compare_digest(given, wanted)
        for given in _signatures(_required(found, "webhook-signature"))
        for wanted in expected
    ):
        raise WebhookVerificationError("no signature matches the secret")
    try:
        parsed = json.loads(payload)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc
    if not isinstance(parsed, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    return parsed


def _lower(headers: Headers) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {str(name).lower(): str(value) for name, value in pairs}


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise WebhookVerificationError(f"missing header {name}")
    return value


def _timestamp(text: str, tolerance: float, now: float | None) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        raise WebhookVerificationError("webhook-timestamp is not unix seconds")
    stamp = int(text)
    current = time.time() if now is None else now
    if stamp < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if stamp > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far in the future")
    return stamp


def _signatures(header: str) -> list[bytes]:
    """The decoded `v1` signatures of the header; other versions are skipped."""
    found = []
    for item in header.split():
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def _key(secret: str) -> bytes:
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from exc
    if not key:
        raise ValueError("webhook secret is empty")
    return key
