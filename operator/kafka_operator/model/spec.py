"""Typed, defaulted views of the KafkaCluster and KafkaTopic specs.

The CRD schema already defaults and validates fields at admission; parsing again here keeps the model
usable on plain dicts (unit tests, objects created before a default existed) and gives one place that
knows each field's meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_BROKER_IMAGE = "kopfka/broker:0.1.0"
DEFAULT_ZOOKEEPER_IMAGE = "zookeeper:3.8"


@dataclass(frozen=True)
class StorageSpec:
    size: str = "10Gi"
    """PVC request per broker (Kubernetes quantity)."""
    storage_class_name: str | None = None
    """StorageClass of the PVCs; None uses the cluster default."""
    delete_claim: bool = False
    """Delete the PVCs when the KafkaCluster is deleted (otherwise they are kept, as StatefulSets do)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, *, default_size: str = "10Gi") -> StorageSpec:
        raw = raw or {}
        return cls(
            size=str(raw.get("size") or default_size),
            storage_class_name=raw.get("storageClassName"),
            delete_claim=bool(raw.get("deleteClaim", False)),
        )


@dataclass(frozen=True)
class ZooKeeperSpec:
    replicas: int = 3
    image: str = DEFAULT_ZOOKEEPER_IMAGE
    storage: StorageSpec = field(default_factory=lambda: StorageSpec(size="1Gi"))
    connect: str | None = None
    """An external ensemble (``host:port[,host:port][/chroot]``); when set no ZooKeeper is managed."""

    @property
    def managed(self) -> bool:
        return not self.connect

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> ZooKeeperSpec:
        raw = raw or {}
        return cls(
            replicas=int(raw.get("replicas", 3)),
            image=str(raw.get("image") or DEFAULT_ZOOKEEPER_IMAGE),
            storage=StorageSpec.parse(raw.get("storage"), default_size="1Gi"),
            connect=raw.get("connect") or None,
        )


@dataclass(frozen=True)
class RebalanceSpec:
    on_node_loss: bool = True
    """Reassign a lost broker's replicas to healthy brokers after the grace period."""
    grace_period_seconds: int = 120
    """Seconds a broker may be gone before its replicas are moved."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> RebalanceSpec:
        raw = raw or {}
        return cls(
            on_node_loss=bool(raw.get("onNodeLoss", True)),
            grace_period_seconds=int(raw.get("gracePeriodSeconds", 120)),
        )


@dataclass(frozen=True)
class ClusterSpec:
    """A KafkaCluster: identity (name, namespace, uid for owner references) plus its parsed spec."""

    name: str
    namespace: str
    uid: str = ""
    brokers: int = 3
    image: str = DEFAULT_BROKER_IMAGE
    image_pull_policy: str = "IfNotPresent"
    storage: StorageSpec = field(default_factory=StorageSpec)
    zookeeper: ZooKeeperSpec = field(default_factory=ZooKeeperSpec)
    config: Mapping[str, str] = field(default_factory=dict)
    resources: Mapping[str, Any] = field(default_factory=dict)
    rebalance: RebalanceSpec = field(default_factory=RebalanceSpec)
    bootstrap_override: str | None = None
    """``spec.bootstrapOverride``: ``host:port,...`` the operator uses to reach the brokers instead of the
    bootstrap Service's DNS name — for brokers the operator cannot reach through cluster DNS (the operator
    runs outside the cluster, or the brokers are real processes that tests start beside the API server)."""
    termination_grace_seconds: int = 120
    """Pod ``terminationGracePeriodSeconds``: long enough for controlled shutdown to move leadership."""

    @classmethod
    def from_resource(cls, body: Mapping[str, Any]) -> ClusterSpec:
        meta = body.get("metadata", {})
        spec = body.get("spec") or {}
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            uid=meta.get("uid", ""),
            brokers=int(spec.get("brokers", 3)),
            image=str(spec.get("image") or DEFAULT_BROKER_IMAGE),
            image_pull_policy=str(spec.get("imagePullPolicy") or "IfNotPresent"),
            storage=StorageSpec.parse(spec.get("storage")),
            zookeeper=ZooKeeperSpec.parse(spec.get("zookeeper")),
            config={str(k): str(v) for k, v in (spec.get("config") or {}).items()},
            resources=dict(spec.get("resources") or {}),
            rebalance=RebalanceSpec.parse(spec.get("rebalance")),
            bootstrap_override=spec.get("bootstrapOverride") or None,
            termination_grace_seconds=int(spec.get("terminationGracePeriodSeconds", 120)),
        )


@dataclass(frozen=True)
class TopicSpec:
    """A KafkaTopic: which cluster, which Kafka topic, and its desired shape."""

    name: str
    namespace: str
    cluster: str
    topic_name: str
    partitions: int = 1
    replication_factor: int = 1
    config: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_resource(cls, body: Mapping[str, Any]) -> TopicSpec:
        meta = body.get("metadata", {})
        spec = body.get("spec") or {}
        return cls(
            name=meta["name"],
            namespace=meta.get("namespace") or "default",
            cluster=str(spec["cluster"]),
            topic_name=str(spec.get("topicName") or meta["name"]),
            partitions=int(spec.get("partitions", 1)),
            replication_factor=int(spec.get("replicationFactor", 1)),
            config={str(k): str(v) for k, v in (spec.get("config") or {}).items()},
        )
