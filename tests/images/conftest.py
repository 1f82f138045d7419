"""Fixtures for the images tier: the images built by scripts/build-images.sh, containers cleaned up after.

Under ``CI=true`` missing Docker or debootstrap is a failure, never a skip (the build script installs both
from Debian when it runs as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TAG = next(
    line.split('"')[1] for line in (REPO / "pyproject.toml").read_text().splitlines() if line.startswith("version = ")
)
BROKER_IMAGE = f"kopfka/broker:{TAG}"
OPERATOR_IMAGE = f"kopfka/operator:{TAG}"
ZOOKEEPER_IMAGE = "kopfka/zookeeper-test:3.8"

pytestmark = pytest.mark.images


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    can_install = os.geteuid() == 0 and shutil.which("apt-get")
    if not ((shutil.which("docker") and shutil.which("dockerd")) or can_install):
        message = "docker is not available (scripts/build-images.sh installs it as root)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-images.sh"), "--zookeeper"],
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},  # wheels for this interpreter's Python version
    )
    assert result.returncode == 0, f"build-images.sh failed:\n{result.stdout}\n{result.stderr}"
    return {"broker": BROKER_IMAGE, "operator": OPERATOR_IMAGE, "zookeeper": ZOOKEEPER_IMAGE}


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of containers a test started; removed (with their anonymous volumes) afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        docker("rm", "-f", "-v", name, check=False)


def container_name(kind: str) -> str:
    return f"kopfka-test-{kind}-{uuid.uuid4().hex[:8]}"
