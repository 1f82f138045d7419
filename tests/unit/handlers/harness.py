"""A broker without ZooKeeper or sockets, for calling request handlers directly.

The handlers get the broker's real parts — config (``build_config``), metadata cache, log manager
and partition logs on a temporary directory, replica manager, topic admin — and only ZooKeeper is
faked: :class:`FakeStore` keeps topics, configs and partition states in memory and applies a change
to the metadata cache at once, the way the controller and the broker's own watches would (a created
topic has its leaders elected, the first replica leading with the full ISR).

:meth:`Broker.call` encodes nothing: it runs the handler, checks the response dict's shape against
the API's declaration (:mod:`tests.unit.handlers.shape`) and, for a round trip, encodes and decodes
it at the requested version, so a field the wire cannot carry would fail too. :meth:`Broker.send`
also puts the request through the wire codec first, so the handler sees exactly what the broker's
decoder would give it.

:meth:`Broker.start_groups` runs a real group coordinator on a local ``__consumer_offsets``, and
:meth:`Broker.start_producer_ids` a real producer id manager over an in-memory ZooKeeper.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from cluster.fakes import FakeZooKeeper

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.config import build_config
from kafka_broker.coordinator.group_coordinator import OFFSETS_TOPIC, GroupCoordinator
from kafka_broker.coordinator.producer_ids import BLOCK_SIZE, ProducerIdManager
from kafka_broker.handlers.context import BrokerServices, RequestContext
from kafka_broker.protocol import (
    FileSlice,
    RequestHeader,
    decode_request,
    decode_request_header,
    decode_response,
    encode_request,
    encode_response,
)
from kafka_broker.security.principal import ANONYMOUS
from kafka_broker.storage.log_config import LogConfig
from kafka_broker.storage.log_manager import LogManager

from .shape import assert_response_shape


@dataclass
class FakeStore:
    """The ZooKeeper store, in memory; every write is applied to ``cache`` immediately."""

    cache: MetadataCache
    assignments: dict[str, md.TopicAssignment] = field(default_factory=dict)
    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    state_writes: list[tuple[str, int, md.PartitionState]] = field(default_factory=list)
    deletion_acks: list[tuple[str, int]] = field(default_factory=list)
    """Brokers' acknowledgements of topics marked for deletion: ``(topic, broker id)``."""
    controller_epoch: int = 1
    delete_at_once: bool = True
    """Whether a topic marked for deletion is deleted at once (else it stays, as with a stalled controller)."""

    def add_topic(self, name: str, assignment: Mapping[int, list[int]], config: Mapping[str, str] | None = None,
                  *, leaders: bool = True) -> None:
        """A topic as the controller leaves it: first replica leading, every replica in the ISR."""
        topic = md.TopicAssignment(partitions={p: list(r) for p, r in assignment.items()},
                                   topic_id=md.new_topic_id())
        self.assignments[name] = topic
        self.configs[name] = dict(config or {})
        info = TopicInfo(name, topic.topic_id, config=dict(config or {}))
        for partition, replicas in topic.partitions.items():
            pinfo = info.partitions[partition] = PartitionInfo(name, partition, list(replicas), None, 0)
            if leaders:
                pinfo.state = self.state_for(pinfo)
        self.cache.topics[name] = info
        self.cache.notify_topic(name, None)

    def state_for(self, info: PartitionInfo) -> md.PartitionState:
        """The state the controller writes for a new partition: first replica leads, all in the ISR."""
        return md.PartitionState(info.replicas[0], 0, tuple(info.replicas), self.controller_epoch)

    # --- what TopicAdmin and the replica manager call ------------------------------------------

    async def create_topic(self, topic: str, assignment: md.TopicAssignment, config: Mapping[str, str]) -> bool:
        if topic in self.assignments or await self.is_marked_for_deletion(topic):
            return False
        self.add_topic(topic, assignment.partitions, config)
        return True

    async def read_topic_assignment(self, topic: str) -> tuple[md.TopicAssignment, int] | None:
        assignment = self.assignments.get(topic)
        return None if assignment is None else (assignment, 0)

    async def write_topic_assignment(self, topic: str, assignment: md.TopicAssignment, version: int) -> bool:
        self.add_topic(topic, assignment.partitions, self.configs.get(topic))
        return True

    async def read_topic_config(self, topic: str) -> tuple[dict[str, str], int]:
        return dict(self.configs.get(topic, {})), 0

    async def set_topic_config(self, topic: str, config: Mapping[str, str], *, version: int | None = None) -> bool:
        self.configs[topic] = dict(config)
        self.cache.topics[topic].config = dict(config)
        self.cache.notify_topic(topic, None)
        return True

    async def mark_topic_for_deletion(self, topic: str) -> None:
        """The controller deletes a marked topic: it leaves the cache (and the brokers drop its logs)."""
        self.deleted.append(topic)
        if self.delete_at_once:
            self.assignments.pop(topic, None)
            self.configs.pop(topic, None)
            self.cache.topics.pop(topic, None)
            self.cache.notify_topic(topic, None)

    async def is_marked_for_deletion(self, topic: str) -> bool:
        """Marked and not deleted yet (a stalled controller leaves it so)."""
        return topic in self.deleted and topic in self.assignments

    async def acknowledge_deletion(self, topic: str, broker_id: int) -> None:
        self.deletion_acks.append((topic, broker_id))

    async def write_partition_state(self, topic: str, partition: int, state: md.PartitionState,
                                    version: int) -> int | None:
        self.state_writes.append((topic, partition, state))
        info = self.cache.partition(topic, partition)
        if info is None or info.state_version != version:
            return None
        info.state, info.state_version = state, version + 1
        return version + 1


class Broker:
    """Broker ``broker_id`` of a cluster of ``brokers``, with handlers callable directly."""

    def __init__(self, data: Path, *, broker_id: int = 1, brokers: int = 3, **props: str) -> None:
        self.config = build_config({"broker.id": str(broker_id), "zookeeper.connect": "zk.invalid:2181",
                                    "log.dirs": str(data), "listeners": f"PLAINTEXT://127.0.0.1:{9091 + broker_id}",
                                    **props})
        self.cache = MetadataCache()
        self.cache.cluster_id = "kopfka-unit-test"
        for b in range(1, brokers + 1):
            self.cache.brokers[b] = md.BrokerRegistration(b, "127.0.0.1", 9091 + b)
        self.cache.controller_id = 1
        self.store = FakeStore(self.cache)
        self.logs = LogManager([data], LogConfig.from_kafka(self.config.topic_defaults))
        self.replicas = ReplicaManager(self.config, self.cache, self.logs, self.store)
        self.cache.on_topic_change(self._metadata_changed)
        self.admin = TopicAdmin(self.store, self.cache, default_partitions=self.config.num_partitions,
                                default_replication_factor=self.config.replication.default_replication_factor)
        self.principal = ANONYMOUS
        """The principal of the requests :meth:`call` and :meth:`send` make (from ``127.0.0.1``)."""
        self.last_decoded: dict[str, Any] = {}
        """The last response as a client would decode it (set by :meth:`call` with ``round_trip``)."""
        self.services = BrokerServices(config=self.config, cache=self.cache, replicas=self.replicas,
                                       admin=self.admin, store=self.store)

    def _metadata_changed(self, topic: str, partition: int | None) -> None:
        """The replica manager applies a change at once (the broker does it in its reconcile task)."""
        self.replicas.metadata_changed(topic, partition)
        self.replicas.apply_pending()

    def add_topic(self, name: str, assignment: Mapping[int, list[int]], config: Mapping[str, str] | None = None,
                  *, leaders: bool = True) -> None:
        self.store.add_topic(name, assignment, config, leaders=leaders)

    def partition(self, topic: str, index: int) -> Any:
        return self.replicas.partitions[(topic, index)]

    async def call(self, handler: ModuleType, version: int, request: dict[str, Any], *,
                   round_trip: bool = True) -> dict[str, Any] | None:
        """Run ``handler`` on ``request`` at ``version``; check and return its response."""
        header = RequestHeader(int(handler.API), version, 7, "unit-test")
        ctx = RequestContext(header=header, services=self.services, peer="127.0.0.1:50000", principal=self.principal)
        response: dict[str, Any] | None = await handler.handle(request, ctx)
        if response is None:
            return None
        assert_response_shape(handler.API, version, response)
        if round_trip:
            chunks = encode_response(header, response)
            wire = b"".join(c.read() if isinstance(c, FileSlice) else bytes(c) for c in chunks)
            assert int.from_bytes(wire[:4], "big") == len(wire) - 4
            correlation_id, self.last_decoded = decode_response(int(handler.API), version, wire[4:])
            assert correlation_id == 7
        return response

    async def send(self, handler: ModuleType, version: int, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """As :meth:`call`, but ``request`` is first encoded as a client sends it at ``version`` and decoded
        as the broker does: the handler gets the fields of other versions at their defaults, bytes as views."""
        frame = encode_request(int(handler.API), version, 7, "unit-test", request)[4:]
        header, body_offset = decode_request_header(frame)
        return await self.call(handler, version, decode_request(header, frame, body_offset))

    def close(self) -> None:
        self.logs.close_all()

    # --- coordinators ---------------------------------------------------------------------------------

    async def start_groups(self, assignment: Mapping[int, list[int]] | None = None, *, create_topic: bool = True,
                           loaded: bool = True) -> GroupCoordinator:
        """A real group coordinator as ``services.groups``, on ``__consumer_offsets`` laid out as ``assignment``.

        By default the topic has one partition, led by this broker alone (so its writes commit at once).
        Settings are small: offsets.topic.num.partitions is the number of partitions given and
        group.initial.rebalance.delay.ms 0, so a join phase ends as soon as every member has joined.
        Without ``create_topic`` the topic is left for FindCoordinator to create. With ``loaded`` this
        returns once the partitions led here are loaded (else they are still loading). The timer task
        (:meth:`GroupCoordinator.run`) is not started: tests call its ``_tick`` with the time they want.
        """
        assignment = {0: [self.config.broker_id]} if assignment is None else assignment
        settings = replace(self.config.groups, offsets_topic_num_partitions=max(len(assignment), 1),
                           group_initial_rebalance_delay_ms=0)
        coordinator = GroupCoordinator(broker_id=self.config.broker_id, settings=settings, cache=self.cache,
                                       replicas=self.replicas, admin=self.admin)
        self.services.groups = coordinator
        coordinator.start()
        if create_topic:
            self.add_topic(OFFSETS_TOPIC, assignment, {"cleanup.policy": "compact"})
        if loaded:
            await self.groups_loaded()
        return coordinator

    async def groups_loaded(self, *, timeout_s: float = 5.0) -> None:
        """Wait until the group coordinator owns every ``__consumer_offsets`` partition led here."""
        coordinator = self.services.groups
        assert coordinator is not None

        def settled() -> bool:
            led = {p.index for p in self.replicas.leaders() if p.topic == OFFSETS_TOPIC}
            return not coordinator.loading and led <= set(coordinator.owned)

        async with asyncio.timeout(timeout_s):
            while not settled():
                await asyncio.sleep(0.001)

    async def stop_groups(self) -> None:
        """Let the group coordinator's own tasks (loads, group metadata writes) finish; cancel what does not."""
        coordinator = self.services.groups
        if coordinator is None:
            return
        tasks = set(coordinator._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=5.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def start_producer_ids(self, *, block_size: int = BLOCK_SIZE) -> ProducerIdManager:
        """A real producer id manager as ``services.producer_ids``, reserving blocks in :attr:`zk` (in memory)."""
        self.zk_server = FakeZooKeeper()
        self.zk = self.zk_server.client()
        manager = ProducerIdManager(self.zk, self.config.broker_id, block_size=block_size)  # type: ignore[arg-type]
        self.services.producer_ids = manager
        return manager
