"""What every reconcile step needs, passed as one object instead of many arguments."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kubernetes
from kubernetes.dynamic import DynamicClient

from ..settings import OperatorSettings

FIELD_MANAGER = "kopfka-operator"
log = logging.getLogger("kafka_operator")


@dataclass
class ReconcileContext:
    api: kubernetes.client.ApiClient
    settings: OperatorSettings = field(default_factory=OperatorSettings)
    _dynamic: DynamicClient | None = None

    @classmethod
    def from_environment(cls, settings: OperatorSettings | None = None) -> ReconcileContext:
        """In-cluster credentials when running in a pod, else the kubeconfig (``$KUBECONFIG``)."""
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        return cls(api=kubernetes.client.ApiClient(), settings=settings or OperatorSettings.from_env())

    @property
    def dynamic(self) -> DynamicClient:
        """Created lazily: it reads the API server's discovery documents on creation."""
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    @property
    def core(self) -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api)

    @property
    def apps(self) -> kubernetes.client.AppsV1Api:
        return kubernetes.client.AppsV1Api(self.api)

    @property
    def custom(self) -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api)

    @property
    def cluster_domain(self) -> str:
        return self.settings.reconcile.cluster_domain

    def event(self, body: Mapping[str, Any], *, reason: str, message: str, warning: bool = False) -> None:
        """Record a Kubernetes Event on the custom resource; a failure to record never fails a reconcile."""
        meta = body["metadata"]
        now = datetime.datetime.now(datetime.UTC)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=body["apiVersion"],
                kind=body["kind"],
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            first_timestamp=now,
            last_timestamp=now,
            count=1,
            source=kubernetes.client.V1EventSource(component=FIELD_MANAGER),
            reporting_component=FIELD_MANAGER,
        )
        (log.warning if warning else log.info)("%s/%s %s: %s", meta["namespace"], meta["name"], reason, message)
        try:
            self.core.create_namespaced_event(meta["namespace"], event)
        except kubernetes.client.ApiException as exc:
            log.warning("could not record event %s: %s", reason, exc.reason)
