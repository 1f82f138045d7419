"""One reconcile of one KafkaCluster: the state its steps share, and what they read about broker pods.

``ClusterRun`` is created by ``cluster.reconcile_cluster`` and handed to every step in turn; steps add
conditions to it and record what they observed, and the status is computed from it at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import names
from ..model.conditions import Condition
from ..model.rebalance import LostBroker
from ..model.spec import ClusterSpec
from .apply import Applied
from .context import ReconcileContext


@dataclass
class ClusterRun:
    """State shared by the steps of one reconcile of one KafkaCluster."""

    ctx: ReconcileContext
    body: Mapping[str, Any]
    spec: ClusterSpec
    brokers: int
    """StatefulSet replicas to apply now: ``spec.brokers``, or the old size while a drain runs."""
    conditions: list[Condition] = field(default_factory=list)
    statefulset: dict[str, Any] | None = None
    rolling: str | None = None
    lost_brokers: list[LostBroker] | None = None
    """``status.lostBrokers`` when it was observed in this run (None: keep the previous one)."""
    node_ports: dict[tuple[str, int], int] = field(default_factory=dict)
    """Allocated nodePorts of the per-broker Services of NodePort listeners."""
    ingresses: dict[tuple[str, int], str] = field(default_factory=dict)
    """Load balancer addresses of the per-broker Services of LoadBalancer listeners."""
    bootstrap_node_ports: dict[str, int] = field(default_factory=dict)
    bootstrap_ingresses: dict[str, str] = field(default_factory=dict)
    ca_certificate: str | None = None
    """The cluster CA certificate (PEM) of a secured cluster, once known."""
    certificates_digest: str = ""
    """Digest of the brokers' certificates (secured clusters): part of the pod template hash."""
    template_hash: str | None = None
    """The pod template hash applied in this run: brokers stamped otherwise are rolled."""
    stopped: bool = False
    """A step found the cluster cannot be applied (invalid spec, certificates not ready): later steps skip."""

    @property
    def status(self) -> Mapping[str, Any]:
        """The status the KafkaCluster had when this run started."""
        status: Mapping[str, Any] = self.body.get("status") or {}
        return status

    @property
    def new_generation(self) -> bool:
        observed: object = self.status.get("observedGeneration")
        generation: object = self.body["metadata"].get("generation")
        return observed != generation

    def record(self, applied: Applied) -> None:
        if applied.created:
            self.ctx.event(self.body, reason="Created", message=f"created {applied.kind} {applied.name}")
        elif applied.changed:
            self.ctx.event(self.body, reason="Updated", message=f"updated {applied.kind} {applied.name}")

    def report(self, condition: Condition, *, warning: bool = False) -> None:
        """Add a condition, and record it as an Event when it is news: its reason differs from the one in
        the status, or the spec is new. A refusal repeated at every resync is one Event, not one a minute."""
        self.conditions.append(condition)
        previous: Mapping[str, Any] = next(
            (c for c in self.status.get("conditions") or [] if c.get("type") == condition.type), {}
        )
        if self.new_generation or previous.get("reason") != condition.reason:
            self.ctx.event(self.body, reason=condition.reason, message=condition.message, warning=warning)

    def broker_pods(self) -> list[dict[str, Any]]:
        return self.ctx.kube.list_pods(self.spec.namespace, labels=names.selector_labels(self.spec, names.BROKER))


def pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
