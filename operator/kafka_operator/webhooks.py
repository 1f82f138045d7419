"""Validating admission: refuse what the reconcile would refuse, at ``kubectl apply`` time.

- KafkaTopic: ``replicationFactor > brokers`` (``model.topic.validate``).
- KafkaCluster: listeners that cannot be applied — duplicate names or ports, reserved ports (9091, 8080),
  client-certificate authentication without TLS, node ports outside the range (``model.listeners.validate``).
- KafkaUser: operations Kafka does not allow on a resource type, names Kafka cannot use (``model.user.validate``).

The same rules are always enforced by the reconciles (in status); the webhook, when enabled, only moves the
refusal earlier, sharing each rule with its reconcile.

kopf serves the webhook over HTTPS with the certificate the chart generates and mounts; the chart (not
kopf) registers the ValidatingWebhookConfiguration, so the operator needs no cluster-wide write access
to admission configuration. The registration's failure policy is ``Ignore``: with the operator down,
topics are still admitted and the reconcile refuses them in status.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kopf

from . import CLUSTER_PLURAL
from .model import listeners
from .model import user as user_model
from .model.spec import ClusterSpec, TopicSpec
from .model.topic import validate
from .reconcile.context import ReconcileContext
from .settings import WebhookSettings

WEBHOOK_ID = "validate-kafkatopic"
"""The handler id, hence the URL path (``/validate-kafkatopic``) the registration points at."""
CLUSTER_WEBHOOK_ID = "validate-kafkacluster"
USER_WEBHOOK_ID = "validate-kafkauser"


def user_admission_error(body: Mapping[str, Any], *, old: Mapping[str, Any] | None = None) -> str | None:
    """The reason to reject this KafkaUser, or None. Updates that leave the spec alone always pass."""
    if old is not None and old.get("spec") == body.get("spec"):
        return None
    refusal = user_model.validate(user_model.UserSpec.from_resource(body))
    return f"{refusal[0]}: {refusal[1]}" if refusal else None


def cluster_admission_error(body: Mapping[str, Any], *, old: Mapping[str, Any] | None = None) -> str | None:
    """The reason to reject this KafkaCluster, or None. Updates that leave the spec alone always pass."""
    if old is not None and old.get("spec") == body.get("spec"):
        return None
    refusal = listeners.validate(ClusterSpec.from_resource(body))
    return f"{refusal[0]}: {refusal[1]}" if refusal else None


def topic_admission_error(
    ctx: ReconcileContext, body: Mapping[str, Any], *, old: Mapping[str, Any] | None = None
) -> str | None:
    """The reason to reject this KafkaTopic, or None. An unknown cluster is admitted (it may come later).

    Updates that leave the spec alone always pass: the operator itself writes finalizers and annotations
    on topics that have become invalid (their cluster shrank), and must not be locked out of them.
    """
    if old is not None and old.get("spec") == body.get("spec"):
        return None
    spec = TopicSpec.from_resource(body)
    cluster = ctx.kube.get_custom(CLUSTER_PLURAL, spec.namespace, spec.cluster)
    if cluster is None:
        return None
    refusal = validate(spec, brokers=ClusterSpec.from_resource(cluster).brokers)
    return f"{refusal[0]}: {refusal[1]}" if refusal else None


def webhook_server(settings: WebhookSettings) -> kopf.WebhookServer:
    if not settings.cert_dir:
        raise ValueError("KOPFKA_WEBHOOK_CERT_DIR is required when the webhook is enabled")
    cert_dir = Path(settings.cert_dir)
    return kopf.WebhookServer(
        addr=settings.addr,
        port=settings.port,
        certfile=cert_dir / "tls.crt",
        pkeyfile=cert_dir / "tls.key",
    )
