"""The operator's short-lived ZooKeeper sessions, for what the Kafka admin protocol of our client lacks.

confluent-kafka has no AlterPartitionReassignments call, so replica moves (replication factor changes,
draining brokers before a scale-down) are written to ``/admin/reassign_partitions`` in Kafka's ZooKeeper
layout — the way Kafka's own ZooKeeper-era tools did it — through ``kafka_broker.metadata``.

Steps see a ``ZooKeeperSession`` (what they read and write, in Kafka's terms) opened by a ``ZooKeeper``
(``KazooZooKeeper`` in the operator, an in-memory fake in unit tests). Every failure to talk to ZooKeeper —
connection timeout, lost session, socket error — surfaces as one exception, ``ZooKeeperUnavailable``, so a
step decides in one place what "unknown" means for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import ParamSpec, Protocol, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from kafka_broker import metadata

_ERRORS = (KazooTimeoutError, KazooException, OSError)

P = ParamSpec("P")
R = TypeVar("R")


class ZooKeeperUnavailable(Exception):
    """ZooKeeper could not be reached or answered with an error: what it holds is unknown."""


class ZooKeeperSession(Protocol):
    def topic_assignments(self) -> dict[str, dict[int, list[int]]]:
        """Replica list of every partition of every topic (``/brokers/topics/<t>``)."""

    def registered_brokers(self) -> list[int]:
        """Ids of the brokers with a live registration (``/brokers/ids``), sorted."""

    def controller_id(self) -> int | None:
        """The broker id in ``/controller``, or None when no controller is elected."""

    def reassignment_in_progress(self) -> bool: ...

    def request_reassignment(self, plan: Mapping[tuple[str, int], list[int]]) -> bool:
        """Write the plan unless a reassignment is already running; True when written."""


class ZooKeeper(Protocol):
    def session(self, connect: str, *, timeout: float = 5.0) -> contextlib.AbstractContextManager[ZooKeeperSession]:
        """A session for the duration of a ``with`` block; raises ``ZooKeeperUnavailable``."""


def _translated(method: Callable[P, R]) -> Callable[P, R]:
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except _ERRORS as exc:
            raise ZooKeeperUnavailable(f"ZooKeeper request failed: {exc!r}") from exc

    return wrapper


class KazooSession:
    """``ZooKeeperSession`` over a started ``KazooClient``."""

    def __init__(self, zk: KazooClient) -> None:
        self.zk = zk

    @_translated
    def topic_assignments(self) -> dict[str, dict[int, list[int]]]:
        try:
            topics = self.zk.get_children(metadata.BROKER_TOPICS_PATH)
        except NoNodeError:
            return {}
        result = {}
        for topic in topics:
            with contextlib.suppress(NoNodeError):
                data, _ = self.zk.get(metadata.topic_path(topic))
                result[topic] = metadata.TopicAssignment.decode(data).partitions
        return result

    @_translated
    def registered_brokers(self) -> list[int]:
        try:
            return sorted(int(b) for b in self.zk.get_children(metadata.BROKER_IDS_PATH))
        except NoNodeError:
            return []

    @_translated
    def controller_id(self) -> int | None:
        try:
            data, _ = self.zk.get(metadata.CONTROLLER_PATH)
        except NoNodeError:
            return None
        try:
            broker = metadata.decode_controller(data)
        except (ValueError, KeyError, TypeError):
            return None  # not Kafka's format: as good as no controller
        return broker if broker != metadata.NO_LEADER else None

    @_translated
    def reassignment_in_progress(self) -> bool:
        return self.zk.exists(metadata.REASSIGN_PARTITIONS_PATH) is not None

    @_translated
    def request_reassignment(self, plan: Mapping[tuple[str, int], list[int]]) -> bool:
        try:
            self.zk.create(metadata.REASSIGN_PARTITIONS_PATH, metadata.encode_reassignment(plan), makepath=True)
        except NodeExistsError:
            return False
        return True


class KazooZooKeeper:
    """``ZooKeeper`` through kazoo: one short session per ``with`` block."""

    @contextlib.contextmanager
    def session(self, connect: str, *, timeout: float = 5.0) -> Iterator[ZooKeeperSession]:
        zk = KazooClient(hosts=connect, timeout=timeout)
        try:
            zk.start(timeout=timeout)  # stops and closes the client itself when it times out
        except _ERRORS as exc:
            raise ZooKeeperUnavailable(f"cannot connect to ZooKeeper at {connect}: {exc!r}") from exc
        try:
            yield KazooSession(zk)
        finally:
            zk.stop()
            zk.close()
