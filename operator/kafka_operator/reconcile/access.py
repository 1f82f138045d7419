"""How the operator's admin clients reach a KafkaCluster: ``AdminConnection`` from its spec and Secrets.

A plain cluster: the bootstrap address, PLAINTEXT. A secured cluster: the ``REPLICATION`` listener (mutual TLS),
trusting the cluster CA and presenting the operator's own certificate from ``<cluster>-operator-certs``, which the
cluster reconcile issues; until it exists the cluster is not reachable (``AccessNotReady``).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from ..model import names
from ..model.access import AdminConnection
from ..model.spec import ClusterSpec
from .context import ReconcileContext


class AccessNotReady(Exception):
    """The operator cannot connect to the cluster yet (its client certificate is not issued)."""


def secret_data(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """A Secret's ``data``, decoded (every value the operator stores there is text)."""
    raw = (secret or {}).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in raw.items()}


def get_secret(ctx: ReconcileContext, namespace: str, name: str) -> dict[str, Any] | None:
    return ctx.kube.get(api_version="v1", kind="Secret", name=name, namespace=namespace)


def admin_connection(ctx: ReconcileContext, spec: ClusterSpec) -> AdminConnection:
    bootstrap = names.admin_bootstrap_servers(spec, cluster_domain=ctx.cluster_domain)
    if not spec.secured:
        return AdminConnection(bootstrap)
    name = names.operator_certs_secret_name(spec)
    data = secret_data(get_secret(ctx, spec.namespace, name))
    if not {"ca.crt", "tls.crt", "tls.key"} <= data.keys():
        raise AccessNotReady(f"Secret {spec.namespace}/{name} with the operator's certificate is not ready yet")
    return AdminConnection(bootstrap, ca_pem=data["ca.crt"], cert_pem=data["tls.crt"], key_pem=data["tls.key"])


def secret_holds(existing: Mapping[str, Any], manifest: Mapping[str, Any]) -> bool:
    """The stored Secret already has the manifest's type, data, labels and owner: applying it would change
    nothing, so it is not applied (a resync must not bump resourceVersions)."""
    meta, wanted = existing.get("metadata") or {}, manifest["metadata"]
    return bool(
        existing.get("type") == manifest["type"]
        and (existing.get("data") or {}) == manifest["data"]
        and wanted["labels"].items() <= (meta.get("labels") or {}).items()
        and (meta.get("ownerReferences") or []) == wanted.get("ownerReferences", [])
    )
