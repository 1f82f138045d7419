"""Rolling restarts of broker pods: which broker to restart next, and why.

The broker StatefulSet uses ``updateStrategy: OnDelete``, so a changed pod template (new config hash, new
image) restarts nothing by itself; the roller does it, one broker at a time:

1. For every broker pod, collect its ``RestartReason``\\ s: its config hash differs from the desired one
   (``CONFIG_CHANGED``), or else its controller revision differs from the StatefulSet's update revision
   (``POD_SPEC_CHANGED``: image, resources, ...), and it carries the ``kopfka.io/manual-rolling-update``
   annotation (``MANUAL``).
2. If no pod needs a restart, the roll is done.
3. If any broker pod is missing, not ready, or already terminating, wait: never take a second broker down
   while one is away, since its replicas are out of the ISR and a second loss could make partitions
   unavailable (the PodDisruptionBudget's ``maxUnavailable: 1`` says the same to voluntary evictions).
4. Otherwise restart one pod by deleting it (the StatefulSet recreates it from the new template, on the
   same PVC, with the same broker id). Non-controller brokers go first, highest ordinal first; the
   controller goes last, so controller leadership moves once rather than at every step. The pod's
   SIGTERM grace period lets the broker's controlled shutdown move its partition leadership away.
5. The next reconcile (a pod turning ready, or the periodic resync) repeats from 1, so the algorithm needs
   no state of its own and survives operator restarts.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class RestartReason(enum.Enum):
    CONFIG_CHANGED = "ConfigChanged"
    POD_SPEC_CHANGED = "PodSpecChanged"
    MANUAL = "ManualRollingUpdate"


@dataclass(frozen=True)
class BrokerPod:
    """What the roller needs to know about one broker pod."""

    name: str
    ordinal: int
    ready: bool
    terminating: bool = False
    config_hash: str | None = None
    revision: str | None = None
    manual: bool = False


@dataclass(frozen=True)
class RollDecision:
    restart: BrokerPod | None = None
    """The pod to delete now, if any."""
    reasons: tuple[RestartReason, ...] = ()
    """Why ``restart`` is restarted."""
    pending: dict[str, tuple[RestartReason, ...]] | None = None
    """Every pod that still needs a restart, with its reasons (empty or None when the roll is done)."""
    waiting_for: str | None = None
    """Why nothing is restarted although pods are pending."""

    @property
    def rolling(self) -> bool:
        return bool(self.pending)


def restart_reasons(pod: BrokerPod, *, desired_hash: str, update_revision: str | None) -> tuple[RestartReason, ...]:
    reasons = []
    if pod.config_hash is not None and pod.config_hash != desired_hash:
        reasons.append(RestartReason.CONFIG_CHANGED)
    elif update_revision and pod.revision and pod.revision != update_revision:
        # A new config hash is itself a template change; report it as such only for other changes.
        reasons.append(RestartReason.POD_SPEC_CHANGED)
    if pod.manual:
        reasons.append(RestartReason.MANUAL)
    return tuple(reasons)


def plan_roll(
    pods: Sequence[BrokerPod],
    *,
    replicas: int,
    desired_hash: str,
    update_revision: str | None,
    controller_id: int | None = None,
) -> RollDecision:
    pending = {
        pod.name: reasons
        for pod in pods
        if (reasons := restart_reasons(pod, desired_hash=desired_hash, update_revision=update_revision))
    }
    if not pending:
        return RollDecision()
    present = [p for p in pods if p.ordinal < replicas]
    away = [p.name for p in present if not p.ready or p.terminating]
    if len(present) < replicas or away:
        missing = replicas - len(present)
        detail = ", ".join(away) if away else f"{missing} missing pod(s)"
        return RollDecision(pending=pending, waiting_for=f"brokers not ready: {detail}")
    candidates = sorted(
        (p for p in present if p.name in pending),
        key=lambda p: (p.ordinal == controller_id, -p.ordinal),
    )
    if not candidates:
        return RollDecision(pending=pending, waiting_for="pending pods are being scaled away")
    chosen = candidates[0]
    return RollDecision(restart=chosen, reasons=pending[chosen.name], pending=pending)
