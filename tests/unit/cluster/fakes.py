"""In-memory fakes of the replication layer's boundaries, shared by the cluster and controller tests.

* :class:`FakeZooKeeper` is one ZooKeeper ensemble in memory: znodes with data, versions and zxids,
  ephemeral nodes owned by a session, sequential children, transactions (multi-ops: all or nothing,
  with kazoo's per-operation results), and one-shot watches delivered in order (as kazoo's event
  thread does). :meth:`FakeZooKeeper.client` hands out :class:`FakeKazooClient` sessions that implement
  the part of ``KazooClient`` kopfka and kazoo's ``DataWatch`` / ``ChildrenWatch`` recipes use, so the
  real :class:`ZkStore` and :class:`ZkWatcher` run on it unchanged. Tests read what was written
  (:attr:`FakeZooKeeper.writes`), write behind a broker's back (a controller, another leader), hold
  watch delivery back, for every session or one (:meth:`FakeZooKeeper.watches_held`), make calls fail
  (:meth:`FakeZooKeeper.fail_next`) or slip a write in just before one (:meth:`FakeZooKeeper.before_next`).
  Sessions expire (:meth:`FakeZooKeeper.expire`: ephemerals and watches go, listeners hear ``LOST``,
  every call raises ``SessionExpiredError``) and a client starts a new one
  (:meth:`FakeZooKeeper.new_session`: listeners hear ``CONNECTED``, as kazoo reconnects by itself).
* :class:`LeaderLink` connects a follower's replica fetcher to a leader in the same process: each
  request goes through the real wire codec and the leader's real Fetch / OffsetForLeaderEpoch
  handlers (against the leader's :class:`ReplicaManager`), unless a scripted answer or failure is queued.
* :class:`Clock` is a settable millisecond clock for the replica manager's follower-lag checks.
* :class:`Node` is one broker's replication stack (cache, watcher, store, logs, replica manager,
  fetchers, controller, session keeper) on a shared fake ensemble; :class:`FakeCluster` builds and wires
  several, and pauses one past its session timeout and back (:meth:`FakeCluster.expire`,
  :meth:`FakeCluster.resume`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
    ZookeeperError,
)
from kazoo.protocol.states import EventType, KazooState, KeeperState, WatchedEvent, ZnodeStat

from kafka_broker import metadata as md
from kafka_broker.cluster.client_quotas import ClientQuotas
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.partition import Partition
from kafka_broker.cluster.replica_fetcher import ReplicaFetcherManager
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.session import SessionKeeper
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.cluster.zk_watcher import ZkWatcher
from kafka_broker.config import BrokerConfig, build_config
from kafka_broker.controller import Controller
from kafka_broker.handlers import fetch as fetch_handler
from kafka_broker.handlers import offset_for_leader_epoch as epoch_handler
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import (
    ApiKey,
    FileSlice,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)
from kafka_broker.storage.log import PartitionLog
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager
from kafka_broker.storage.records import Record, build_batch

# --- ZooKeeper ---------------------------------------------------------------------------------------------

Watcher = Callable[[WatchedEvent], None]
Watches = dict[str, list[tuple[int, Watcher]]]
"""Watches set on each path, with the session that set them."""


@dataclass
class Znode:
    data: bytes
    czxid: int
    mzxid: int
    version: int = 0
    cversion: int = 0
    ephemeral_owner: int = 0
    children: set[str] = field(default_factory=set)
    sequence: int = 0
    """Next suffix for a sequential child."""

    def stat(self) -> ZnodeStat:
        return ZnodeStat(self.czxid, self.mzxid, 0, 0, self.version, self.cversion, 0, self.ephemeral_owner,
                         len(self.data), len(self.children), self.mzxid)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _name(path: str) -> str:
    return path.rsplit("/", 1)[1]


class FakeZooKeeper:
    """One in-memory ensemble; see the module docstring."""

    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {"/": Znode(b"", 0, 0)}
        self.writes: list[tuple[str, str]] = []
        """Every successful create / set / delete as ``(operation, path)``, in order."""
        self._zxid = 0
        self._lock = threading.RLock()
        self._data_watches: Watches = {}
        self._child_watches: Watches = {}
        self._events: deque[tuple[int, Watcher, WatchedEvent]] = deque()
        """Watch notifications not yet delivered: ``(session, watcher, event)``."""
        self._delivering = False
        self._held = 0
        self._held_sessions: dict[int, deque[tuple[int, Watcher, WatchedEvent]]] = {}
        self._failures: list[tuple[str, str | None, Callable[[], object]]] = []
        self._sessions = 0x1000

    # --- for tests --------------------------------------------------------------------------------

    def client(self) -> FakeKazooClient:
        """A new session."""
        with self._lock:
            self._sessions += 1
            return FakeKazooClient(self, self._sessions)

    def data(self, path: str) -> bytes | None:
        node = self.nodes.get(path)
        return None if node is None else node.data

    def version(self, path: str) -> int:
        return self.nodes[path].version

    def state(self, topic: str, partition: int) -> md.PartitionState:
        """The partition's state znode, decoded."""
        data = self.data(md.partition_state_path(topic, partition))
        assert data is not None, f"no state znode for {topic}-{partition}"
        return md.PartitionState.decode(data)

    def written(self, operation: str | None = None, prefix: str = "/") -> list[str]:
        """Paths written (by ``operation``, under ``prefix``) since the start or the last :meth:`forget_writes`."""
        return [p for op, p in self.writes if (operation is None or op == operation) and p.startswith(prefix)]

    def forget_writes(self) -> None:
        self.writes.clear()

    def fail_next(self, operation: str, exc: Exception, *, path: str | None = None) -> None:
        """Make the next ``operation`` ("create", "set", "get", "delete", ...) on ``path`` (any path: None) raise."""
        def fail() -> None:
            raise exc

        self._failures.append((operation, path, fail))

    def before_next(self, operation: str, action: Callable[[], object], *, path: str | None = None) -> None:
        """Run ``action`` just before the next ``operation`` on ``path`` (any path: None), as another
        session writing in between a read and a conditional write would."""
        self._failures.append((operation, path, action))

    @contextlib.contextmanager
    def watches_held(self, client: FakeKazooClient | None = None) -> Iterator[None]:
        """Queue watch notifications until the block ends, as a slow event thread would: what the
        watches read when they finally run is the state at that time, not at each change. With ``client``
        only that session's notifications wait (one broker lagging behind the others); the others' flow."""
        if client is not None:
            session = client.session_id
            with self._lock:
                self._held_sessions[session] = deque()
            try:
                yield
            finally:
                with self._lock:
                    self._events.extendleft(reversed(self._held_sessions.pop(session)))
                self._deliver()
            return
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            self._deliver()

    def expire(self, client: FakeKazooClient) -> None:
        """The session expires: its ephemeral nodes and watches go, its listeners hear LOST, and its calls
        raise ``SessionExpiredError`` until :meth:`new_session`."""
        with self._lock:
            owned = [p for p, n in self.nodes.items() if n.ephemeral_owner == client.session_id]
            for table in (self._data_watches, self._child_watches):
                for path in list(table):
                    table[path] = [(session, w) for session, w in table[path] if session != client.session_id]
        for path in owned:
            with contextlib.suppress(NoNodeError):
                self._delete(path, -1, recursive=False)
        client.closed = True
        for listener in list(client.listeners):
            listener(KazooState.LOST)
        self._deliver()

    def new_session(self, client: FakeKazooClient) -> None:
        """kazoo, after a session expired, connects with a new one: its listeners hear CONNECTED (the
        recipes' listeners then read and watch again)."""
        with self._lock:
            self._sessions += 1
            client.session_id = self._sessions
        client.closed = False
        for listener in list(client.listeners):
            listener(KazooState.CONNECTED)
        self._deliver()

    # --- the ZooKeeper operations -------------------------------------------------------------------

    def _check_failure(self, operation: str, path: str) -> None:
        for i, (op, on, action) in enumerate(self._failures):
            if op == operation and (on is None or on == path):
                del self._failures[i]
                action()
                return

    def _next_zxid(self) -> int:
        self._zxid += 1
        return self._zxid

    def _fire(self, table: Watches, path: str, event_type: str) -> None:
        for session, watcher in table.pop(path, []):
            self._events.append((session, watcher, WatchedEvent(event_type, KeeperState.CONNECTED, path)))

    def _deliver(self) -> None:
        """Run queued watch callbacks in order, one at a time, outside the lock (kazoo's event thread)."""
        with self._lock:
            if self._delivering or self._held:
                return
            self._delivering = True
        try:
            while True:
                with self._lock:
                    if not self._events or self._held:
                        return
                    session, watcher, event = self._events.popleft()
                    held = self._held_sessions.get(session)
                    if held is not None:
                        held.append((session, watcher, event))
                        continue
                watcher(event)
        finally:
            with self._lock:
                self._delivering = False

    def _create(self, path: str, value: bytes, *, owner: int, ephemeral: bool, sequence: bool,
                makepath: bool) -> str:
        self._check_failure("create", path)
        with self._lock:
            path = self._create_locked(path, value, owner=owner, ephemeral=ephemeral, sequence=sequence,
                                       makepath=makepath)
        self._deliver()
        return path

    def _create_locked(self, path: str, value: bytes, *, owner: int, ephemeral: bool, sequence: bool,
                       makepath: bool) -> str:
        parent_path = _parent(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            if not makepath:
                raise NoNodeError(parent_path)
            self._create_locked(parent_path, b"", owner=owner, ephemeral=False, sequence=False, makepath=True)
            parent = self.nodes[parent_path]
        if parent.ephemeral_owner:
            raise NoNodeError(f"{parent_path} is ephemeral")  # ZooKeeper: NoChildrenForEphemerals
        if sequence:
            path = f"{path}{parent.sequence:010d}"
            parent.sequence += 1
        if path in self.nodes:
            raise NodeExistsError(path)
        zxid = self._next_zxid()
        self.nodes[path] = Znode(bytes(value), zxid, zxid, ephemeral_owner=owner if ephemeral else 0)
        parent.children.add(_name(path))
        parent.cversion += 1
        self.writes.append(("create", path))
        self._fire(self._data_watches, path, EventType.CREATED)
        self._fire(self._child_watches, parent_path, EventType.CHILD)
        return path

    def _set(self, path: str, value: bytes, version: int) -> ZnodeStat:
        self._check_failure("set", path)
        with self._lock:
            stat = self._set_locked(path, value, version)
        self._deliver()
        return stat

    def _set_locked(self, path: str, value: bytes, version: int) -> ZnodeStat:
        node = self.nodes.get(path)
        if node is None:
            raise NoNodeError(path)
        if version != -1 and version != node.version:
            raise BadVersionError(path)
        node.data = bytes(value)
        node.version += 1
        node.mzxid = self._next_zxid()
        self.writes.append(("set", path))
        self._fire(self._data_watches, path, EventType.CHANGED)
        return node.stat()

    def _multi(self, session: int, ops: list[tuple[Any, ...]]) -> list[Any]:
        """A transaction: every operation applies, or none does. Results as kazoo returns them: per
        operation its result, or — when one failed — that one's exception, ``RolledBackError`` before it
        and ``RuntimeInconsistency`` after it."""
        self._check_failure("commit", ops[0][1] if ops else "/")
        with self._lock:
            saved = ({p: dataclasses.replace(n, children=set(n.children)) for p, n in self.nodes.items()},
                     self._zxid, len(self.writes), len(self._events),
                     {p: list(w) for p, w in self._data_watches.items()},
                     {p: list(w) for p, w in self._child_watches.items()})
            results: list[Any] = []
            for op, path, *args in ops:
                try:
                    if op == "create":
                        value, ephemeral, sequence = args
                        results.append(self._create_locked(path, value, owner=session, ephemeral=ephemeral,
                                                           sequence=sequence, makepath=False))
                    elif op == "set_data":
                        results.append(self._set_locked(path, args[0], args[1]))
                    elif op == "delete":
                        self._delete_locked(path, args[0], recursive=False)
                        results.append(True)
                    else:  # check
                        node = self.nodes.get(path)
                        if node is None:
                            raise NoNodeError(path)
                        if node.version != args[0]:
                            raise BadVersionError(path)
                        results.append(True)
                except ZookeeperError as exc:
                    failed = len(results)
                    self.nodes, self._zxid = saved[0], saved[1]
                    del self.writes[saved[2]:]
                    while len(self._events) > saved[3]:
                        self._events.pop()
                    self._data_watches, self._child_watches = saved[4], saved[5]
                    return ([RolledBackError() for _ in range(failed)] + [exc]
                            + [RuntimeInconsistency() for _ in range(len(ops) - failed - 1)])
        self._deliver()
        return results

    def _delete(self, path: str, version: int, *, recursive: bool) -> None:
        self._check_failure("delete", path)
        with self._lock:
            self._delete_locked(path, version, recursive=recursive)
        self._deliver()

    def _delete_locked(self, path: str, version: int, *, recursive: bool) -> None:
        node = self.nodes.get(path)
        if node is None:
            raise NoNodeError(path)
        if version != -1 and version != node.version:
            raise BadVersionError(path)
        if node.children:
            if not recursive:
                raise NotEmptyError(path)
            for child in sorted(node.children):
                self._delete_locked(f"{path.rstrip('/')}/{child}", -1, recursive=True)
        del self.nodes[path]
        parent_path = _parent(path)
        parent = self.nodes[parent_path]
        parent.children.discard(_name(path))
        parent.cversion += 1
        self.writes.append(("delete", path))
        self._fire(self._data_watches, path, EventType.DELETED)
        self._fire(self._child_watches, path, EventType.DELETED)
        self._fire(self._child_watches, parent_path, EventType.CHILD)

    def _get(self, path: str, watch: Watcher | None, session: int) -> tuple[bytes, ZnodeStat]:
        self._check_failure("get", path)
        with self._lock:
            node = self.nodes.get(path)
            if node is None:
                raise NoNodeError(path)
            if watch is not None:
                self._data_watches.setdefault(path, []).append((session, watch))
            return node.data, node.stat()

    def _exists(self, path: str, watch: Watcher | None, session: int) -> ZnodeStat | None:
        self._check_failure("exists", path)
        with self._lock:
            if watch is not None:
                self._data_watches.setdefault(path, []).append((session, watch))
            node = self.nodes.get(path)
            return None if node is None else node.stat()

    def _get_children(self, path: str, watch: Watcher | None, session: int) -> list[str]:
        self._check_failure("get_children", path)
        with self._lock:
            node = self.nodes.get(path)
            if node is None:
                raise NoNodeError(path)
            if watch is not None:
                self._child_watches.setdefault(path, []).append((session, watch))
            return sorted(node.children)


class _Handler:
    """What kazoo's recipes take from ``client.handler``: callbacks run in place, in the caller's thread."""

    sleep_func = staticmethod(time.sleep)

    @staticmethod
    def lock_object() -> threading.RLock:
        return threading.RLock()

    @staticmethod
    def spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        fn(*args, **kwargs)


class FakeKazooClient:
    """One session of a :class:`FakeZooKeeper`, with ``KazooClient``'s call signatures."""

    handler = _Handler()

    def __init__(self, server: FakeZooKeeper, session_id: int) -> None:
        self.server = server
        self.session_id = session_id
        self.listeners: list[Callable[[str], Any]] = []
        self.closed = False

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        return (self.session_id, b"") if not self.closed else None

    def retry(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    def add_listener(self, listener: Callable[[str], Any]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[str], Any]) -> None:
        with contextlib.suppress(ValueError):
            self.listeners.remove(listener)

    def start(self, timeout: float = 15) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def _live(self) -> int:
        """The session id, for a call; an expired session refuses every call, as kazoo's does."""
        if self.closed:
            raise SessionExpiredError()
        return self.session_id

    def ensure_path(self, path: str) -> bool:
        self._live()
        if self.server.nodes.get(path) is None:
            with contextlib.suppress(NodeExistsError):
                self.create(path, b"", makepath=True)
        return True

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False, makepath: bool = False) -> str:
        return self.server._create(path, value, owner=self._live(), ephemeral=ephemeral, sequence=sequence,
                                   makepath=makepath)

    def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        self._live()
        return self.server._set(path, value, version)

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        self._live()
        self.server._delete(path, version, recursive=recursive)
        return True

    def get(self, path: str, watch: Watcher | None = None) -> tuple[bytes, ZnodeStat]:
        return self.server._get(path, watch, self._live())

    def exists(self, path: str, watch: Watcher | None = None) -> ZnodeStat | None:
        return self.server._exists(path, watch, self._live())

    def get_children(self, path: str, watch: Watcher | None = None, include_data: bool = False) -> list[str]:
        return self.server._get_children(path, watch, self._live())

    def transaction(self) -> FakeTransaction:
        return FakeTransaction(self)


class FakeTransaction:
    """kazoo's ``TransactionRequest``: operations collected, then committed as one multi-op."""

    def __init__(self, client: FakeKazooClient) -> None:
        self.client = client
        self.ops: list[tuple[Any, ...]] = []

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False) -> None:
        self.ops.append(("create", path, bytes(value), ephemeral, sequence))

    def delete(self, path: str, version: int = -1) -> None:
        self.ops.append(("delete", path, version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        self.ops.append(("set_data", path, bytes(value), version))

    def check(self, path: str, version: int) -> None:
        self.ops.append(("check", path, version))

    def commit(self) -> list[Any]:
        return self.client.server._multi(self.client._live(), self.ops)


# --- time, logs, batches -----------------------------------------------------------------------------------


class Clock:
    """Milliseconds that move only when a test says so."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


def records_batch(count: int = 1, *, value: bytes = b"v", start: int = 0) -> bytes:
    """A producer batch (base offset 0) of ``count`` records."""
    return build_batch([Record(i, 1_000 + i, b"k%d" % (start + i), value, ()) for i in range(count)], base_offset=0)


def append(log: PartitionLog, count: int = 1, *, epoch: int, value: bytes = b"v") -> int:
    """Append ``count`` records as leader at ``epoch``; returns the new log end offset."""
    log.append_as_leader(records_batch(count, value=value), leader_epoch=epoch)
    return log.log_end_offset


def log_bytes(part: Partition) -> bytes:
    """The partition's whole log, as stored (a follower stores the leader's batches byte for byte)."""
    read = part.log.read(0, max_bytes=1 << 20)
    return b"" if read.slice is None else read.slice.read()


def broker_config(broker_id: int, log_dir: Path, **overrides: str) -> BrokerConfig:
    """A broker's config with Kafka's keys; test-friendly replication timings unless overridden."""
    props = {
        "broker.id": str(broker_id),
        "log.dirs": str(log_dir),
        "zookeeper.connect": "fake:2181",
        "listeners": f"PLAINTEXT://127.0.0.1:{9090 + broker_id}",
        "replica.lag.time.max.ms": "10000",
        "replica.fetch.wait.max.ms": "0",
        "replica.fetch.backoff.ms": "10",
        "auto.leader.rebalance.enable": "false",
        **overrides,
    }
    return build_config(props)


def put_partition(cache: MetadataCache, topic: str, partition: int, replicas: list[int],
                  state: md.PartitionState | None = None, version: int = 0) -> PartitionInfo:
    """Put a partition into a cache directly (for tests that bypass the watcher)."""
    info = cache.topics.setdefault(topic, TopicInfo(name=topic, topic_id=None))
    pinfo = info.partitions.setdefault(partition, PartitionInfo(topic, partition, list(replicas)))
    pinfo.replicas = list(replicas)
    if state is not None:
        pinfo.state, pinfo.state_version = state, version
    return pinfo


def state(leader: int, epoch: int, isr: list[int] | tuple[int, ...], controller_epoch: int = 1) -> md.PartitionState:
    return md.PartitionState(leader=leader, leader_epoch=epoch, isr=tuple(isr), controller_epoch=controller_epoch)


async def settle() -> None:
    """Let callbacks handed to the event loop (watch notifications) run."""
    for _ in range(5):
        await asyncio.sleep(0)


class RecordingFetchers:
    """The replica manager's follower hook, recording calls: ``("follow" | "unfollow", topic, index, leader)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, int]] = []

    def follow(self, partition: Partition) -> None:
        self.calls.append(("follow", partition.topic, partition.index, partition.leader_id))

    def unfollow(self, partition: Partition) -> None:
        self.calls.append(("unfollow", partition.topic, partition.index, partition.leader_id))

    def following(self) -> dict[tuple[str, int], int]:
        """Who each partition follows, replaying the calls."""
        out: dict[tuple[str, int], int] = {}
        for call, topic, index, leader in self.calls:
            if call == "follow":
                out[(topic, index)] = leader
            else:
                out.pop((topic, index), None)
        return out


# --- a leader on the other end of a fetcher's connection ----------------------------------------------------


Answer = dict[str, Any] | Exception | Callable[[dict[str, Any]], dict[str, Any]]
"""A scripted answer: a response body, an exception to raise, or a function of the request body."""


class LeaderLink:
    """Connections toward one leader broker, in process; see the module docstring."""

    def __init__(self, replicas: ReplicaManager | None = None) -> None:
        self.replicas = replicas
        self.scripted: dict[int, deque[Answer]] = {}
        self.requests: list[tuple[int, dict[str, Any]]] = []
        """Every request as the leader decoded it: ``(api key, body)``."""
        self.connects = 0
        self.closes = 0
        self.refuse = False
        """While True, connecting fails."""

    def script(self, api_key: int, *answers: Answer) -> None:
        """Answer the next requests of ``api_key`` with these, in order, instead of the leader's handlers."""
        self.scripted.setdefault(api_key, deque()).extend(answers)

    def connect(self, _registration: md.BrokerRegistration, _config: BrokerConfig) -> FakeLeaderConnection:
        if self.refuse:
            raise ConnectionRefusedError("leader unreachable")
        self.connects += 1
        return FakeLeaderConnection(self)

    def requests_of(self, api_key: int) -> list[dict[str, Any]]:
        return [body for key, body in self.requests if key == api_key]


class FakeLeaderConnection:
    def __init__(self, link: LeaderLink) -> None:
        self.link = link
        self.closed = False
        self._ids = 0

    async def request(self, api_key: int, version: int, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        await asyncio.sleep(0)  # a network round trip always lets the event loop run
        if self.closed:
            raise ConnectionError("connection closed")
        self._ids += 1
        frame = encode_request(api_key, version, self._ids, "replica-fetcher", body)[4:]
        header, offset = decode_request_header(frame)
        request = decode_request(header, frame, offset, strict=True)
        self.link.requests.append((api_key, request))
        queued = self.link.scripted.get(api_key)
        if queued:
            answer = queued.popleft()
            if isinstance(answer, Exception):
                self.close()
                raise answer
            response = answer(request) if callable(answer) else answer
        else:
            assert self.link.replicas is not None, "no leader and nothing scripted"
            ctx = RequestContext(header=header, services=SimpleNamespace(replicas=self.link.replicas,
                                                                             quotas=ClientQuotas(), leader_quota=None,
                                                                             authorizer=None))
            handler = {ApiKey.FETCH: fetch_handler.handle, ApiKey.OFFSET_FOR_LEADER_EPOCH: epoch_handler.handle}
            response = await handler[ApiKey(api_key)](request, ctx)
        chunks = encode_response(header, response)
        wire = b"".join(c.read() if isinstance(c, FileSlice) else bytes(c) for c in chunks)
        got_id, decoded = decode_response(api_key, version, wire[4:])
        assert got_id == self._ids
        return decoded

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.closes += 1


# --- brokers on a fake ensemble --------------------------------------------------------------------------


@dataclass
class Node:
    """One broker's replication stack, as :class:`kafka_broker.broker.Broker` wires it."""

    config: BrokerConfig
    zk: FakeKazooClient
    cache: MetadataCache
    store: ZkStore
    logs: LogManager
    replicas: ReplicaManager
    fetchers: ReplicaFetcherManager
    controller: Controller
    watcher: ZkWatcher
    session: SessionKeeper
    fatal: list[BaseException] = field(default_factory=list)
    """What the session keeper handed to ``on_fatal`` (the broker would stop with a non-zero exit)."""

    @property
    def broker_id(self) -> int:
        return self.config.broker_id

    @property
    def registration_owner(self) -> int | None:
        """The session owning ``/brokers/ids/<id>``, if it exists."""
        node = self.zk.server.nodes.get(md.broker_path(self.broker_id))
        return None if node is None else node.ephemeral_owner

    def partition(self, topic: str, index: int = 0) -> Partition:
        part = self.replicas.get(topic, index)
        assert part is not None, f"broker {self.broker_id} hosts no {topic}-{index}"
        return part


class FakeCluster:
    """Brokers sharing one :class:`FakeZooKeeper`; fetchers reach leaders through :class:`LeaderLink` s.

    Nothing runs in the background: tests move things along with :meth:`sync` (watch notifications
    land, replica managers apply them), :meth:`fetch_round` (every fetcher fetches once) and the
    controller's :meth:`Controller.run_pass`.
    """

    def __init__(self, root: Path, *, clock: Clock | None = None, **overrides: str) -> None:
        self.root = root
        self.zk = FakeZooKeeper()
        self.clock = clock or Clock()
        self.overrides = overrides
        self.nodes: dict[int, Node] = {}
        self.links: dict[int, LeaderLink] = {}
        ZkStore(self.zk.client()).ensure_layout_sync()

    def link(self, broker_id: int) -> LeaderLink:
        if broker_id not in self.links:
            node = self.nodes.get(broker_id)
            self.links[broker_id] = LeaderLink(node.replicas if node is not None else None)
        return self.links[broker_id]

    async def add_broker(self, broker_id: int, *, register: bool = True) -> Node:
        config = broker_config(broker_id, self.root / f"broker-{broker_id}", **self.overrides)
        client = self.zk.client()
        cache = MetadataCache()
        store = ZkStore(client)
        logs = LogManager(list(config.log_dirs), LogConfig.from_kafka(config.topic_defaults))
        logs.load_all()  # a broker started again finds its logs
        replicas = ReplicaManager(config, cache, logs, store, clock=self.clock)

        def connect(registration: md.BrokerRegistration, cfg: BrokerConfig) -> FakeLeaderConnection:
            return self.link(registration.broker_id).connect(registration, cfg)

        fetchers = ReplicaFetcherManager(config, cache, connect=connect, background=False)
        replicas.fetchers = fetchers
        cache.on_topic_change(replicas.metadata_changed)
        controller = Controller(config, cache, store)
        fatal: list[BaseException] = []
        session = SessionKeeper(client, store=store, registration=md.BrokerRegistration(broker_id, "127.0.0.1",
                                                                                          9090 + broker_id),
                                replicas=replicas, controller=controller, stale_wait_s=0, retry_backoff_s=0.01,
                                on_fatal=fatal.append)
        session.attach(asyncio.get_running_loop())
        watcher = ZkWatcher(client, cache, asyncio.get_running_loop())
        watcher.start()
        node = Node(config, client, cache, store, logs, replicas, fetchers, controller, watcher, session, fatal)
        self.nodes[broker_id] = node
        if broker_id in self.links:
            self.links[broker_id].replicas = replicas
        await settle()
        replicas.reconcile_all(starting=True)
        replicas.delete_stray_logs()
        if register:
            await session.register()
            await settle()
        return node

    async def create_topic(self, topic: str, assignment: dict[int, list[int]],
                           config: dict[str, str] | None = None) -> None:
        """Write the topic as an admin tool would; a controller pass must elect its leaders."""
        first = next(iter(self.nodes.values()))
        await first.store.create_topic(topic, md.TopicAssignment(assignment, topic_id=md.new_topic_id()),
                                       config or {})
        await self.sync()

    async def sync(self) -> None:
        """Let ISR writes in flight and watch notifications land, every replica manager apply them, and the
        acknowledgements of deletions they make land too."""
        for node in self.nodes.values():
            await node.replicas.expansions_done()
        await settle()
        for node in self.nodes.values():
            node.replicas.apply_pending()
        await settle()
        for node in self.nodes.values():
            await node.replicas.deletions_acknowledged()
        await settle()

    @property
    def controller(self) -> Node:
        [node] = [n for n in self.nodes.values() if n.controller.active]
        return node

    async def controller_pass(self) -> None:
        """One pass of whichever broker is (or becomes) the controller, then :meth:`sync`."""
        for node in self.nodes.values():
            if node.controller.active or node.cache.controller_id == md.NO_LEADER:
                await node.controller.run_pass()
                if node.controller.active:
                    break
        await self.sync()

    async def fetch_round(self, *, rounds: int = 1) -> None:
        """Every follower's fetcher runs one round (truncate and fetch) per round, then :meth:`sync`."""
        for _ in range(rounds):
            for node in self.nodes.values():
                for fetcher in list(node.fetchers.fetchers.values()):
                    if fetcher.partitions:
                        await fetcher.run_once()
            await self.sync()

    async def expire(self, broker_id: int) -> Node:
        """Broker ``broker_id`` was paused past its session timeout: ZooKeeper expires its session (its
        registration and any ``/controller`` go) and, as it resumes, kazoo tells it the session is lost."""
        node = self.nodes[broker_id]
        self.zk.expire(node.zk)
        await self.sync()
        return node

    async def resume(self, broker_id: int, *, timeout_s: float = 5.0) -> Node:
        """kazoo connects broker ``broker_id`` with a new session; returns once it has rejoined (its keeper
        says so), the watch notifications of the new session landed and every replica manager applied them."""
        node = self.nodes[broker_id]
        self.zk.new_session(node.zk)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while node.session.lost:
            assert not node.fatal, node.fatal
            assert asyncio.get_running_loop().time() < deadline, f"broker {broker_id} did not rejoin"
            await asyncio.sleep(0.001)
        await self.sync()
        return node

    async def stop_broker(self, broker_id: int) -> Node:
        """The broker dies: its session expires (registration gone), its fetchers and watches stop."""
        node = self.nodes.pop(broker_id)
        node.session.close()
        node.watcher.stop()
        node.fetchers.stop_all()
        self.zk.expire(node.zk)
        link = self.links.get(broker_id)
        if link is not None:
            link.refuse = True
        await self.sync()
        return node

    def close(self) -> None:
        for node in self.nodes.values():
            node.session.close()
            node.watcher.stop()
            node.fetchers.stop_all()
            node.logs.close_all()
