"""The sync client's transport: `http.client` keep-alive connections to one origin.

Guarantees: `send` returns the whole answer or raises `SendFailed`, whose `sent` is
False only when the connection was never made; a connection that failed or that the
server will close is never reused, and one idle longer than 15 s is not either (the
server keeps them 75 s, so a reused connection is never one the server just closed).
Safe to use from several threads: each request takes a connection of its own.
"""

from __future__ import annotations

import gzip
import http.client
import ssl
import threading
import time
import zlib
from collections.abc import Mapping
from urllib.parse import urlsplit

from nexio_lite.client._protocol import IDLE_CONNECTION_SECONDS, Answer, Call, SendFailed

MAX_IDLE_CONNECTIONS = 8


class ConnectionPool:
    """Keep-alive connections to the origin of `base_url`, whose path is a prefix of
    every request path."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._ssl_context = ssl_context
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()

    def send(self, call: Call, headers: Mapping[str, str], timeout: float) -> Answer:
        """One request and its whole answer (gzip bodies inflated)."""
        conn = self._take()
        try:
            if conn.sock is None:
                conn.timeout = timeout
                try:
                    conn.connect()
                except OSError as exc:
                    raise SendFailed.of(exc, sent=False) from exc
            conn.sock.settimeout(timeout)
            all_headers = {**headers, "Accept-Encoding": "gzip"}
            conn.request(call.method, self._prefix + call.path, call.body, all_headers)
            response = conn.getresponse()
            body = _decoded(response.read(), response.getheader("Content-Encoding"))
        except (OSError, http.client.HTTPException, zlib.error, EOFError) as exc:
            conn.close()
            raise SendFailed.of(exc, sent=True) from exc
        except BaseException:
            conn.close()
            raise
        answer = Answer(response.status, _lower(response.getheaders()), body)
        if response.will_close:
            conn.close()
        else:
            self._give_back(conn)
        return answer

    def close(self) -> None:
        """Close every idle connection (one in use is closed when its request ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    def _take(self) -> http.client.HTTPConnection:
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since < IDLE_CONNECTION_SECONDS:
                    return conn
                conn.close()
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, context=self._ssl_context)
        return http.client.HTTPConnection(self._host, self._port)

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()


def _decoded(body: bytes, encoding: str | None) -> bytes:
    if encoding and encoding.strip().lower() in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    return body


def _lower(pairs: list[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
