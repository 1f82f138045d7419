"""The operator's own settings, grouped by concern, read once from the environment at start-up.

Every field names its environment variable, unit and default, so the chart's values map onto them one to one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


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

    @classmethod
    def from_env(cls) -> OperatorSettings:
        env = os.environ
        return cls(
            watch=WatchSettings(namespaces=_env_list("KOPFKA_WATCH_NAMESPACES")),
            reconcile=ReconcileSettings(
                resync_seconds=float(env.get("KOPFKA_RESYNC_SECONDS", "30")),
                cluster_domain=env.get("KOPFKA_CLUSTER_DOMAIN", "cluster.local"),
                admin_timeout_seconds=float(env.get("KOPFKA_ADMIN_TIMEOUT_SECONDS", "15")),
            ),
            webhook=WebhookSettings(
                enabled=env.get("KOPFKA_WEBHOOK_ENABLED", "false").lower() == "true",
                addr=env.get("KOPFKA_WEBHOOK_ADDR", "0.0.0.0"),
                port=int(env.get("KOPFKA_WEBHOOK_PORT", "9443")),
                cert_dir=env.get("KOPFKA_WEBHOOK_CERT_DIR", ""),
            ),
        )
