"""What every reconcile step needs, passed as one object instead of many arguments.

The context holds the operator's settings and the seams to the outside world — the Kubernetes API
(``kube``), ZooKeeper (``zookeeper``), the Kafka admin client (``kafka_admin``) and the clock — so the
same steps run against the real services in the operator and against in-memory fakes in unit tests.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes

from ..model.access import AdminConnection
from ..settings import OperatorSettings
from .kafka_admin import ConfluentAdmin, KafkaAdmin, KafkaAdminFactory
from .kube import FIELD_MANAGER, ApiKube, Kube
from .locks import KeyedLocks
from .user_admin import KafkaUserAdmin, UserAdmin, UserAdminFactory
from .zookeeper import KazooZooKeeper, ZooKeeper

__all__ = ["FIELD_MANAGER", "ReconcileContext"]

log = logging.getLogger("kafka_operator")


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class ReconcileContext:
    kube: Kube
    zookeeper: ZooKeeper = field(default_factory=KazooZooKeeper)
    admin_factory: KafkaAdminFactory = ConfluentAdmin
    user_admin_factory: UserAdminFactory = KafkaUserAdmin
    """Makes the admin client of the KafkaUser reconcile (SCRAM credentials, ACLs, quotas)."""
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    clock: Callable[[], datetime.datetime] = utc_now
    """The current time, timezone-aware (UTC)."""
    locks: KeyedLocks = field(default_factory=KeyedLocks)
    """One lock per KafkaCluster: its reconciles never overlap (``cluster.exclusively``)."""

    @classmethod
    def from_environment(cls, settings: OperatorSettings | None = None) -> ReconcileContext:
        """In-cluster credentials when running in a pod, else the kubeconfig (``$KUBECONFIG``)."""
        return cls(kube=ApiKube.from_environment(), settings=settings or OperatorSettings.from_env())

    @property
    def cluster_domain(self) -> str:
        return self.settings.reconcile.cluster_domain

    def now(self) -> datetime.datetime:
        return self.clock()

    def kafka_admin(self, connection: AdminConnection) -> KafkaAdmin:
        return self.admin_factory(connection, timeout=self.settings.reconcile.admin_timeout_seconds)

    def user_admin(self, connection: AdminConnection) -> UserAdmin:
        return self.user_admin_factory(connection, timeout=self.settings.reconcile.admin_timeout_seconds)

    def event(self, body: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
        """Record a Kubernetes Event on the custom resource; a failure to record never fails a reconcile."""
        meta = body["metadata"]
        (log.warning if warning else log.info)("%s/%s %s: %s", meta["namespace"], meta["name"], reason, message)
        try:
            self.kube.create_event(
                body, reason=reason, message=message[:1024], type="Warning" if warning else "Normal", time=self.now()
            )
        except kubernetes.client.ApiException as exc:
            log.warning("could not record event %s: %s", reason, exc.reason)
