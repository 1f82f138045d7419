"""Writes to ZooKeeper, as coroutines: kazoo's blocking calls run in a worker thread.

Reads come through the watches of :mod:`zk_watcher`; everything the broker and the controller
write goes through here, using the formats of :mod:`kafka_broker.metadata`. Writes that must not
overwrite a concurrent change (partition state, topic assignment) are conditional on the znode
version and report a lost race by returning ``None``.

**Controller fencing.** The controller's writes carry a :class:`ControllerEpoch` (``fence=``): each is
one ZooKeeper transaction that also checks that ``/controller_epoch`` still has the version this broker's
election left it at, as Kafka's ``KafkaZkClient`` does with a ``CheckOp`` in a multi-op. A controller
that lost its ZooKeeper session (paused, partitioned) while another broker was elected — which bumped
the epoch — has every later write refused, with :class:`ControllerMovedError`, even if its view of a
partition's version happens to be current. The election itself is one transaction too: create the
ephemeral ``/controller`` and bump ``/controller_epoch`` conditionally on its version, so there is no
moment where a controller is registered under the previous epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError

from kafka_broker import metadata as md

T = TypeVar("T")


class ZnodeStat(Protocol):
    """The fields of kazoo's ``ZnodeStat`` the store reads."""

    @property
    def version(self) -> int: ...

    @property
    def czxid(self) -> int: ...

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

    def transaction(self) -> ZkTransaction: ...


class ZkTransaction(Protocol):
    """The calls of kazoo's ``TransactionRequest`` (a multi-op) the store makes. ``commit`` answers one result
    per operation: on success a path (create), ``True`` (delete, check) or a stat (set_data); when any
    operation failed, the failing one's exception and a rolled-back marker for the others, nothing applied."""

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False) -> None: ...

    def delete(self, path: str, version: int = -1) -> None: ...

    def set_data(self, path: str, value: bytes, version: int = -1) -> None: ...

    def check(self, path: str, version: int) -> None: ...

    def commit(self) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class ControllerEpoch:
    """The controllership this broker won: the epoch it wrote to ``/controller_epoch``, and that znode's
    version right after, which every write of this controllership checks (see the module docstring)."""

    epoch: int
    zk_version: int


class BrokerIdTakenError(RuntimeError):
    """Another live process holds this broker's registration: this one must not run."""


class ControllerMovedError(Exception):
    """A controller write was refused: ``/controller_epoch`` moved on, another broker is the controller."""


DELETE_RETRIES = 5
"""Attempts at a fenced recursive delete whose subtree changed between listing and deleting it."""
CREATE_ATTEMPTS = 5
"""Attempts at a topic creation whose leftover config znode changed between reading and writing it."""


class ZkStore:
    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _commit_fenced(self, fence: ControllerEpoch, ops: Callable[[ZkTransaction], None]) -> list[Any]:
        """Run ``ops`` in one transaction behind a check of ``/controller_epoch``'s version; the results of
        ``ops`` (exceptions for a failed transaction). Raises :class:`ControllerMovedError` if the check failed."""
        tx = self.zk.transaction()
        tx.check(md.CONTROLLER_EPOCH_PATH, fence.zk_version)
        ops(tx)
        check, *results = tx.commit()
        if isinstance(check, (BadVersionError, NoNodeError)):
            raise ControllerMovedError(
                f"/controller_epoch is no longer at version {fence.zk_version} (epoch {fence.epoch}): "
                "another broker is the controller"
            )
        return results

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
                raise BrokerIdTakenError(
                    f"broker id {registration.broker_id} is registered by another live process "
                    f"(its ZooKeeper session did not expire within {stale_wait_s:.0f} s)"
                )
            await asyncio.sleep(0.25)

    # --- partition state ---------------------------------------------------------------------------

    async def write_partition_state(
        self, topic: str, partition: int, state: md.PartitionState, version: int, *,
        fence: ControllerEpoch | None = None,
    ) -> int | None:
        """Write the state if the znode is still at ``version``; the new version, or None after a lost race.
        With ``fence`` (the controller's writes) also only while that controllership stands."""
        path = md.partition_state_path(topic, partition)

        def write() -> int | None:
            if fence is not None:
                (result,) = self._commit_fenced(fence, lambda tx: tx.set_data(path, state.encode(), version))
                return None if isinstance(result, Exception) else int(result.version)
            try:
                return self.zk.set(path, state.encode(), version=version).version
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

    async def create_partition_state(self, topic: str, partition: int, state: md.PartitionState, *,
                                     fence: ControllerEpoch | None = None) -> int | None:
        """Create the state znode (version 0); None if it exists or its topic is gone."""
        path = md.partition_state_path(topic, partition)

        def create() -> int | None:
            if fence is not None:
                # the parents in the same transaction: never recreate the znode of a topic deleted meanwhile
                partition_path = path.rsplit("/", 1)[0]
                missing = [p for p in (partition_path.rsplit("/", 1)[0], partition_path) if self.zk.exists(p) is None]

                def ops(tx: ZkTransaction) -> None:
                    for parent in missing:
                        tx.create(parent)
                    tx.create(path, state.encode())

                results = self._commit_fenced(fence, ops)
                return None if any(isinstance(r, Exception) for r in results) else 0
            try:
                self.zk.create(path, state.encode(), makepath=True)
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
        """Write config and assignment in one transaction; False if the topic exists or is marked for deletion
        (a deletion request left for the name would have the controller delete the new topic).

        One transaction, so a creation that loses to another (clients creating the same name at once) leaves
        the winner's config as it wrote it, and no config is left without its topic. A config znode already
        there without a topic (a tool's) is written over, conditionally on its version: if it changes or goes
        meanwhile, the creation is tried again."""
        path, config_path = md.topic_path(topic), md.topic_config_path(topic)
        data = md.encode_topic_config(config)

        def create() -> bool:
            self.zk.ensure_path(md.CONFIG_TOPICS_PATH)
            self.zk.ensure_path(md.BROKER_TOPICS_PATH)
            for _ in range(CREATE_ATTEMPTS):
                if self.zk.exists(path) or self.zk.exists(md.delete_topic_path(topic)):
                    return False
                left = self.zk.exists(config_path)
                tx = self.zk.transaction()
                if left is None:
                    tx.create(config_path, data)
                else:
                    tx.set_data(config_path, data, left.version)
                tx.create(path, assignment.encode())
                if not any(isinstance(result, Exception) for result in tx.commit()):
                    return True
            return False

        return await self._run(create)

    async def topic_czxid(self, topic: str) -> int | None:
        """The creation zxid of the topic's znode (which life of the name exists); None if it does not."""
        return await self._czxid(md.topic_path(topic))

    async def deletion_request_czxid(self, topic: str) -> int | None:
        """The creation zxid of the topic's deletion request; None if there is none."""
        return await self._czxid(md.delete_topic_path(topic))

    async def _czxid(self, path: str) -> int | None:
        def read() -> int | None:
            stat = self.zk.exists(path)
            return None if stat is None else stat.czxid

        return await self._run(read)

    async def read_topic_assignment(self, topic: str) -> tuple[md.TopicAssignment, int] | None:
        def read() -> tuple[md.TopicAssignment, int] | None:
            try:
                data, stat = self.zk.get(md.topic_path(topic))
            except NoNodeError:
                return None
            return md.TopicAssignment.decode(data), stat.version

        return await self._run(read)

    async def write_topic_assignment(self, topic: str, assignment: md.TopicAssignment, version: int, *,
                                     fence: ControllerEpoch | None = None) -> bool:
        def write() -> bool:
            if fence is not None:
                path = md.topic_path(topic)
                (result,) = self._commit_fenced(fence, lambda tx: tx.set_data(path, assignment.encode(), version))
                return not isinstance(result, Exception)
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
        """Request the topic's deletion. A request already there stands for it — unless it is older than the
        topic (made for an earlier topic of the name): that one is replaced, or this request would be lost
        with it (see :mod:`kafka_broker.cluster.zk_watcher`)."""
        path = md.delete_topic_path(topic)

        def mark() -> None:
            for _ in range(DELETE_RETRIES):
                try:
                    self.zk.create(path, b"", makepath=True)
                    return
                except NodeExistsError:
                    pass
                request, existing = self.zk.exists(path), self.zk.exists(md.topic_path(topic))
                if request is not None and (existing is None or request.czxid > existing.czxid):
                    return
                with contextlib.suppress(NoNodeError):
                    self.zk.delete(path, recursive=True)

        await self._run(mark)

    async def is_marked_for_deletion(self, topic: str) -> bool:
        return await self._run(lambda: self.zk.exists(md.delete_topic_path(topic)) is not None)

    async def acknowledge_deletion(self, topic: str, broker_id: int) -> None:
        """Record under the topic's deletion request that ``broker_id`` holds nothing of it. Nothing to do if the
        request is gone (the deletion is done): the request itself is never created again here."""

        def create() -> None:
            with contextlib.suppress(NodeExistsError, NoNodeError):
                self.zk.create(md.deletion_ack_path(topic, broker_id), b"")

        await self._run(create)

    async def deletion_acknowledgements(self, topic: str) -> set[int]:
        """The brokers that acknowledged the topic's deletion request (none if there is no request)."""
        return {int(c) for c in await self.read_children(md.delete_topic_path(topic)) if c.isdigit()}

    async def delete_tree(self, path: str, *, fence: ControllerEpoch) -> None:
        """Remove ``path`` and everything below it, in one fenced transaction."""
        await self._run(self._delete_fenced, (path,), fence)

    async def delete_topic(self, topic: str, *, fence: ControllerEpoch | None = None) -> None:
        """Remove every znode of a topic, then its deletion request (with ``fence``: all in one transaction)."""
        roots = (md.topic_path(topic), md.topic_config_path(topic), md.delete_topic_path(topic))

        def delete() -> None:
            if fence is not None:
                self._delete_fenced(roots, fence)
                return
            for path in roots:
                with contextlib.suppress(NoNodeError):
                    self.zk.delete(path, recursive=True)

        await self._run(delete)

    def _subtree(self, path: str) -> list[str]:
        """``path`` and every znode below it, children before their parents; empty if it does not exist."""
        try:
            children = self.zk.get_children(path)
        except NoNodeError:
            return []
        out: list[str] = []
        for child in children:
            out.extend(self._subtree(f"{path}/{child}"))
        out.append(path)
        return out

    def _delete_fenced(self, roots: Iterable[str], fence: ControllerEpoch) -> None:
        """Delete the subtrees at ``roots`` in one fenced transaction (Kafka deletes recursively behind the
        same check); listed again if they changed between listing and deleting."""
        for _ in range(DELETE_RETRIES):
            paths = [p for root in roots for p in self._subtree(root)]
            if not paths:
                return

            def ops(tx: ZkTransaction, paths: list[str] = paths) -> None:
                for path in paths:
                    tx.delete(path)

            results = self._commit_fenced(fence, ops)
            if not any(isinstance(r, (NoNodeError, NotEmptyError)) for r in results):
                return
        raise RuntimeError(f"could not delete {list(roots)}: they kept changing")

    # --- controller ----------------------------------------------------------------------------------

    async def try_become_controller(self, broker_id: int) -> ControllerEpoch | None:
        """Become the controller if ``/controller`` is free: create it (ephemeral) and bump
        ``/controller_epoch`` in one transaction (Kafka's ``registerControllerAndIncrementControllerEpoch``).
        None if another broker holds it."""

        def elect() -> ControllerEpoch | None:
            while True:
                try:
                    data, stat = self.zk.get(md.CONTROLLER_EPOCH_PATH)
                    epoch, version = md.decode_controller_epoch(data) + 1, stat.version
                except NoNodeError:
                    epoch, version = 1, -1
                tx = self.zk.transaction()
                tx.create(md.CONTROLLER_PATH, md.encode_controller(broker_id), ephemeral=True)
                if version < 0:
                    tx.create(md.CONTROLLER_EPOCH_PATH, md.encode_controller_epoch(epoch))
                else:
                    tx.set_data(md.CONTROLLER_EPOCH_PATH, md.encode_controller_epoch(epoch), version)
                created, bumped = tx.commit()
                if isinstance(created, NodeExistsError):
                    return None
                if isinstance(bumped, Exception):
                    continue  # another broker's election moved the epoch between our read and the transaction
                return ControllerEpoch(epoch, 0 if version < 0 else int(bumped.version))

        return await self._run(elect)

    async def controller_epoch(self) -> tuple[int, int] | None:
        """``/controller_epoch``'s epoch and znode version; None before the first election."""
        read = await self.read_data(md.CONTROLLER_EPOCH_PATH)
        return None if read is None else (md.decode_controller_epoch(read[0]), read[1])

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

    async def delete_path(self, path: str, version: int = -1, *, fence: ControllerEpoch | None = None) -> bool:
        def delete() -> bool:
            if fence is not None:
                (result,) = self._commit_fenced(fence, lambda tx: tx.delete(path, version))
                return not isinstance(result, Exception)
            try:
                self.zk.delete(path, version=version)
                return True
            except (NoNodeError, BadVersionError):
                return False

        return await self._run(delete)

    async def write_data(self, path: str, data: bytes, *, fence: ControllerEpoch | None = None) -> None:
        def write() -> None:
            if fence is not None:
                exists = self.zk.exists(path) is not None
                (result,) = self._commit_fenced(
                    fence, lambda tx: tx.set_data(path, data) if exists else tx.create(path, data))
                if isinstance(result, Exception):
                    raise result
                return
            try:
                self.zk.set(path, data)
            except NoNodeError:
                self.zk.create(path, data, makepath=True)

        await self._run(write)
