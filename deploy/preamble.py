"""Run by the bootstrap of dist/nexio-lite.pyz (scripts/build) before nexio-lite starts.

The file holds compiled wheels for one platform only, so any other interpreter or platform
is refused here in one line, rather than by an ImportError from inside a dependency.
"""

from __future__ import annotations

import platform
import sys

NEEDED = "CPython 3.11 on Linux x86_64 with glibc 2.28 or newer"


def problem() -> str | None:
    """What this interpreter lacks, or None when it can run the file."""
    if sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11):
        return f"this is {platform.python_implementation()} {platform.python_version()}"
    if sys.platform != "linux" or platform.machine() != "x86_64":
        return f"this is {sys.platform} {platform.machine()}"
    libc, version = platform.libc_ver()
    numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
    if libc != "glibc" or numbers < (2, 28):
        return f"this has {libc or 'an unknown C library'} {version}".rstrip()
    return None


if __name__ == "__main__":
    found = problem()
    if found:
        sys.exit(f"nexio-lite.pyz needs {NEEDED}; {found}")
