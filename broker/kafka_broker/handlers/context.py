"""What a request handler gets: the request's header, the broker's services and the connection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kafka_broker.cluster.metadata_cache import MetadataCache
from kafka_broker.cluster.replica_manager import ReplicaManager
from kafka_broker.cluster.topic_admin import TopicAdmin
from kafka_broker.cluster.zk_store import ZkStore
from kafka_broker.config import BrokerConfig
from kafka_broker.protocol import RequestHeader


@dataclass
class BrokerServices:
    """The broker's long-lived parts that handlers use; built once by :mod:`kafka_broker.broker`."""

    config: BrokerConfig
    cache: MetadataCache
    replicas: ReplicaManager
    admin: TopicAdmin
    store: ZkStore
    groups: Any = None
    """The group coordinator (consumer groups), when running."""
    producer_ids: Any = None
    """The producer id manager (idempotent producers), when running."""
    metrics: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RequestContext:
    header: RequestHeader
    services: BrokerServices
    peer: str = ""

    @property
    def version(self) -> int:
        return self.header.api_version
