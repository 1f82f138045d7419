from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .harness import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """Broker 1 of 3, no topics yet."""
    b = Broker(tmp_path / "data")
    yield b
    b.close()


@pytest.fixture
async def groups(broker: Broker) -> AsyncIterator[Broker]:
    """Broker 1 of 3 with a running group coordinator that owns ``__consumer_offsets`` (one partition)."""
    await broker.start_groups()
    yield broker
    await broker.stop_groups()
