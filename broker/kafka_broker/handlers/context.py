"""What a request handler gets — the request's header, the broker's services and the connection — and
what it may raise to say "no answer, close the connection" (:class:`CloseConnection`)."""

from __future__ import annotations

from dataclasses import dataclass

from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.config import BrokerConfig
from kafka_broker.coordinator.group_coordinator import GroupCoordinator
from kafka_broker.coordinator.producer_ids import ProducerIdManager
from kafka_broker.protocol import RequestHeader


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


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    services: BrokerServices
    peer: str = ""

    @property
    def version(self) -> int:
        return self.header.api_version
