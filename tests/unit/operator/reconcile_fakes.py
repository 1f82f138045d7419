"""In-memory stand-ins for what the reconcile talks to: the Kubernetes API, ZooKeeper, the Kafka admin client.

Each fake answers reads from its own store and records every write, so tests assert on behaviour — which
objects were applied with which fields, which pods were deleted, which status and Events were written,
which reassignment reached ZooKeeper — in milliseconds, without an API server, ZooKeeper or brokers.
They are thread-safe: the operator runs reconciles in threads, and so do the concurrency tests.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from confluent_kafka import KafkaError, KafkaException
from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from kafka_operator import API_VERSION, CLUSTER_PLURAL, TOPIC_PLURAL, USER_PLURAL
from kafka_operator.model import names
from kafka_operator.model.access import AdminConnection
from kafka_operator.model.topic import ObservedTopic
from kafka_operator.model.user import AclBinding
from kafka_operator.reconcile.context import ReconcileContext
from kafka_operator.reconcile.user_admin import UserAdminError
from kafka_operator.reconcile.zookeeper import ZooKeeperUnavailable
from kafka_operator.settings import OperatorSettings

T0 = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
KINDS = {CLUSTER_PLURAL: "KafkaCluster", TOPIC_PLURAL: "KafkaTopic", USER_PLURAL: "KafkaUser"}
Key = tuple[str, str, str | None, str]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies ``application/merge-patch+json``."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


@dataclass
class Event:
    kind: str
    name: str
    reason: str
    message: str
    type: str


@dataclass
class FakeKube:
    """``Kube`` over a dict of objects keyed by (apiVersion, kind, namespace, name)."""

    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    applied: list[dict[str, Any]] = field(default_factory=list)
    """Every server-side apply body, in order."""
    deleted_pods: list[str] = field(default_factory=list)
    deleted_services: list[str] = field(default_factory=list)
    status_patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(plural, name, status) of every status patch, in order."""
    custom_patches: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    """(plural, name, patch) of every merge patch of a custom resource (not its status), in order."""
    events: list[Event] = field(default_factory=list)
    rejections: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, name) → message: applies of that object fail with 422 Unprocessable Entity."""
    _version: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # --- seeding and inspection (tests) ---------------------------------------------------------

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            stored = copy.deepcopy(dict(obj))
            self._version += 1
            stored.setdefault("metadata", {})["resourceVersion"] = str(self._version)
            self.objects[self._key(stored)] = stored
            return stored

    def find(self, kind: str, name: str, namespace: str = "kafka") -> dict[str, Any] | None:
        with self._lock:
            for (_, k, ns, n), obj in self.objects.items():
                if (k, ns, n) == (kind, namespace, name):
                    return copy.deepcopy(obj)
            return None

    def applied_named(self, kind: str, name: str) -> list[dict[str, Any]]:
        return [m for m in self.applied if m["kind"] == kind and m["metadata"]["name"] == name]

    def reasons(self) -> list[str]:
        return [e.reason for e in self.events]

    def reject(self, kind: str, name: str, message: str) -> None:
        self.rejections[(kind, name)] = message

    @staticmethod
    def _key(obj: Mapping[str, Any]) -> Key:
        meta = obj["metadata"]
        return (obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])

    # --- Kube ------------------------------------------------------------------------------------

    def get(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        with self._lock:
            found = self.objects.get((api_version, kind, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            body = copy.deepcopy(dict(manifest))
            self.applied.append(body)
            rejected = self.rejections.get((body["kind"], body["metadata"]["name"]))
            if rejected is not None:
                raise UnprocessibleEntityError(_api_error(422, rejected))
            key = self._key(body)
            old = self.objects.get(key)
            stored = copy.deepcopy(body)
            if old is not None:
                if "status" in old:
                    stored["status"] = old["status"]
                unchanged = {**old, "metadata": {}} == {**stored, "metadata": {}} and _same_meta(old, stored)
                if unchanged:
                    return copy.deepcopy(old)
            self._version += 1
            stored["metadata"]["resourceVersion"] = str(self._version)
            self.objects[key] = stored
            return copy.deepcopy(stored)

    def list_pods(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (_, kind, ns, _), obj in sorted(self.objects.items(), key=lambda item: item[0][3])
                if kind == "Pod" and ns == namespace and labels.items() <= (obj["metadata"].get("labels") or {}).items()
            ]

    def list_services(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (_, kind, ns, _), obj in sorted(self.objects.items(), key=lambda item: item[0][3])
                if kind == "Service" and ns == namespace
                and labels.items() <= (obj["metadata"].get("labels") or {}).items()
            ]

    def delete_service(self, namespace: str, name: str) -> None:
        with self._lock:
            self.deleted_services.append(name)
            self.objects.pop(("v1", "Service", namespace, name), None)

    def list_nodes(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(obj) for (_, kind, _, _), obj in sorted(self.objects.items()) if kind == "Node"]

    def delete_pod(self, namespace: str, name: str) -> None:
        with self._lock:
            self.deleted_pods.append(name)
            self.objects.pop(("v1", "Pod", namespace, name), None)

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(api_version=API_VERSION, kind=KINDS[plural], name=name, namespace=namespace)

    def patch_custom_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        with self._lock:
            self.status_patches.append((plural, name, copy.deepcopy(dict(status))))
            key = (API_VERSION, KINDS[plural], namespace, name)
            if key not in self.objects:
                raise kubernetes.client.ApiException(status=404, reason="Not Found")
            obj = merge_patch(self.objects[key], {"status": status})
            self._version += 1
            obj["metadata"]["resourceVersion"] = str(self._version)
            self.objects[key] = obj

    def patch_custom(self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        with self._lock:
            self.custom_patches.append((plural, name, copy.deepcopy(dict(patch))))
            key = (API_VERSION, KINDS[plural], namespace, name)
            if key not in self.objects:
                raise kubernetes.client.ApiException(status=404, reason="Not Found")
            obj = merge_patch(self.objects[key], patch)
            self._version += 1
            obj["metadata"]["resourceVersion"] = str(self._version)
            self.objects[key] = obj

    def create_event(
        self, involved: Mapping[str, Any], *, reason: str, message: str, type: str, time: datetime.datetime
    ) -> None:
        with self._lock:
            self.events.append(Event(involved["kind"], involved["metadata"]["name"], reason, message, type))


def _same_meta(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    strip = ("resourceVersion",)
    return {k: v for k, v in old["metadata"].items() if k not in strip} == {
        k: v for k, v in new["metadata"].items() if k not in strip
    }


def _api_error(status: int, message: str) -> kubernetes.client.ApiException:
    import json

    error = kubernetes.client.ApiException(status=status, reason="Unprocessable Entity")
    error.body = json.dumps({"kind": "Status", "message": message, "code": status})
    error.headers = {"Content-Type": "application/json"}
    return error


# --- ZooKeeper --------------------------------------------------------------------------------


@dataclass
class FakeZooKeeper:
    """``ZooKeeper`` over Kafka's metadata as plain data; ``unavailable`` makes every session fail."""

    assignments: dict[str, dict[int, list[int]]] = field(default_factory=dict)
    registered: list[int] = field(default_factory=list)
    controller: int | None = None
    reassignment: dict[tuple[str, int], list[int]] | None = None
    """The pending ``/admin/reassign_partitions`` plan, if any."""
    requested: list[dict[tuple[str, int], list[int]]] = field(default_factory=list)
    """Every reassignment written, in order."""
    unavailable: bool = False
    fail_on: set[str] = field(default_factory=set)
    """Session methods that raise ``ZooKeeperUnavailable`` (the session starts, then a request fails)."""
    on_call: Callable[[str], None] | None = None
    """Called with the method's name at the start of every session call (tests use it to block a reconcile)."""
    connects: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    """Every session method called, in order."""

    @contextlib.contextmanager
    def session(self, connect: str, *, timeout: float = 5.0) -> Iterator[FakeZooKeeperSession]:
        self.connects.append(connect)
        if self.unavailable:
            raise ZooKeeperUnavailable(f"cannot connect to ZooKeeper at {connect}: KazooTimeoutError()")
        yield FakeZooKeeperSession(self)

    def finish_reassignment(self) -> None:
        """What the controller does: the replicas move, then the request znode goes away."""
        for (topic, partition), replicas in (self.reassignment or {}).items():
            self.assignments[topic][partition] = list(replicas)
        self.reassignment = None


@dataclass
class FakeZooKeeperSession:
    zk: FakeZooKeeper

    def _enter(self, method: str) -> None:
        self.zk.calls.append(method)
        if self.zk.on_call is not None:
            self.zk.on_call(method)
        if method in self.zk.fail_on:
            raise ZooKeeperUnavailable(f"ZooKeeper request failed: ConnectionLoss() in {method}")

    def topic_assignments(self) -> dict[str, dict[int, list[int]]]:
        self._enter("topic_assignments")
        return copy.deepcopy(self.zk.assignments)

    def registered_brokers(self) -> list[int]:
        self._enter("registered_brokers")
        return sorted(self.zk.registered)

    def controller_id(self) -> int | None:
        self._enter("controller_id")
        return self.zk.controller

    def reassignment_in_progress(self) -> bool:
        self._enter("reassignment_in_progress")
        return self.zk.reassignment is not None

    def request_reassignment(self, plan: Mapping[tuple[str, int], list[int]]) -> bool:
        self._enter("request_reassignment")
        if self.zk.reassignment is not None:
            return False
        self.zk.reassignment = {k: list(v) for k, v in plan.items()}
        self.zk.requested.append(copy.deepcopy(self.zk.reassignment))
        return True


# --- Kafka admin ------------------------------------------------------------------------------


@dataclass
class FakeKafka:
    """A Kafka cluster as the admin client sees it; ``admin`` is the ``KafkaAdminFactory``."""

    brokers: list[int] = field(default_factory=lambda: [0, 1, 2])
    topics: dict[str, ObservedTopic] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    error: KafkaError | None = None
    """When set, every request fails with this error."""
    bootstraps: list[str] = field(default_factory=list)

    def admin(self, connection: AdminConnection, *, timeout: float) -> FakeKafkaAdmin:
        self.bootstraps.append(connection.bootstrap)
        return FakeKafkaAdmin(self)


@dataclass
class FakeKafkaAdmin:
    kafka: FakeKafka

    def _call(self, name: str, arg: Any = None) -> None:
        self.kafka.calls.append((name, arg))
        if self.kafka.error is not None:
            raise KafkaException(self.kafka.error)

    def broker_ids(self) -> list[int]:
        self._call("broker_ids")
        return sorted(self.kafka.brokers)

    def describe(self, topic: str) -> ObservedTopic | None:
        self._call("describe", topic)
        return self.kafka.topics.get(topic)

    def create(self, topic: str, *, partitions: int, replication_factor: int, config: Mapping[str, str]) -> None:
        self._call("create", (topic, partitions, replication_factor, dict(config)))
        brokers = sorted(self.kafka.brokers)
        self.kafka.topics[topic] = ObservedTopic(
            partitions={
                p: [brokers[(p + i) % len(brokers)] for i in range(replication_factor)] for p in range(partitions)
            },
            config=dict(config),
        )

    def grow_partitions(self, topic: str, *, count: int) -> None:
        self._call("grow_partitions", (topic, count))
        old = self.kafka.topics[topic]
        partitions = dict(old.partitions)
        rf = old.replication_factor
        for p in range(len(partitions), count):
            partitions[p] = [self.kafka.brokers[(p + i) % len(self.kafka.brokers)] for i in range(rf)]
        self.kafka.topics[topic] = ObservedTopic(partitions=partitions, config=old.config)

    def alter_config(self, topic: str, *, set_config: Mapping[str, str], delete: tuple[str, ...]) -> None:
        self._call("alter_config", (topic, dict(set_config), delete))
        old = self.kafka.topics[topic]
        config = {k: v for k, v in {**old.config, **set_config}.items() if k not in delete}
        self.kafka.topics[topic] = ObservedTopic(partitions=old.partitions, config=config)

    def delete(self, topic: str) -> None:
        self._call("delete", topic)
        self.kafka.topics.pop(topic, None)


# --- Kafka users ------------------------------------------------------------------------------


@dataclass
class FakeUsers:
    """What the brokers hold about users — SCRAM credentials, ACLs, user quotas; ``admin`` is the
    ``UserAdminFactory``."""

    scram: dict[str, dict[str, str]] = field(default_factory=dict)
    """User → mechanism → password (the brokers keep a salted hash; the fake keeps what tests check)."""
    acls: set[AclBinding] = field(default_factory=set)
    quotas: dict[str, dict[str, float]] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    """Every call except the describes, in order."""
    error: str | None = None
    """When set, every request fails with ``UserAdminError(error)``."""
    connections: list[AdminConnection] = field(default_factory=list)
    closed: int = 0

    def admin(self, connection: AdminConnection, *, timeout: float) -> FakeUserAdmin:
        self.connections.append(connection)
        return FakeUserAdmin(self)


@dataclass
class FakeUserAdmin:
    users: FakeUsers

    def _call(self, name: str, arg: Any = None, *, record: bool = True) -> None:
        if record:
            self.users.calls.append((name, arg))
        if self.users.error is not None:
            raise UserAdminError(self.users.error)

    def scram_mechanisms(self, user: str) -> frozenset[str]:
        self._call("scram_mechanisms", user, record=False)
        return frozenset(self.users.scram.get(user, {}))

    def upsert_scram(self, user: str, password: str) -> None:
        self._call("upsert_scram", (user, password))
        self.users.scram.setdefault(user, {})["SCRAM-SHA-512"] = password

    def delete_scram(self, user: str) -> None:
        self._call("delete_scram", user)
        self.users.scram.pop(user, None)

    def describe_acls(self, principal: str) -> frozenset[AclBinding]:
        self._call("describe_acls", principal, record=False)
        return frozenset(b for b in self.users.acls if b.principal == principal)

    def create_acls(self, bindings: Any) -> None:
        if bindings:
            self._call("create_acls", sorted(bindings))
            self.users.acls |= set(bindings)

    def delete_acls(self, bindings: Any) -> None:
        if bindings:
            self._call("delete_acls", sorted(bindings))
            self.users.acls -= set(bindings)

    def describe_quotas(self, user: str) -> dict[str, float]:
        self._call("describe_quotas", user, record=False)
        return dict(self.users.quotas.get(user, {}))

    def alter_quotas(self, user: str, *, set_quotas: Mapping[str, float], remove: Any) -> None:
        self._call("alter_quotas", (user, dict(set_quotas), sorted(remove)))
        quotas = {k: v for k, v in {**self.users.quotas.get(user, {}), **set_quotas}.items() if k not in remove}
        if quotas:
            self.users.quotas[user] = quotas
        else:
            self.users.quotas.pop(user, None)

    def close(self) -> None:
        self.users.closed += 1


# --- the context and the objects tests start from --------------------------------------------


@dataclass
class Clock:
    now: datetime.datetime = T0

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@dataclass
class World:
    """A reconcile context wired to fakes, and the fakes themselves for the test to arrange and inspect."""

    kube: FakeKube = field(default_factory=FakeKube)
    zk: FakeZooKeeper = field(default_factory=FakeZooKeeper)
    users: FakeUsers = field(default_factory=FakeUsers)
    kafka: FakeKafka = field(default_factory=FakeKafka)
    clock: Clock = field(default_factory=Clock)
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    ctx: ReconcileContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = ReconcileContext(
            kube=self.kube, zookeeper=self.zk, admin_factory=self.kafka.admin, settings=self.settings, clock=self.clock
        )
        self.ctx.user_admin_factory = self.users.admin

    def cluster(self, name: str = "demo", namespace: str = "kafka") -> dict[str, Any]:
        found = self.kube.find("KafkaCluster", name, namespace)
        assert found is not None, f"KafkaCluster {namespace}/{name} is gone"
        return found

    def status(self, name: str = "demo", namespace: str = "kafka") -> dict[str, Any]:
        status: dict[str, Any] = self.cluster(name, namespace).get("status") or {}
        return status


def cluster_body(
    name: str = "demo",
    namespace: str = "kafka",
    *,
    brokers: int = 3,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "KafkaCluster",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {"brokers": brokers, "image": "kopfka/broker:test", **spec},
    }
    if status is not None:
        body["status"] = dict(status)
    return body


def topic_body(
    name: str = "orders",
    namespace: str = "kafka",
    *,
    cluster: str = "demo",
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {"cluster": cluster, **spec},
    }
    if status is not None:
        body["status"] = dict(status)
    return body


def user_body(
    name: str = "alice",
    namespace: str = "kafka",
    *,
    cluster: str = "demo",
    authentication: str = "scram-sha-512",
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "KafkaUser",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {"cluster": cluster, "authentication": {"type": authentication}, **spec},
    }
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    if status is not None:
        body["status"] = dict(status)
    return body


def broker_pod(
    cluster: str,
    ordinal: int,
    *,
    namespace: str = "kafka",
    ready: bool = True,
    config_hash: str | None = None,
    revision: str = "rev-1",
    terminating: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": f"{cluster}-broker-{ordinal}",
        "namespace": namespace,
        "labels": {
            names.CLUSTER_LABEL: cluster,
            names.COMPONENT_LABEL: names.BROKER,
            "controller-revision-hash": revision,
        },
        "annotations": {names.CONFIG_HASH_ANNOTATION: config_hash} if config_hash else {},
    }
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def start_cluster(world: World, *, name: str = "demo", brokers: int = 3, **spec: Any) -> dict[str, Any]:
    """A KafkaCluster whose objects exist and whose brokers all run the current config, ready."""
    from kafka_operator.reconcile.cluster import reconcile_cluster

    body = world.kube.add(cluster_body(name, brokers=brokers, **spec))
    reconcile_cluster(world.ctx, body)
    sts = world.kube.find("StatefulSet", f"{name}-broker")
    assert sts is not None
    sts["status"] = {"replicas": brokers, "readyReplicas": brokers, "updateRevision": "rev-1"}
    world.kube.add(sts)
    desired = sts["spec"]["template"]["metadata"]["annotations"][names.CONFIG_HASH_ANNOTATION]
    for ordinal in range(brokers):
        world.kube.add(broker_pod(name, ordinal, config_hash=desired))
    world.kube.applied.clear()
    world.kube.events.clear()
    world.kube.status_patches.clear()
    return world.cluster(name)
