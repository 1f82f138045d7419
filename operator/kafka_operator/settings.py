"""The operator's own settings, grouped by concern, read once from the environment at start-up.

Every field names its environment variable, unit and default, so the chart's values map onto them one to one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


def _env_labels(name: str) -> dict[str, str]:
    """``key=value,key=value`` → a dict; an item without ``=`` is a configuration error."""
    labels = {}
    for item in _env_list(name):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{name}: {item!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


@dataclass(frozen=True)
class WatchSettings:
    """Which namespaces the operator serves."""

    namespaces: tuple[str, ...] = ()
    """``KOPFKA_WATCH_NAMESPACES`` (comma-separated); empty (the default) means cluster-wide."""


@dataclass(frozen=True)
class ReconcileSettings:
    """How often and how patiently clusters are reconciled."""

    resync_seconds: float = 30.0
    """``KOPFKA_RESYNC_SECONDS``: seconds between periodic reconciles of each KafkaCluster (drift repair,
    status refresh, rolling restarts in progress). Default 30."""
    cluster_domain: str = "cluster.local"
    """``KOPFKA_CLUSTER_DOMAIN``: the cluster's DNS domain, used in advertised listeners.
    Default cluster.local."""
    admin_timeout_seconds: float = 15.0
    """``KOPFKA_ADMIN_TIMEOUT_SECONDS``: seconds to wait for one Kafka admin request. Default 15."""
    user_resync_seconds: float = 60.0
    """``KOPFKA_USER_RESYNC_SECONDS``: seconds between periodic reconciles of each KafkaUser (drift repair of
    its credentials and ACLs). Default 60."""


@dataclass(frozen=True)
class IdentitySettings:
    """Who the operator is inside Kubernetes: a KafkaCluster's NetworkPolicies admit the operator's pods by
    these (the chart sets both)."""

    namespace: str = ""
    """``KOPFKA_OPERATOR_NAMESPACE``: the namespace the operator's pods run in (the chart sets it from the
    downward API's ``metadata.namespace``). Empty (the default): the operator runs outside Kubernetes, and the
    NetworkPolicies name no operator pod."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """``KOPFKA_OPERATOR_POD_LABELS`` (``key=value,key=value``): labels that select the operator's pods (the
    chart's selector labels). Empty (the default) selects every pod of ``namespace``."""


@dataclass(frozen=True)
class WebhookSettings:
    """The optional validating admission webhook for KafkaTopics (kopf serves it; the chart registers it)."""

    enabled: bool = False
    """``KOPFKA_WEBHOOK_ENABLED`` ("true"/"false"): serve the webhook. Default false."""
    addr: str = "0.0.0.0"
    """``KOPFKA_WEBHOOK_ADDR``: address the HTTPS server listens on. Default 0.0.0.0."""
    port: int = 9443
    """``KOPFKA_WEBHOOK_PORT``: TCP port of the HTTPS server. Default 9443."""
    cert_dir: str = ""
    """``KOPFKA_WEBHOOK_CERT_DIR``: directory with ``tls.crt`` and ``tls.key`` (the chart mounts its Secret
    there); required when enabled, since the registration's caBundle must match it."""


@dataclass(frozen=True)
class OperatorSettings:
    watch: WatchSettings = field(default_factory=WatchSettings)
    reconcile: ReconcileSettings = field(default_factory=ReconcileSettings)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)

    @classmethod
    def from_env(cls) -> OperatorSettings:
        env = os.environ
        return cls(
            watch=WatchSettings(namespaces=_env_list("KOPFKA_WATCH_NAMESPACES")),
            reconcile=ReconcileSettings(
                resync_seconds=float(env.get("KOPFKA_RESYNC_SECONDS", "30")),
                cluster_domain=env.get("KOPFKA_CLUSTER_DOMAIN", "cluster.local"),
                admin_timeout_seconds=float(env.get("KOPFKA_ADMIN_TIMEOUT_SECONDS", "15")),
                user_resync_seconds=float(env.get("KOPFKA_USER_RESYNC_SECONDS", "60")),
            ),
            webhook=WebhookSettings(
                enabled=env.get("KOPFKA_WEBHOOK_ENABLED", "false").lower() == "true",
                addr=env.get("KOPFKA_WEBHOOK_ADDR", "0.0.0.0"),
                port=int(env.get("KOPFKA_WEBHOOK_PORT", "9443")),
                cert_dir=env.get("KOPFKA_WEBHOOK_CERT_DIR", ""),
            ),
            identity=IdentitySettings(
                namespace=env.get("KOPFKA_OPERATOR_NAMESPACE", ""),
                pod_labels=_env_labels("KOPFKA_OPERATOR_POD_LABELS"),
            ),
        )
