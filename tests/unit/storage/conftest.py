"""Fixtures of the storage tests."""

from __future__ import annotations

import functools
import importlib.util
import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType

import pytest

from kafka_broker.storage import record_walk, validation


@pytest.fixture
def partition_dir(tmp_path):
    return tmp_path / "orders.eu_west-1-0"


# -- the record walk, compiled and interpreted -----------------------------------------------------------
#
# kafka_broker.storage.record_walk is one source run two ways: compiled by Cython where kopfka was installed
# with a C compiler, as plain Python otherwise. Tests that take the ``walk`` fixture run against both.

WALK_SOURCE = Path(record_walk.__file__).with_name("record_walk.py")


def compiled_walk() -> ModuleType:
    """The compiled record walk; skipped where there is none, except under CI=true (CI must test it)."""
    compiled = Path(record_walk.__file__)
    if not compiled.name.endswith(tuple(EXTENSION_SUFFIXES)):
        message = f"the record walk is not compiled ({compiled.name}: no C compiler when kopfka was installed?)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # as tests/conftest.py's IN_CI
            pytest.fail(message)
        pytest.skip(message)
    sources = (WALK_SOURCE, WALK_SOURCE.with_suffix(".pxd"))
    if any(source.stat().st_mtime > compiled.stat().st_mtime for source in sources):
        pytest.fail(f"{compiled.name} is older than its source: rebuild it (`.venv/bin/pip install --no-deps -e .`)")
    return record_walk


@functools.cache
def interpreted_walk() -> ModuleType:
    """record_walk.py run as plain Python, whether or not a compiled module sits beside it."""
    spec = importlib.util.spec_from_file_location("kafka_broker.storage.record_walk_interpreted", WALK_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["compiled", "interpreted"])
def walk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The record walk (compiled, then interpreted), also the one every leader append in the test uses."""
    module = compiled_walk() if request.param == "compiled" else interpreted_walk()
    monkeypatch.setattr(validation, "walk_records", module.walk_records)
    return module
