"""What a request handler gets — the request's header, the broker's services and the connection — and
what it may raise to say "no answer, close the connection" (:class:`CloseConnection`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from kafka_broker.cluster.acl_authorizer import AclAuthorizer
from kafka_broker.cluster.client_quotas import ClientQuotas
from kafka_broker.cluster.dynamic_config import DynamicBrokerConfig
from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.replication_quota import ReplicationQuota
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.config import BrokerConfig
from kafka_broker.controller import Controller
from kafka_broker.coordinator.group_coordinator import GroupCoordinator
from kafka_broker.coordinator.producer_ids import ProducerIdManager
from kafka_broker.protocol import RequestHeader
from kafka_broker.security.principal import ANONYMOUS, KafkaPrincipal


class CloseConnection(Exception):
    """Raised by a handler that must not answer: the server sends no response, answers no later request
    and closes the connection after the responses to the earlier ones. The message says why (logged)."""


@dataclass
class BrokerServices:
    """The broker's long-lived parts that handlers use; built once by :mod:`kafka_broker.broker`."""

    config: BrokerConfig
    cache: MetadataCache
    replicas: ReplicaManager
    admin: TopicAdmin
    store: ZkStore
    groups: GroupCoordinator | None = None
    """The group coordinator (consumer groups), once started."""
    producer_ids: ProducerIdManager | None = None
    """The producer id manager (idempotent producers), once started."""
    dynamic: DynamicBrokerConfig = field(default=None)  # type: ignore[assignment]
    """The broker's dynamic configs: ``dynamic.current(key)`` is a broker key's effective value now (made
    from ``config`` alone, without ZooKeeper, when not given)."""
    controller: Controller | None = None
    """This broker's controller (acting or not): ElectLeaders and reassignments are its work."""
    quotas: ClientQuotas = field(default_factory=ClientQuotas)
    leader_quota: ReplicationQuota | None = None
    """The leader-side replication throttle (``leader.replication.throttled.rate``), checked on followers' fetches."""
    """Client quotas (produce and fetch byte rates), kept current from ZooKeeper once the broker watches them."""
    authorizer: AclAuthorizer | None = None
    """The ACL authorizer when ``authorizer.class.name`` names one (None: every request is allowed and the ACL
    APIs answer SECURITY_DISABLED, as Kafka without an authorizer)."""

    def __post_init__(self) -> None:
        if cast("DynamicBrokerConfig | None", self.dynamic) is None:
            self.dynamic = DynamicBrokerConfig(self.config)


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    services: BrokerServices
    peer: str = ""
    size: int = 0
    """The request's size in bytes (header and body), as Kafka's ``request.sizeInBytes``."""
    principal: KafkaPrincipal = ANONYMOUS
    """Who sent the request: ``User:ANONYMOUS`` unless the connection authenticated (SASL, or a client
    certificate on a TLS listener); quotas use its name."""
    listener: str = "PLAINTEXT"
    """The name of the listener the request came in on: addresses in the answer are that listener's."""
    throttle_time_ms: int = 0
    """Set by a handler whose request took its client over a quota: the server stops reading the connection
    for that long after the response (KIP-219); the response carries it in ``throttle_time_ms``."""

    @property
    def version(self) -> int:
        return self.header.api_version
