from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Broker 1 of 3, no topics yet."""
    b = Broker(tmp_path / "data")
    yield b
    b.close()
