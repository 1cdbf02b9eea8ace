"""structlog configuration: JSON lines in production, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys

import orjson
import structlog
from aiohttp.http_exceptions import HttpProcessingError

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}  # fmt: skip


def configure(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog once for the process. `fmt` is json, console or auto (console
    when stderr is a terminal)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.typing.Processor
    factory: object
    if use_console:
        renderer = structlog.dev.ConsoleRenderer()
        factory = structlog.PrintLoggerFactory(file=sys.stderr)
    else:  # one JSON line per event, rendered by orjson as bytes (structlog's fast path)
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(file=sys.stderr.buffer)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    _route_stdlib_logging(level, shared, use_console)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)


def _route_stdlib_logging(
    level: str, shared: list[structlog.typing.Processor], use_console: bool
) -> None:
    """Lines logged through the standard library (aiohttp's, asyncio's) become structlog
    events in the same format, one line each. A request that aiohttp's HTTP parser
    refuses (a client's mistake, answered 400 by aiohttp) is logged as one
    `http_request_rejected` warning, without a stack trace."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console
        else structlog.processors.JSONRenderer()
    )  # fmt: skip
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name,
                           structlog.stdlib.ExtraAdder(allow=["status", "error"])],
    ))  # fmt: skip
    handler.addFilter(_client_errors_as_one_line)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(_LEVELS[level])


def _client_errors_as_one_line(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    if record.name == "aiohttp.server" and isinstance(exc, HttpProcessingError):
        record.msg, record.args = "http_request_rejected", ()
        detail = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
        record.status = getattr(exc, "code", 400)
        record.error = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True
