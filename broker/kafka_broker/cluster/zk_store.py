"""Writes to ZooKeeper, as coroutines: kazoo's blocking calls run in a worker thread.

Reads come through the watches of :mod:`zk_watcher`; everything the broker and the controller
write goes through here, using the formats of :mod:`kafka_broker.metadata`. Writes that must not
overwrite a concurrent change (partition state, topic assignment) are conditional on the znode
version and report a lost race by returning ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError

from kafka_broker import metadata as md

T = TypeVar("T")


def ensure_chroot(connect: str, *, timeout: float = 15.0, logger: Any = None) -> None:
    """Create the chroot of ``connect`` if it names one (as Kafka does): clients cannot use a missing chroot."""
    hosts, chroot = md.split_chroot(connect)
    if not chroot:
        return
    zk = KazooClient(hosts=hosts, timeout=timeout, **({"logger": logger} if logger is not None else {}))
    zk.start(timeout=timeout)
    try:
        zk.ensure_path(chroot)
    finally:
        zk.stop()
        zk.close()


class ZnodeStat(Protocol):
    """The fields of kazoo's ``ZnodeStat`` the store reads."""

    @property
    def version(self) -> int: ...

    @property
    def ephemeralOwner(self) -> int: ...  # kazoo's (and ZooKeeper's) spelling


class ZkClient(Protocol):
    """The calls of kazoo's ``KazooClient`` the store makes (kazoo is untyped; tests pass a fake)."""

    @property
    def client_id(self) -> tuple[int, bytes] | None: ...

    def ensure_path(self, path: str) -> object: ...

    def create(
        self, path: str, value: bytes = b"", *, ephemeral: bool = False, sequence: bool = False,
        makepath: bool = False,
    ) -> str: ...

    def get(self, path: str) -> tuple[bytes, ZnodeStat]: ...

    def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat: ...

    def exists(self, path: str) -> ZnodeStat | None: ...

    def get_children(self, path: str) -> list[str]: ...

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> object: ...


class ZkStore:
    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # --- start-up ----------------------------------------------------------------------------------

    def ensure_layout_sync(self) -> str:
        """Create the persistent paths and the cluster id if this is a new cluster; return the id."""
        for path in md.PERSISTENT_PATHS:
            self.zk.ensure_path(path)
        with contextlib.suppress(NodeExistsError):
            self.zk.create(md.CLUSTER_ID_PATH, md.encode_cluster_id(md.new_cluster_id()))
        data, _ = self.zk.get(md.CLUSTER_ID_PATH)
        cluster_id = md.decode_cluster_id(data)
        assert cluster_id is not None
        return cluster_id

    async def register_broker(self, registration: md.BrokerRegistration, *, stale_wait_s: float) -> None:
        """Create the ephemeral registration. A registration left by an earlier, killed run of this broker
        disappears when its ZooKeeper session expires: wait up to ``stale_wait_s`` for that, then give up."""
        path = md.broker_path(registration.broker_id)

        def register() -> bool:
            try:
                self.zk.create(path, registration.encode(), ephemeral=True)
                return True
            except NodeExistsError:
                try:
                    _data, stat = self.zk.get(path)
                except NoNodeError:
                    return False
                session = self.zk.client_id
                return session is not None and stat.ephemeralOwner == session[0]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + stale_wait_s
        while not await self._run(register):
            if loop.time() >= deadline:
                raise RuntimeError(
                    f"broker id {registration.broker_id} is registered by another live process "
                    f"(its ZooKeeper session did not expire within {stale_wait_s:.0f} s)"
                )
            await asyncio.sleep(0.25)

    # --- partition state ---------------------------------------------------------------------------

    async def write_partition_state(
        self, topic: str, partition: int, state: md.PartitionState, version: int
    ) -> int | None:
        def write() -> int | None:
            try:
                return self.zk.set(md.partition_state_path(topic, partition), state.encode(), version=version).version
            except (BadVersionError, NoNodeError):
                return None

        return await self._run(write)

    async def read_partition_state(self, topic: str, partition: int) -> tuple[md.PartitionState, int] | None:
        """The state znode and its version; None if there is none."""

        def read() -> tuple[md.PartitionState, int] | None:
            try:
                data, stat = self.zk.get(md.partition_state_path(topic, partition))
            except NoNodeError:
                return None
            return md.PartitionState.decode(data), stat.version

        return await self._run(read)

    async def create_partition_state(self, topic: str, partition: int, state: md.PartitionState) -> int | None:
        def create() -> int | None:
            try:
                self.zk.create(md.partition_state_path(topic, partition), state.encode(), makepath=True)
                return 0
            except NodeExistsError:
                return None
            except NoNodeError:
                return None

        return await self._run(create)

    async def notify_isr_change(self, partitions: list[tuple[str, int]]) -> None:
        await self._run(
            self.zk.create,
            f"{md.ISR_CHANGE_NOTIFICATION_PATH}/{md.ISR_CHANGE_PREFIX}",
            md.encode_partition_list(partitions),
            sequence=True,
            makepath=True,
        )

    # --- topics ------------------------------------------------------------------------------------

    async def create_topic(self, topic: str, assignment: md.TopicAssignment, config: Mapping[str, str]) -> bool:
        """Write config then assignment, as Kafka does; False if the topic exists."""

        def create() -> bool:
            if self.zk.exists(md.topic_path(topic)):
                return False
            self.zk.ensure_path(md.CONFIG_TOPICS_PATH)
            try:
                self.zk.create(md.topic_config_path(topic), md.encode_topic_config(config))
            except NodeExistsError:
                self.zk.set(md.topic_config_path(topic), md.encode_topic_config(config))
            try:
                self.zk.create(md.topic_path(topic), assignment.encode(), makepath=True)
            except NodeExistsError:
                return False
            return True

        return await self._run(create)

    async def read_topic_assignment(self, topic: str) -> tuple[md.TopicAssignment, int] | None:
        def read() -> tuple[md.TopicAssignment, int] | None:
            try:
                data, stat = self.zk.get(md.topic_path(topic))
            except NoNodeError:
                return None
            return md.TopicAssignment.decode(data), stat.version

        return await self._run(read)

    async def write_topic_assignment(self, topic: str, assignment: md.TopicAssignment, version: int) -> bool:
        def write() -> bool:
            try:
                self.zk.set(md.topic_path(topic), assignment.encode(), version=version)
                return True
            except (BadVersionError, NoNodeError):
                return False

        return await self._run(write)

    async def read_topic_config(self, topic: str) -> tuple[dict[str, str], int]:
        """The topic's stored overrides and the znode's version (-1: no znode yet)."""
        def read() -> tuple[dict[str, str], int]:
            try:
                data, stat = self.zk.get(md.topic_config_path(topic))
            except NoNodeError:
                return {}, -1
            return md.decode_topic_config(data), stat.version

        return await self._run(read)

    async def set_topic_config(self, topic: str, config: Mapping[str, str], *, version: int | None = None) -> bool:
        """Write the topic's overrides and a change notice. With ``version`` the write is conditional: on the
        znode still being at that version (-1: still absent); False when another writer came first."""
        def write() -> bool:
            path = md.topic_config_path(topic)
            data = md.encode_topic_config(config)
            try:
                if version == -1:
                    self.zk.create(path, data, makepath=True)
                else:
                    try:
                        self.zk.set(path, data, version=-1 if version is None else version)
                    except NoNodeError:
                        if version is not None:
                            return False
                        self.zk.create(path, data, makepath=True)
            except (BadVersionError, NodeExistsError):
                return False
            self.zk.create(
                f"{md.CONFIG_CHANGES_PATH}/{md.CONFIG_CHANGE_PREFIX}",
                md.encode_config_change(f"topics/{topic}"),
                sequence=True,
                makepath=True,
            )
            return True

        return await self._run(write)

    async def mark_topic_for_deletion(self, topic: str) -> None:
        def mark() -> None:
            with contextlib.suppress(NodeExistsError):
                self.zk.create(md.delete_topic_path(topic), b"", makepath=True)

        await self._run(mark)

    async def delete_topic(self, topic: str) -> None:
        """Remove every znode of a topic, then its deletion request."""

        def delete() -> None:
            for path in (md.topic_path(topic), md.topic_config_path(topic), md.delete_topic_path(topic)):
                with contextlib.suppress(NoNodeError):
                    self.zk.delete(path, recursive=True)

        await self._run(delete)

    # --- controller ----------------------------------------------------------------------------------

    async def try_become_controller(self, broker_id: int) -> bool:
        def create() -> bool:
            try:
                self.zk.create(md.CONTROLLER_PATH, md.encode_controller(broker_id), ephemeral=True)
                return True
            except NodeExistsError:
                return False

        return await self._run(create)

    async def increment_controller_epoch(self) -> int:
        def bump() -> int:
            while True:
                try:
                    data, stat = self.zk.get(md.CONTROLLER_EPOCH_PATH)
                except NoNodeError:
                    try:
                        self.zk.create(md.CONTROLLER_EPOCH_PATH, md.encode_controller_epoch(1))
                        return 1
                    except NodeExistsError:
                        continue
                epoch = md.decode_controller_epoch(data) + 1
                try:
                    self.zk.set(md.CONTROLLER_EPOCH_PATH, md.encode_controller_epoch(epoch), version=stat.version)
                    return epoch
                except BadVersionError:
                    continue

        return await self._run(bump)

    async def read_children(self, path: str) -> list[str]:
        def read() -> list[str]:
            try:
                return self.zk.get_children(path)
            except NoNodeError:
                return []

        return await self._run(read)

    async def read_data(self, path: str) -> tuple[bytes, int] | None:
        def read() -> tuple[bytes, int] | None:
            try:
                data, stat = self.zk.get(path)
                return data, stat.version
            except NoNodeError:
                return None

        return await self._run(read)

    async def delete_path(self, path: str, version: int = -1) -> bool:
        def delete() -> bool:
            try:
                self.zk.delete(path, version=version)
                return True
            except (NoNodeError, BadVersionError):
                return False

        return await self._run(delete)

    async def write_data(self, path: str, data: bytes) -> None:
        def write() -> None:
            try:
                self.zk.set(path, data)
            except NoNodeError:
                self.zk.create(path, data, makepath=True)

        await self._run(write)
