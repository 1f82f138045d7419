"""Fixtures and helpers shared by every test tier.

- `require` (a fixture returning the function, so no test imports a conftest):
  `require("kcat", "kcat is needed")` skips the test on a developer's machine when the prerequisite
  is missing, but fails it under `CI=true` — CI must prove everything, nothing may silently skip.
- Every test fails if kopfka's own code (or the test) raised a warning during it, as kopf's tests do:
  warnings are bugs waiting to happen. Third-party warnings are left to pytest's summary.
- `pytest_runtest_makereport` keeps each phase's report on the test item (`item.rep_call`, …) so
  fixtures can react to a failed test at teardown (the integration fixtures attach broker logs).
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.brokers"]
"""ZooKeeper and broker-cluster fixtures (`zookeeper`, `cluster_factory`, `module_cluster_factory`, …)."""

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Code whose warnings fail a test: ours, not our dependencies'.
_OWN_CODE = tuple(f"{os.sep}{name}{os.sep}" for name in ("kafka_broker", "kafka_operator", "tests", "bench"))


def check_prerequisite(condition: bool | str | Path, reason: str) -> None:
    """Skip the test unless `condition` holds; under CI=true fail it instead.

    `condition` is a bool, a binary name looked up on PATH (`"kcat"`), or a Path that must exist.
    """
    if isinstance(condition, Path):
        ok = condition.exists()
    elif isinstance(condition, str):
        ok = shutil.which(condition) is not None
    else:
        ok = bool(condition)
    if ok:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require() -> Callable[[bool | str | Path, str], None]:
    """`require(condition_or_binary_or_path, reason)`: skip locally, fail under CI=true."""
    return check_prerequisite


@pytest.fixture(autouse=True)
def _no_warnings_from_our_code() -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    # ResourceWarnings are raised by the garbage collector, on whatever line runs then (any thread's
    # unclosed socket): their location says nothing about their cause, so they are not judged here.
    ours = [
        w
        for w in caught
        if any(part in w.filename for part in _OWN_CODE) and not issubclass(w.category, ResourceWarning)
    ]
    for w in caught:
        if w not in ours:  # hand the others back to pytest's warnings summary
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if ours:
        lines = "\n".join(f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in ours)
        pytest.fail(f"the test raised warnings from kopfka's code:\n{lines}", pytrace=False)


TIER_MARKERS = {"integration": "integration", "kafka_tools": "kafka_tools", "hostile": "hostile", "k8s": "k8s",
                "images": "images", "e2e": "e2e"}
"""Test folder → the marker every test in it carries, marked in the file or not (so `-m` selects a tier)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if here in path.parents:
            folder = path.relative_to(here).parts[0]
            if folder in TIER_MARKERS:
                item.add_marker(getattr(pytest.mark, TIER_MARKERS[folder]))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """A fresh, empty folder for this test (pytest's tmp_path, under a shorter name)."""
    return tmp_path


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole session: for things shared between tests, like ZooKeeper's data."""
    return tmp_path_factory.mktemp("session")
