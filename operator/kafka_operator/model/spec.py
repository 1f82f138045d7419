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


LISTENER_TYPES = ("internal", "nodeport", "loadbalancer")
AUTHENTICATION_TYPES = ("scram-sha-512", "tls")


@dataclass(frozen=True)
class BrokerOverride:
    """Per-broker settings of an external listener (``configuration.brokers[]``)."""

    broker: int
    advertised_host: str | None = None
    """Host this broker advertises on the listener instead of the one learnt (node address, load balancer)."""
    advertised_port: int | None = None
    node_port: int | None = None
    """The per-broker Service's nodePort (type nodeport); None lets Kubernetes allocate one."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations of the per-broker Service (load balancer settings, external DNS names, ...)."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BrokerOverride:
        return cls(
            broker=int(raw["broker"]),
            advertised_host=raw.get("advertisedHost") or None,
            advertised_port=int(raw["advertisedPort"]) if raw.get("advertisedPort") else None,
            node_port=int(raw["nodePort"]) if raw.get("nodePort") else None,
            annotations={str(k): str(v) for k, v in (raw.get("annotations") or {}).items()},
        )


@dataclass(frozen=True)
class ListenerSpec:
    """One entry of ``spec.listeners``: where clients connect, how they are encrypted and authenticated."""

    name: str
    port: int
    type: str = "internal"
    """``internal`` (pod DNS names), ``nodeport`` or ``loadbalancer`` (one Service per broker plus a
    bootstrap Service, reachable from outside Kubernetes)."""
    tls: bool = False
    authentication: str | None = None
    """``scram-sha-512``, ``tls`` (a client certificate signed by the clients CA) or None."""
    network_policy_peers: tuple[Mapping[str, Any], ...] | None = None
    """NetworkPolicy peers allowed to reach the listener's port; None admits everyone."""
    bootstrap_node_port: int | None = None
    bootstrap_annotations: Mapping[str, str] = field(default_factory=dict)
    brokers: tuple[BrokerOverride, ...] = ()

    @property
    def kafka_name(self) -> str:
        """The Kafka listener name (``listeners=<NAME>://...``)."""
        return self.name.upper()

    @property
    def external(self) -> bool:
        return self.type != "internal"

    @property
    def security_protocol(self) -> str:
        sasl = self.authentication == "scram-sha-512"
        if self.tls:
            return "SASL_SSL" if sasl else "SSL"
        return "SASL_PLAINTEXT" if sasl else "PLAINTEXT"

    def override(self, broker: int) -> BrokerOverride | None:
        return next((o for o in self.brokers if o.broker == broker), None)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ListenerSpec:
        configuration = raw.get("configuration") or {}
        bootstrap = configuration.get("bootstrap") or {}
        authentication = raw.get("authentication")
        if isinstance(authentication, Mapping):  # also accept Strimzi's {type: ...} spelling
            authentication = authentication.get("type")
        peers = raw.get("networkPolicyPeers")
        return cls(
            name=str(raw["name"]),
            port=int(raw["port"]),
            type=str(raw.get("type") or "internal"),
            tls=bool(raw.get("tls", False)),
            authentication=str(authentication) if authentication else None,
            network_policy_peers=tuple(dict(p) for p in peers) if peers is not None else None,
            bootstrap_node_port=int(bootstrap["nodePort"]) if bootstrap.get("nodePort") else None,
            bootstrap_annotations={str(k): str(v) for k, v in (bootstrap.get("annotations") or {}).items()},
            brokers=tuple(BrokerOverride.parse(b) for b in configuration.get("brokers") or []),
        )


DEFAULT_LISTENERS = (ListenerSpec(name="plain", port=9092),)
"""``spec.listeners`` when it is not given: one PLAINTEXT listener inside Kubernetes."""


@dataclass(frozen=True)
class AuthorizationSpec:
    """``spec.authorization``: Kafka's ACL authorizer and its super users."""

    type: str = "simple"
    super_users: tuple[str, ...] = ()
    """Principals allowed everything; a bare name means ``User:<name>``."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> AuthorizationSpec | None:
        if not raw:
            return None
        users = tuple(str(u) for u in raw.get("superUsers") or [])
        return cls(type=str(raw.get("type") or "simple"), super_users=users)


@dataclass(frozen=True)
class CaSpec:
    """A certificate authority: generated by the operator, or the user's own (``secretName``)."""

    secret_name: str | None = None
    """A Secret holding the CA's certificate and key (``tls.crt``/``tls.key`` or ``ca.crt``/``ca.key``); the
    operator issues from it but never renews it."""

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> CaSpec:
        return cls(secret_name=(raw or {}).get("secretName") or None)


@dataclass(frozen=True)
class CertificatesSpec:
    """``spec.certificates``: validity and renewal of the certificates the operator issues."""

    validity_days: int = 365
    """Validity of broker, operator and user certificates."""
    renewal_days: int = 30
    """A certificate is renewed this many days before it expires (brokers are rolled to pick it up)."""
    ca_validity_days: int = 1825
    """Validity of a generated CA; it is renewed (same key) ``renewal_days`` before it expires."""
    cluster_ca: CaSpec = field(default_factory=CaSpec)
    clients_ca: CaSpec = field(default_factory=CaSpec)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> CertificatesSpec:
        raw = raw or {}
        return cls(
            validity_days=int(raw.get("validityDays", 365)),
            renewal_days=int(raw.get("renewalDays", 30)),
            ca_validity_days=int(raw.get("caValidityDays", 1825)),
            cluster_ca=CaSpec.parse(raw.get("clusterCa")),
            clients_ca=CaSpec.parse(raw.get("clientsCa")),
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
    listeners: tuple[ListenerSpec, ...] = DEFAULT_LISTENERS
    authorization: AuthorizationSpec | None = None
    certificates: CertificatesSpec = field(default_factory=CertificatesSpec)

    @property
    def secured(self) -> bool:
        """Any listener encrypted or authenticated, or an authorizer: the cluster then has its CAs, certificates
        and the operator-owned mutual-TLS ``REPLICATION`` listener (brokers' and the operator's own traffic)."""
        return self.authorization is not None or any(lst.tls or lst.authentication for lst in self.listeners)

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
            listeners=tuple(ListenerSpec.parse(raw) for raw in spec["listeners"])
            if spec.get("listeners")
            else DEFAULT_LISTENERS,
            authorization=AuthorizationSpec.parse(spec.get("authorization")),
            certificates=CertificatesSpec.parse(spec.get("certificates")),
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
