"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never read the developer's config.toml or NEXIO_* variables by accident.
for _name in [n for n in os.environ if n.startswith("NEXIO_")]:
    del os.environ[_name]


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "nexio.db")
