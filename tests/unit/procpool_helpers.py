"""Tiny module-level functions for the process-pool tests (they must pickle under spawn)."""

from __future__ import annotations

import os
import time
from pathlib import Path


class Refused(Exception):
    """A custom exception raised in a child, to check it arrives as itself."""


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def refuse(message: str) -> None:
    raise Refused(message)


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def note_pid_then_sleep(path: str, seconds: float, value: object) -> object:
    """Write this process's pid to `path` (so a test can signal it), then sleep."""
    tmp = Path(f"{path}.tmp")
    tmp.write_text(str(os.getpid()))
    tmp.rename(path)
    time.sleep(seconds)
    return value


def exit_now(code: int) -> None:
    os._exit(code)


def blob(n: int) -> bytes:
    return b"x" * n


class Unpicklable:
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("not picklable")


def unpicklable() -> Unpicklable:
    return Unpicklable()
