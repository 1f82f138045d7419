"""reconcile/zookeeper.py's real session over a stand-in KazooClient: Kafka's znode formats through
kafka_broker.metadata, and every ZooKeeper failure surfacing as ZooKeeperUnavailable."""

from __future__ import annotations

import pytest
from kazoo.exceptions import ConnectionLoss, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from kafka_broker import metadata
from kafka_operator.reconcile import zookeeper
from kafka_operator.reconcile.zookeeper import KazooSession, KazooZooKeeper, ZooKeeperUnavailable


class StubKazoo:
    """The few KazooClient calls the session makes, over a dict of znodes."""

    def __init__(self, nodes: dict[str, bytes], *, error: Exception | None = None) -> None:
        self.nodes = nodes
        self.error = error

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def get(self, path: str) -> tuple[bytes, object]:
        self._check()
        if path not in self.nodes:
            raise NoNodeError(path)
        return self.nodes[path], None

    def get_children(self, path: str) -> list[str]:
        self._check()
        if path not in self.nodes:
            raise NoNodeError(path)
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix) :].split("/")[0] for p in self.nodes if p.startswith(prefix)})

    def exists(self, path: str) -> object | None:
        self._check()
        return object() if path in self.nodes else None

    def create(self, path: str, value: bytes, *, makepath: bool = False) -> None:
        self._check()
        if path in self.nodes:
            raise NodeExistsError(path)
        self.nodes[path] = value


def test_controller_id_reads_kafkas_controller_znode():
    session = KazooSession(StubKazoo({metadata.CONTROLLER_PATH: b'{"version":1,"brokerid":2,"timestamp":"1"}'}))
    assert session.controller_id() == 2


@pytest.mark.parametrize("data", [None, b"", b"not json", b'{"version":1}', b'{"version":1,"brokerid":-1}'])
def test_no_or_unreadable_controller_is_none(data):
    nodes = {} if data is None else {metadata.CONTROLLER_PATH: data}
    assert KazooSession(StubKazoo(nodes)).controller_id() is None


def test_assignments_brokers_and_reassignment_in_kafkas_layout():
    nodes = {
        metadata.BROKER_TOPICS_PATH: b"",
        metadata.topic_path("orders"): b'{"version":2,"partitions":{"0":[1,2],"1":[2,0]}}',
        metadata.BROKER_IDS_PATH: b"",
        metadata.broker_path(0): b"{}",
        metadata.broker_path(2): b"{}",
    }
    session = KazooSession(StubKazoo(nodes))
    assert session.topic_assignments() == {"orders": {0: [1, 2], 1: [2, 0]}}
    assert session.registered_brokers() == [0, 2]
    assert not session.reassignment_in_progress()
    assert session.request_reassignment({("orders", 0): [2, 0]})
    assert metadata.decode_reassignment(nodes[metadata.REASSIGN_PARTITIONS_PATH]) == {("orders", 0): [2, 0]}
    assert session.reassignment_in_progress()
    assert not session.request_reassignment({("orders", 1): [0, 2]})


def test_an_empty_zookeeper_has_no_topics_and_no_brokers():
    session = KazooSession(StubKazoo({}))
    assert session.topic_assignments() == {}
    assert session.registered_brokers() == []


@pytest.mark.parametrize("error", [ConnectionLoss(), KazooTimeoutError("slow"), OSError("reset")])
def test_every_zookeeper_failure_is_zookeeper_unavailable(error):
    session = KazooSession(StubKazoo({}, error=error))
    for call in (session.topic_assignments, session.registered_brokers, session.controller_id):
        with pytest.raises(ZooKeeperUnavailable):
            call()


def test_a_failed_connect_is_zookeeper_unavailable(monkeypatch):
    class NeverConnects:
        def __init__(self, **_: object) -> None:
            pass

        def start(self, timeout: float) -> None:
            raise KazooTimeoutError("Connection time-out")

    monkeypatch.setattr(zookeeper, "KazooClient", NeverConnects)
    with pytest.raises(ZooKeeperUnavailable, match="zk:2181"), KazooZooKeeper().session("zk:2181", timeout=0.1):
        pass
