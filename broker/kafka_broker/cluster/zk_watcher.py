"""Keeps the :class:`MetadataCache` current by watching ZooKeeper.

kazoo delivers watch callbacks on its own thread; each callback only copies the znode's data
and hands it to the event loop with ``call_soon_threadsafe``, so the cache is touched by one
thread only and callbacks are applied in the order ZooKeeper sent them.

Watched: ``/brokers/ids`` (+ each registration), ``/brokers/topics`` (+ each topic's assignment
and each partition's state), ``/config/topics/<t>``, ``/admin/delete_topics`` (+ the brokers'
acknowledgements under each request, which wake the controller), ``/controller``, ``/cluster/id``.
A topic whose znode disappears is dropped from the cache with its partitions.

Watches fire once and the recipe then reads what is there *at that time*: a topic deleted and
created again before the watch thread gets round to it is never seen missing. Such a new life of a
topic is told apart by its znode's creation zxid (``czxid``, global and increasing, unlike versions,
which start again at 0): the old topic is dropped first, and a partition state is taken when it is
newer by ``(czxid, version)`` than the one held and not older than its topic's znode.

A deletion request is for the life of the topic that existed when it was made: a topic is marked for
deletion when a request for its name exists that is newer (by ``czxid``) than the topic's znode. So a
topic read after its request was (deleted and created again, then marked, faster than its watch) comes in
marked, and a topic created again after the controller deleted the old one with its request is never
marked by that request, whichever of the two watches reports first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.recipe.watchers import ChildrenWatch, DataWatch

from kafka_broker import metadata as md
from kafka_broker.cluster.metadata_cache import MetadataCache, PartitionInfo, TopicInfo
from kafka_broker.config import valid_stored_config

log = logging.getLogger(__name__)


class ZkWatcher:
    """Mirrors ZooKeeper's cluster metadata into a cache, on the event loop."""

    def __init__(self, zk: KazooClient, cache: MetadataCache, loop: asyncio.AbstractEventLoop) -> None:
        self._zk = zk
        self._cache = cache
        self._loop = loop
        self._watched_brokers: set[int] = set()
        self._watched_topics: set[str] = set()
        self._watched_partitions: set[tuple[str, int]] = set()
        self._seen_topic_czxid: dict[str, int] = {}
        """Watch thread: creation zxid of each topic znode as last read."""
        self._topic_czxid: dict[str, int] = {}
        """Event loop: creation zxid of the topic znode the cache holds."""
        self._states: dict[tuple[str, int], tuple[int, int, md.PartitionState]] = {}
        """Event loop: newest state read per partition, as ``(czxid, version, state)``."""
        self._state_czxid: dict[tuple[str, int], int] = {}
        """Event loop: creation zxid of the state znode whose state the cache holds."""
        self._deletion_requests: set[str] = set()
        """Watch thread: the topics named in ``/admin/delete_topics`` as last read."""
        self._request_watches: dict[str, int | None] = {}
        """Watch thread: the deletion requests whose znode is watched, with the czxid last read (None: absent)."""
        self._requests: dict[str, int] = {}
        """Event loop: the creation zxid of each deletion request (see the module docstring)."""
        self._stopped = False

    def _on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if not self._stopped and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def start(self) -> None:
        """Install the root watches; the callbacks install the rest as znodes appear."""
        ChildrenWatch(self._zk, md.BROKER_IDS_PATH, self._broker_ids_changed)
        ChildrenWatch(self._zk, md.BROKER_TOPICS_PATH, self._topics_changed)
        ChildrenWatch(self._zk, md.DELETE_TOPICS_PATH, self._deletions_changed)
        DataWatch(self._zk, md.CONTROLLER_PATH, self._controller_changed)
        DataWatch(self._zk, md.CLUSTER_ID_PATH, self._cluster_id_changed)
        DataWatch(self._zk, md.REASSIGN_PARTITIONS_PATH, self._reassignments_changed)
        DataWatch(self._zk, md.PREFERRED_REPLICA_ELECTION_PATH, self._preferred_changed)

    def stop(self) -> None:
        self._stopped = True

    # --- brokers ------------------------------------------------------------------------------

    def _broker_ids_changed(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        for child in children:
            broker_id = int(child)
            if broker_id not in self._watched_brokers:
                self._watched_brokers.add(broker_id)
                DataWatch(self._zk, md.broker_path(broker_id), self._make_broker_watch(broker_id))
        return True

    def _make_broker_watch(self, broker_id: int) -> Callable[[bytes | None, Any], bool]:
        def watch(data: bytes | None, _stat: Any) -> bool:
            # A registration that goes keeps its watch (on the znode's existence): when this broker's own
            # session was lost, the children watch of /brokers/ids may find the same ids again after the
            # new session and report nothing, while this watch saw the registration gone.
            registration = None if data is None else md.BrokerRegistration.decode(broker_id, data)
            self._on_loop(self._apply_broker, broker_id, registration)
            return not self._stopped

        return watch

    def _apply_broker(self, broker_id: int, registration: md.BrokerRegistration | None) -> None:
        if registration is None:
            self._cache.brokers.pop(broker_id, None)
        else:
            self._cache.brokers[broker_id] = registration
        self._cache.notify_brokers()

    # --- topics -------------------------------------------------------------------------------

    def _topics_changed(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        for topic in children:
            if topic not in self._watched_topics:
                self._watched_topics.add(topic)
                DataWatch(self._zk, md.topic_path(topic), self._make_topic_watch(topic))
                DataWatch(self._zk, md.topic_config_path(topic), self._make_config_watch(topic))
        return True

    def _make_topic_watch(self, topic: str) -> Callable[[bytes | None, Any], bool]:
        def watch(data: bytes | None, stat: Any) -> bool:
            if data is None:
                self._watched_topics.discard(topic)
                self._seen_topic_czxid.pop(topic, None)
                self._on_loop(self._apply_topic_deleted, topic, True)
                return False
            czxid: int = stat.czxid
            if self._seen_topic_czxid.get(topic, czxid) != czxid:
                self._on_loop(self._apply_topic_deleted, topic, False)  # deleted and created again meanwhile
            self._seen_topic_czxid[topic] = czxid
            assignment = md.TopicAssignment.decode(data)
            self._on_loop(self._apply_assignment, topic, assignment, czxid)
            for partition in assignment.partitions:
                key = (topic, partition)
                if key not in self._watched_partitions:
                    self._watched_partitions.add(key)
                    DataWatch(
                        self._zk,
                        md.partition_state_path(topic, partition),
                        self._make_state_watch(topic, partition),
                    )
            return not self._stopped

        return watch

    def _make_config_watch(self, topic: str) -> Callable[[bytes | None, Any], bool]:
        def watch(data: bytes | None, _stat: Any) -> bool:
            self._on_loop(self._apply_config, topic, md.decode_topic_config(data))
            return topic in self._watched_topics and not self._stopped

        return watch

    def _make_state_watch(self, topic: str, partition: int) -> Callable[[bytes | None, Any], bool]:
        def watch(data: bytes | None, stat: Any) -> bool:
            if data is None:
                if topic not in self._watched_topics:
                    self._watched_partitions.discard((topic, partition))
                    return False
                return not self._stopped  # not created yet: DataWatch keeps an exists-watch
            state = md.PartitionState.decode(data)
            self._on_loop(self._apply_state, topic, partition, state, stat.version, stat.czxid)
            return not self._stopped

        return watch

    def _apply_assignment(self, topic: str, assignment: md.TopicAssignment, czxid: int) -> None:
        self._topic_czxid[topic] = czxid
        info = self._cache.topics.get(topic)
        if info is None:
            info = self._cache.topics[topic] = TopicInfo(name=topic, topic_id=assignment.topic_id, czxid=czxid)
            info.marked_for_deletion = self._requests.get(topic, -1) > czxid
        info.topic_id = assignment.topic_id or info.topic_id
        for partition, replicas in assignment.partitions.items():
            existing = info.partitions.get(partition)
            if existing is None:
                info.partitions[partition] = PartitionInfo(topic, partition, list(replicas))
                self._take_state(topic, partition)  # read before its topic (after a re-creation)
            else:
                existing.replicas = list(replicas)
            part = info.partitions[partition]
            part.adding_replicas = list(assignment.adding_replicas.get(partition, ()))
            part.removing_replicas = list(assignment.removing_replicas.get(partition, ()))
        self._cache.notify_topic(topic, None)
        for partition in assignment.partitions:
            self._cache.notify_topic(topic, partition)

    def _apply_state(self, topic: str, partition: int, state: md.PartitionState, version: int, czxid: int) -> None:
        key = (topic, partition)
        newest = self._states.get(key)
        if newest is None or (czxid, version) >= newest[:2]:
            self._states[key] = (czxid, version, state)
        if self._take_state(topic, partition):
            self._cache.notify_topic(topic, partition)

    def _take_state(self, topic: str, partition: int) -> bool:
        """Put the newest state read for a partition into the cache, unless the cache holds a newer one
        (a local conditional write that landed first) or it belongs to an earlier life of the topic."""
        key = (topic, partition)
        part = self._cache.partition(topic, partition)
        newest = self._states.get(key)
        if part is None or newest is None:
            return False
        czxid, version, state = newest
        if czxid < self._topic_czxid.get(topic, -1):
            return False  # the state znode of a deleted topic
        held = self._state_czxid.get(key)
        if part.state is not None and held is not None and (czxid, version) < (held, part.state_version):
            return False  # an older notification overtaken by a newer read or write
        part.state, part.state_version = state, version
        self._state_czxid[key] = czxid
        return True

    def _apply_config(self, topic: str, stored: dict[str, str]) -> None:
        """A topic's overrides, as far as they are valid: a bad stored value is reported and left out."""
        config, errors = valid_stored_config(stored)
        for error in errors:
            log.error("topic %s: ignoring a stored config override (the broker default applies): %s", topic, error)
        info = self._cache.topics.get(topic)
        if info is not None:
            info.config = config
            self._cache.notify_topic(topic, None)

    def _apply_topic_deleted(self, topic: str, gone: bool) -> None:
        """Drop a topic; ``gone``: its znode is missing (not replaced by a new one, whose states may
        have been read already and are kept)."""
        info = self._cache.topics.pop(topic, None)
        self._topic_czxid.pop(topic, None)
        if info is not None:
            for partition in info.partitions:
                self._state_czxid.pop((topic, partition), None)
                if gone:
                    self._states.pop((topic, partition), None)
            self._cache.notify_topic(topic, None)

    # --- deletions, controller, cluster id ------------------------------------------------------

    def _deletions_changed(self, children: list[str]) -> bool:
        if self._stopped:
            return False
        self._deletion_requests = set(children)
        for topic in self._deletion_requests - set(self._request_watches):
            self._request_watches[topic] = None
            DataWatch(self._zk, md.delete_topic_path(topic), self._make_request_watch(topic))
        self._on_loop(self._apply_deletions, set(children))
        return True

    def _make_request_watch(self, topic: str) -> Callable[[bytes | None, Any], bool]:
        """A deletion request's znode: its czxid (which life of the topic it is for). Each new request also
        gets a watch of its children, the brokers' acknowledgements, which wake the controller. Once the
        request is gone the watch stays on the name (watching for its creation: one per name ever marked), so
        a request made again is seen even if the list of requests looked unchanged in between."""

        def watch(_data: bytes | None, stat: Any) -> bool:
            czxid = None if stat is None else int(stat.czxid)
            if czxid is not None and czxid != self._request_watches.get(topic):
                ChildrenWatch(self._zk, md.delete_topic_path(topic), self._acknowledgements_changed)
            self._request_watches[topic] = czxid
            self._on_loop(self._apply_request, topic, czxid)
            if self._stopped or (czxid is None and topic not in self._deletion_requests):
                del self._request_watches[topic]
                return False
            return True

        return watch

    def _acknowledgements_changed(self, _children: list[str]) -> bool:
        """A broker acknowledged a deletion: the controller may delete the topic now (it reads the
        acknowledgements from ZooKeeper itself). The watch ends with the request."""
        self._on_loop(self._cache.notify_brokers)
        return not self._stopped

    def _apply_request(self, topic: str, czxid: int | None) -> None:
        if czxid is None:
            self._requests.pop(topic, None)
        else:
            self._requests[topic] = czxid
        self._update_mark(topic)

    def _apply_deletions(self, listed: set[str]) -> None:
        for topic in [t for t in self._requests if t not in listed]:
            del self._requests[topic]
        for topic in list(self._cache.topics):
            self._update_mark(topic)

    def _update_mark(self, topic: str) -> None:
        info = self._cache.topics.get(topic)
        if info is None:
            return
        marked = self._requests.get(topic, -1) > info.czxid
        if info.marked_for_deletion != marked:
            info.marked_for_deletion = marked
            self._cache.notify_topic(topic, None)

    def _controller_changed(self, data: bytes | None, _stat: Any) -> bool:
        self._on_loop(self._cache.set_controller, md.decode_controller(data))
        return not self._stopped

    def _cluster_id_changed(self, data: bytes | None, _stat: Any) -> bool:
        if data is not None:
            self._on_loop(setattr, self._cache, "cluster_id", md.decode_cluster_id(data))
        return not self._stopped

    # --- admin requests for the controller ---------------------------------------------------------

    def _reassignments_changed(self, data: bytes | None, _stat: Any) -> bool:
        try:
            plan = md.decode_reassignment(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed %s", md.REASSIGN_PARTITIONS_PATH)
            plan = {}
        self._on_loop(self._apply_admin, "reassignments", plan)
        return not self._stopped

    def _preferred_changed(self, data: bytes | None, _stat: Any) -> bool:
        try:
            partitions = md.decode_partition_list(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed %s", md.PREFERRED_REPLICA_ELECTION_PATH)
            partitions = []
        self._on_loop(self._apply_admin, "preferred_elections", partitions)
        return not self._stopped

    def _apply_admin(self, attribute: str, value: Any) -> None:
        setattr(self._cache, attribute, value)
        self._cache.notify_brokers()
