"""Console sessions: signed cookies, session rows in the database, CSRF tokens.

- A session token is 32 random bytes (URL-safe base64). The browser keeps it in the
  cookie `nexio_session`, signed with HMAC-SHA256 (`token.signature`); the database
  keeps only SHA-256(token) (`ui_sessions.id`), so a copy of the database opens no
  session. The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/ui`, `Secure` when the
  request came over https, and lasts `ui.session_hours`, as the row does.
- Every request reads the row (one indexed read, joined with the API key): a deleted
  row (logout, on any process), an expired one or a revoked key opens nothing at once.
- The signing key is `ui.secret`, or else a random secret made once per database
  (`Store.ui_secret`), so every process on the database signs alike.
- CSRF: every form that changes something carries `HMAC(secret, "csrf:" + session id)`,
  compared in constant time; the sign-in form, which comes before any session, carries
  the nonce of a short-lived signed cookie of its own (`nexio_login`, double submit).
  A POST whose Origin names another host is refused as well.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import weakref

import attrs
from aiohttp import web

from nexio_lite.api.context import services
from nexio_lite.models import ApiKey, now_ms
from nexio_lite.store.session_rows import UiSession

SESSION_COOKIE = "nexio_session"
LOGIN_COOKIE = "nexio_login"
COOKIE_PATH = "/ui"
TOKEN_BYTES = 32
LOGIN_COOKIE_SECONDS = 3600
PURGE_EVERY_MS = 600_000  # expired rows are deleted at a sign-in, at most this often


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def token_hash(token: str) -> str:
    """The stored id of a session token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@attrs.frozen
class Signer:
    """HMAC-SHA256 with the console's secret, one `purpose` per kind of value."""

    secret: bytes = attrs.field(repr=False)

    def mac(self, purpose: str, value: str) -> str:
        message = f"{purpose}:{value}".encode("utf-8", "surrogatepass")
        return _b64(hmac.new(self.secret, message, hashlib.sha256).digest())

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self.mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str) -> str | None:
        """The value of `value.signature` when the signature is right, else None."""
        value, dot, signature = signed.rpartition(".")
        if not dot or not value or not signed.isascii():
            return None
        return value if hmac.compare_digest(signature, self.mac(purpose, value)) else None

    def csrf(self, session_id: str) -> str:
        """The CSRF token of a session (the same on every process on the database)."""
        return self.mac("csrf", session_id)


@attrs.frozen
class Session:
    """The session of the request being answered, and its key (active)."""

    row: UiSession
    csrf: str

    @property
    def key(self) -> ApiKey:
        return self.row.key

    def can(self, scope: str) -> bool:
        return scope in self.row.key.scopes


@attrs.define
class _Keeper:
    signer: Signer | None = None
    last_purge_ms: int = 0


_KEEPERS: weakref.WeakKeyDictionary[web.Application, _Keeper] = weakref.WeakKeyDictionary()


def _keeper(request: web.Request) -> _Keeper:
    keeper = _KEEPERS.get(request.app)
    if keeper is None:
        keeper = _KEEPERS[request.app] = _Keeper()
    return keeper


async def signer(request: web.Request) -> Signer:
    """The application's signer: `ui.secret`, else the database's secret (read once)."""
    keeper = _keeper(request)
    if keeper.signer is None:
        svc = services(request)
        secret = svc.settings.ui.secret
        if not secret:
            secret = await svc.store.ui_secret(secrets.token_urlsafe(32), now_ms())
        keeper.signer = Signer(secret.encode("utf-8"))
    return keeper.signer


def is_https(request: web.Request) -> bool:
    """Whether the browser reached us over https (X-Forwarded-Proto only when
    `ui.trust_forwarded_proto`)."""
    if request.secure:
        return True
    if services(request).settings.ui.trust_forwarded_proto:
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, seconds: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )


def clear_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    _set_cookie(request, response, name, "", 0)


async def current_session(request: web.Request) -> Session | None:
    """The request's session: a well-signed cookie whose row exists, has not expired and
    acts with an active key; else None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    sign = await signer(request)
    token = sign.unsign("session", cookie)
    if token is None:
        return None
    session_id = token_hash(token)
    row = await services(request).store.get_session(session_id, now_ms())
    if row is None or not row.key.active:
        return None
    return Session(row, sign.csrf(session_id))


async def start_session(request: web.Request, response: web.StreamResponse, key: ApiKey) -> str:
    """Store a new session acting with `key` and set its cookie on `response`; returns
    the new session's id (the hash of its token)."""
    svc = services(request)
    now = now_ms()
    keeper = _keeper(request)
    if now - keeper.last_purge_ms > PURGE_EVERY_MS:
        keeper.last_purge_ms = now
        await svc.store.purge_sessions(now)
    seconds = round(svc.settings.ui.session_hours * 3600)
    token = _b64(secrets.token_bytes(TOKEN_BYTES))
    session_id = token_hash(token)
    await svc.store.create_session(session_id, key.id, key.org_id, now, now + seconds * 1000)
    sign = await signer(request)
    _set_cookie(request, response, SESSION_COOKIE, sign.sign("session", token), seconds)
    return session_id


async def end_session(request: web.Request, response: web.StreamResponse) -> bool:
    """Delete the request's session row (everywhere) and clear its cookie."""
    clear_cookie(request, response, SESSION_COOKIE)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return False
    token = (await signer(request)).unsign("session", cookie)
    if token is None:
        return False
    return await services(request).store.delete_session(token_hash(token))


async def login_nonce(request: web.Request, response: web.StreamResponse) -> str:
    """The sign-in form's CSRF value: the nonce of the request's login cookie when it is
    well signed, else a new one, set as that cookie on `response`."""
    sign = await signer(request)
    existing = request.cookies.get(LOGIN_COOKIE)
    nonce = sign.unsign("login", existing) if existing else None
    if nonce is None:
        nonce = _b64(secrets.token_bytes(16))
        signed = sign.sign("login", nonce)
        _set_cookie(request, response, LOGIN_COOKIE, signed, LOGIN_COOKIE_SECONDS)
    return nonce


async def login_nonce_matches(request: web.Request, submitted: str) -> bool:
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not cookie or not submitted:
        return False
    nonce = (await signer(request)).unsign("login", cookie)
    return nonce is not None and submitted.isascii() and hmac.compare_digest(nonce, submitted)


def same_origin(request: web.Request) -> bool:
    """False when the request's Origin (or, without one, Referer) names another host.
    Browsers send Origin with every POST; a request without either is let through to
    the CSRF check, which it must pass anyway."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return True
    host = origin.split("://", 1)[-1].split("/", 1)[0]
    return origin != "null" and host.lower() == request.host.lower()


def csrf_ok(session: Session, submitted: str) -> bool:
    """Whether a form's CSRF token is the session's (constant time)."""
    return submitted.isascii() and hmac.compare_digest(session.csrf, submitted)
