"""Fixtures shared by the unit tests of several packages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cluster.fakes import Clock, FakeCluster


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    """Brokers 1, 2 and 3 wired as broker.py wires them, on one in-memory ZooKeeper; a settable clock."""
    cluster = FakeCluster(tmp_path, clock=Clock())
    for broker_id in (1, 2, 3):
        await cluster.add_broker(broker_id)
    yield cluster
    cluster.close()
