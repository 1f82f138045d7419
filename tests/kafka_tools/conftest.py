"""Fixtures for the kafka-tools tier: Apache Kafka 3.9's own command-line tools against kopfka brokers.

- `kafka_tool(name, *args, input=None, timeout=60, check=True)` runs one of Kafka's tools
  (`kafka_tool("kafka-topics", "--bootstrap-server", bootstrap, "--list")`, as `bin/kafka-topics.sh …`
  would) and returns the finished process (`returncode`, `stdout`, `stderr`); with `check`, a non-zero
  exit fails the test and shows both streams. Kafka's jars are fetched once (see `kafka_jars`); without
  java or mvn, or when the download fails, the tier skips, and fails under `CI=true`.
- `cluster` / `bootstrap`: three kopfka brokers shared by a test module, on the session's
  ZooKeeper and cluster fixtures (tests/brokers.py).
  Groups start at once (`group.initial.rebalance.delay.ms=0`), as in Kafka's own integration tests.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.brokers import ClusterFactory

from kafka_broker.local import LocalCluster

from .kafka_jars import KafkaUnavailable, ensure_kafka, is_cached, run_tool

KafkaTool = Callable[..., subprocess.CompletedProcess[str]]

@pytest.fixture(scope="session")
def kafka_jars(require: Callable[[object, str], None]) -> Path:
    """The folder of Kafka 3.9's jars (downloaded into ~/.cache/kopfka/kafka-3.9 the first time)."""
    require("java", "a Java runtime runs Kafka's tools (apt-get install default-jre-headless)")
    if not is_cached():
        require("mvn", "Kafka's jars are fetched from Maven Central with Maven (apt-get install maven)")
    try:
        return ensure_kafka()
    except KafkaUnavailable as exc:
        require(False, str(exc))
        raise


@pytest.fixture(scope="session")
def kafka_tool(kafka_jars: Path) -> KafkaTool:
    """`kafka_tool(name, *args, input=None, timeout=60, check=True) -> CompletedProcess[str]`."""

    def run(
        name: str, *args: str, input: str | None = None, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = f"{name} {shlex.join(args)}"
        try:
            result = run_tool(name, *args, input=input, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"`{command}` still ran after {timeout} s\n{_streams(exc.stdout, exc.stderr)}", pytrace=False)
        if check and result.returncode != 0:
            pytest.fail(f"`{command}` exited {result.returncode}\n{_streams(result.stdout, result.stderr)}",
                        pytrace=False)
        return result

    return run


@pytest.fixture(scope="module")
def cluster(module_cluster_factory: ClusterFactory) -> LocalCluster:
    return module_cluster_factory(brokers=3, overrides={"group.initial.rebalance.delay.ms": "0"})


@pytest.fixture(scope="module")
def bootstrap(cluster: LocalCluster) -> str:
    return cluster.bootstrap_servers


def _streams(stdout: str | bytes | None, stderr: str | bytes | None) -> str:
    def text(stream: str | bytes | None) -> str:
        return stream.decode(errors="replace") if isinstance(stream, bytes) else stream or ""

    return f"--- stdout\n{text(stdout)[-4000:]}\n--- stderr\n{text(stderr)[-4000:]}"
