"""The few Kubernetes API calls the reconcile makes, behind one small interface.

Steps talk to ``Kube``, never to the client library: ``ApiKube`` is the real implementation (the
``kubernetes`` client), and unit tests pass an in-memory one. Objects go in and come out as plain dicts
in the API's JSON shape. Errors are the client's own: ``kubernetes.dynamic.exceptions`` for the generic
``get``/``apply`` (``UnprocessibleEntityError`` for a 422), ``kubernetes.client.ApiException`` for the rest.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Protocol

import kubernetes
from kubernetes.dynamic import DynamicClient

from .. import GROUP, VERSION

FIELD_MANAGER = "kopfka-operator"


class Kube(Protocol):
    def get(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as ``FIELD_MANAGER``, forcing conflicts; returns the object as stored."""

    def list_pods(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Pods whose labels include ``labels``."""

    def delete_pod(self, namespace: str, name: str) -> None: ...

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every Node (their addresses are where NodePort listeners are reached)."""

    def list_services(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        """Services whose labels include ``labels``."""

    def delete_service(self, namespace: str, name: str) -> None:
        """Delete a Service; one already gone is not an error."""

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A kopfka custom resource (``kafkaclusters``, ``kafkatopics``), or None when it does not exist."""

    def patch_custom_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        """A JSON merge patch of ``status`` on the custom resource's status subresource."""

    def patch_custom(self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """A JSON merge patch of the custom resource itself (its metadata or spec; a None value removes a key)."""

    def create_event(
        self, involved: Mapping[str, Any], *, reason: str, message: str, type: str, time: datetime.datetime
    ) -> None:
        """A Kubernetes Event about ``involved`` (an object as a dict), in its namespace."""


class ApiKube:
    """``Kube`` over the ``kubernetes`` client."""

    def __init__(self, api: kubernetes.client.ApiClient) -> None:
        self.api = api
        self._dynamic: DynamicClient | None = None

    @classmethod
    def from_environment(cls) -> ApiKube:
        """In-cluster credentials when running in a pod, else the kubeconfig (``$KUBECONFIG``)."""
        try:
            kubernetes.config.load_incluster_config()
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config()
        return cls(kubernetes.client.ApiClient())

    @property
    def dynamic(self) -> DynamicClient:
        """Created lazily: it reads the API server's discovery documents on creation."""
        if self._dynamic is None:
            self._dynamic = DynamicClient(self.api)
        return self._dynamic

    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def get(self, *, api_version: str, kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        try:
            found = self.dynamic.get(self._resource(api_version, kind), name=name, namespace=namespace)
        except kubernetes.dynamic.exceptions.NotFoundError:
            return None
        result: dict[str, Any] = found.to_dict()
        return result

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        applied = self.dynamic.server_side_apply(
            self._resource(manifest["apiVersion"], manifest["kind"]),
            body=dict(manifest),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        result: dict[str, Any] = applied.to_dict()
        return result

    def list_pods(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        pods = kubernetes.client.CoreV1Api(self.api).list_namespaced_pod(namespace, label_selector=selector)
        return [self.api.sanitize_for_serialization(p) for p in pods.items]

    def delete_pod(self, namespace: str, name: str) -> None:
        kubernetes.client.CoreV1Api(self.api).delete_namespaced_pod(name, namespace)

    def list_nodes(self) -> list[dict[str, Any]]:
        nodes = kubernetes.client.CoreV1Api(self.api).list_node()
        return [self.api.sanitize_for_serialization(n) for n in nodes.items]

    def list_services(self, namespace: str, *, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        services = kubernetes.client.CoreV1Api(self.api).list_namespaced_service(namespace, label_selector=selector)
        return [self.api.sanitize_for_serialization(s) for s in services.items]

    def delete_service(self, namespace: str, name: str) -> None:
        try:
            kubernetes.client.CoreV1Api(self.api).delete_namespaced_service(name, namespace)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = kubernetes.client.CustomObjectsApi(self.api).get_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name
            )
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(found, dict):
            raise TypeError(f"{plural}/{name}: expected an object, got {type(found).__name__}")
        return found

    def patch_custom_status(self, plural: str, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        kubernetes.client.CustomObjectsApi(self.api).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": dict(status)}
        )

    def patch_custom(self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        kubernetes.client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, name, dict(patch), _content_type="application/merge-patch+json"
        )

    def create_event(
        self, involved: Mapping[str, Any], *, reason: str, message: str, type: str, time: datetime.datetime
    ) -> None:
        meta = involved["metadata"]
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=involved["apiVersion"],
                kind=involved["kind"],
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            reason=reason,
            message=message,
            type=type,
            first_timestamp=time,
            last_timestamp=time,
            count=1,
            source=kubernetes.client.V1EventSource(component=FIELD_MANAGER),
            reporting_component=FIELD_MANAGER,
        )
        kubernetes.client.CoreV1Api(self.api).create_namespaced_event(meta["namespace"], event)
