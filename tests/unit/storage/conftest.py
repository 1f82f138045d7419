"""Fixtures of the storage tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def partition_dir(tmp_path):
    return tmp_path / "orders.eu_west-1-0"
