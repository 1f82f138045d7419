"""Real ZooKeeper and broker processes, for every tier that runs brokers (a pytest plugin loaded by
tests/conftest.py, so one ZooKeeper serves the whole session whichever tiers run).

One ZooKeeper serves the whole session (it takes ~3 s to start); every cluster gets its own chroot
(`127.0.0.1:PORT/test-<uuid>`), so clusters never see each other's brokers or topics, and brokers,
kazoo and Kafka's tools all handle a chroot as a plain part of `zookeeper.connect`.

`cluster_factory(brokers=3, overrides={...}, per_broker_overrides={...}, before_start=None)` returns a
started `LocalCluster` (`before_start(zookeeper_connect)` runs first, on its empty chroot), stopped after the
test; `module_cluster_factory` is the same for one cluster shared
by a module's tests. `cluster_class=` runs another `LocalCluster` subclass on the same machinery
(bench/apache_kafka.py's `ApacheKafkaCluster`: real Apache Kafka brokers, for comparisons). When a
test fails, the tail of every broker log of its clusters is attached to its report (shown by pytest
with the failure).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient

from kafka_broker.local import LocalCluster, ZooKeeperProcess
from kafka_broker.local.processes import log_tail
from kafka_broker.local.zookeeper import ZOOKEEPER_JAR

LOG_LINES_ON_FAILURE = 60

# Upper bounds on waits that end as soon as their condition holds, generous for a loaded 2-core CI machine
# (a cold JVM starting ZooKeeper there takes many times its ~3 s on a quiet one).
ZOOKEEPER_START_TIMEOUT = 180.0
ZOOKEEPER_SESSION_TIMEOUT = 60.0
BROKER_START_TIMEOUT = 180.0
"""Until every broker of a cluster has registered in ZooKeeper."""
BROKER_STOP_TIMEOUT = 120.0
"""Until a SIGTERMed broker has exited (its controlled shutdown has its own, shorter bound) before SIGKILL."""

ClusterFactory = Callable[..., LocalCluster]


@pytest.fixture(scope="session")
def zookeeper(
    require: Callable[[object, str], None], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ZooKeeperProcess]:
    """One ZooKeeper 3.8 (Debian's package) for the session."""
    require("java", "a Java runtime is needed for ZooKeeper (apt-get install default-jre-headless)")
    require(ZOOKEEPER_JAR, "ZooKeeper is needed (apt-get install zookeeper)")
    zk = ZooKeeperProcess(data_dir=tmp_path_factory.mktemp("zookeeper"), startup_timeout=ZOOKEEPER_START_TIMEOUT)
    zk.start()
    yield zk
    zk.stop()


@pytest.fixture(scope="session")
def zookeeper_client(zookeeper: ZooKeeperProcess) -> Iterator[KazooClient]:
    """A kazoo client at ZooKeeper's root (no chroot), for creating and removing chroots."""
    client = KazooClient(hosts=zookeeper.connect)
    client.start(timeout=ZOOKEEPER_SESSION_TIMEOUT)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def zookeeper_chroot(zookeeper: ZooKeeperProcess, zookeeper_client: KazooClient) -> Iterator[str]:
    """A fresh, existing chroot for one test: `host:port/test-<uuid>`; removed afterwards."""
    connect, chroot = _new_chroot(zookeeper, zookeeper_client)
    yield connect
    _delete_quietly(zookeeper_client, chroot)


class _Factory:
    """Starts clusters in their own folders and chroots; stops them all at `close()`."""

    def __init__(self, zookeeper: ZooKeeperProcess, client: KazooClient, base: Path, owner: Any) -> None:
        self.zookeeper = zookeeper
        self.client = client
        self.base = base
        self.owner = owner  # the pytest node whose failures get the logs
        self.clusters: list[LocalCluster] = []
        self.chroots: list[str] = []

    def __call__(
        self,
        brokers: int = 3,
        overrides: Mapping[str, str] | None = None,
        per_broker_overrides: Mapping[int, Mapping[str, str]] | None = None,
        cluster_class: type[LocalCluster] = LocalCluster,
        before_start: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> LocalCluster:
        connect, chroot = _new_chroot(self.zookeeper, self.client)
        self.chroots.append(chroot)
        if before_start is not None:
            before_start(connect)  # e.g. the brokers' own SCRAM credentials, which they need to start
        kwargs.setdefault("start_timeout", BROKER_START_TIMEOUT)
        kwargs.setdefault("stop_timeout", BROKER_STOP_TIMEOUT)
        cluster = cluster_class(
            brokers=brokers,
            data_dir=self.base / f"cluster-{len(self.clusters) + 1}",
            zookeeper_connect=connect,
            overrides=overrides,
            per_broker_overrides=per_broker_overrides,
            **kwargs,
        )
        self.clusters.append(cluster)
        clusters = getattr(self.owner, "_kopfka_clusters", [])
        self.owner._kopfka_clusters = [*clusters, cluster]
        cluster.start()
        return cluster

    def close(self) -> None:
        for cluster in self.clusters:
            cluster.stop()
        for chroot in self.chroots:
            _delete_quietly(self.client, chroot)


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest, zookeeper: ZooKeeperProcess, zookeeper_client: KazooClient, tmp_path: Path
) -> Iterator[ClusterFactory]:
    """`cluster_factory(brokers=3, overrides=None, per_broker_overrides=None) -> started LocalCluster`."""
    factory = _Factory(zookeeper, zookeeper_client, tmp_path, request.node)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def module_cluster_factory(
    request: pytest.FixtureRequest,
    zookeeper: ZooKeeperProcess,
    zookeeper_client: KazooClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ClusterFactory]:
    """Like `cluster_factory`, for clusters shared by the tests of one module."""
    factory = _Factory(zookeeper, zookeeper_client, tmp_path_factory.mktemp("clusters"), request.node)
    yield factory
    factory.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the broker logs of the failing test's clusters (its own and its module's)."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for node in item.listchain():
            for cluster in getattr(node, "_kopfka_clusters", []):
                for broker_id in cluster.broker_ids:
                    path = cluster.log_path(broker_id)
                    report.sections.append(
                        (f"{path} (last {LOG_LINES_ON_FAILURE} lines)", log_tail(path, lines=LOG_LINES_ON_FAILURE))
                    )
    return report


def _new_chroot(zookeeper: ZooKeeperProcess, client: KazooClient) -> tuple[str, str]:
    chroot = f"/test-{uuid.uuid4().hex[:12]}"
    client.ensure_path(chroot)
    return f"{zookeeper.connect}{chroot}", chroot


def _delete_quietly(client: KazooClient, path: str) -> None:
    """Remove a test's chroot; a failure here (a lingering ephemeral node) must not fail the test."""
    with contextlib.suppress(Exception):
        client.delete(path, recursive=True)


class BrokersAlive:
    """For ``wait_for(alive=...)``: every broker of the cluster keeps running; a dead one is reported with how
    it died (its exit status or signal) and the last lines of its log."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def check_alive(self) -> None:
        for broker_id in self.cluster.broker_ids:
            status = self.cluster.exit_status(broker_id)
            if status is not None:
                how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
                raise AssertionError(f"broker {broker_id} {how}; last lines of its log:\n"
                                     f"{log_tail(self.cluster.log_path(broker_id))}")
