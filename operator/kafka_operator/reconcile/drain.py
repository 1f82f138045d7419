"""Before a scale-down, move every replica off the brokers that are going away.

The StatefulSet removes the highest ordinals, so brokers ``brokers .. current-1`` leave. Each reconcile
decides, from ZooKeeper, one of three things:

* **refuse** — some topic has a partition with more replicas than the brokers that would remain. Draining
  would have to lower its replication factor, which the operator never does on its own: the StatefulSet
  keeps its size, the status says ``ScaleDownRefused`` naming the topics and their replication factors,
  and a Warning Event is recorded. The user either raises ``spec.brokers`` back or lowers the topics'
  replication factor (a KafkaTopic's ``replicationFactor``, or Kafka's reassignment tool); the next
  reconcile then proceeds.
* **wait** — replicas are being moved: the leaving brokers' replicas go to the remaining brokers
  (least-loaded first, never twice in one partition) with one reassignment, and the StatefulSet keeps its
  old size until it is done (``Draining``). Also when ZooKeeper cannot be read: what the leaving brokers
  hold is unknown, and unknown means wait (``DrainUnverified``), never shrink blind.
* **proceed** — no partition names a leaving broker: the StatefulSet shrinks.

If no broker is ready at all, nothing can be moved (no broker would execute a reassignment) and the
scale-down goes on without asking ZooKeeper.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..model import names
from ..model.conditions import RECONCILED, Condition
from .run import ClusterRun
from .zookeeper import ZooKeeper, ZooKeeperUnavailable

DRAINING = "Draining"
DRAIN_UNVERIFIED = "DrainUnverified"
SCALE_DOWN_REFUSED = "ScaleDownRefused"


class DrainState(enum.Enum):
    PROCEED = "proceed"
    WAIT = "wait"
    REFUSE = "refuse"


@dataclass(frozen=True)
class DrainDecision:
    state: DrainState
    reason: str = ""
    """The condition reason: ``Draining``, ``DrainUnverified`` or ``ScaleDownRefused``."""
    message: str = ""


PROCEED = DrainDecision(DrainState.PROCEED)


def drain_plan(
    assignments: Mapping[str, Mapping[int, Sequence[int]]], *, keep: Sequence[int], leaving: Sequence[int]
) -> dict[tuple[str, int], list[int]]:
    """New replica lists for the partitions that name a ``leaving`` broker, each leaving replica replaced
    by the least-loaded ``keep`` broker the partition does not have yet.

    A replica is never dropped: when ``keep`` has no broker left to take its place, the leaving broker stays
    in the list, so the partition keeps its replication factor (a lost broker's partition catches up when
    the broker returns; a scale-down is refused before it gets here, see ``replication_blockers``).
    """
    load = Counter({b: 0 for b in keep})
    for parts in assignments.values():
        for replicas in parts.values():
            load.update(b for b in replicas if b in load)
    plan: dict[tuple[str, int], list[int]] = {}
    for topic in sorted(assignments):
        for partition, replicas in sorted(assignments[topic].items()):
            if not any(b in leaving for b in replicas):
                continue
            staying = [b for b in replicas if b not in leaving]
            added: list[int] = []
            kept: set[int] = set()
            for old in (b for b in replicas if b in leaving):
                choices = sorted((b for b in keep if b not in staying + added), key=lambda b: (load[b], b))
                if choices:
                    added.append(choices[0])
                    load[choices[0]] += 1
                else:
                    kept.add(old)
            # Survivors (and unreplaced brokers) keep their places, so the preferred leader stays.
            new = [b for b in replicas if b not in leaving or b in kept] + added
            if new != list(replicas):
                plan[(topic, partition)] = new
    return plan


def replication_blockers(assignments: Mapping[str, Mapping[int, Sequence[int]]], *, brokers: int) -> dict[str, int]:
    """Topics whose replication factor (their largest partition's replica count) exceeds ``brokers``."""
    result = {}
    for topic, parts in sorted(assignments.items()):
        factor = max((len(set(replicas)) for replicas in parts.values()), default=0)
        if factor > brokers:
            result[topic] = factor
    return result


def drain(zookeeper: ZooKeeper, connect: str, *, current: int, desired: int) -> DrainDecision:
    """Check the drain of brokers ``desired .. current-1`` and start it when needed."""
    leaving = list(range(desired, current))
    keep = list(range(desired))
    try:
        with zookeeper.session(connect) as zk:
            assignments = zk.topic_assignments()
            blockers = replication_blockers(assignments, brokers=desired)
            if blockers:
                listed = ", ".join(f"{topic} has replication factor {rf}" for topic, rf in blockers.items())
                return DrainDecision(
                    DrainState.REFUSE,
                    SCALE_DOWN_REFUSED,
                    f"cannot scale down from {current} to {desired} broker(s): {listed}. "
                    f"Lower the replication factor of these topics to at most {desired}, or keep spec.brokers "
                    f"at {current}; the StatefulSet keeps {current} broker(s) meanwhile",
                )
            if zk.reassignment_in_progress():
                return DrainDecision(DrainState.WAIT, DRAINING, "a partition reassignment is in progress")
            plan = drain_plan(assignments, keep=keep, leaving=leaving)
            if not plan:
                return PROCEED
            zk.request_reassignment(plan)
            return DrainDecision(DrainState.WAIT, DRAINING, f"moving {len(plan)} partition(s) off brokers {leaving}")
    except ZooKeeperUnavailable as exc:
        return DrainDecision(
            DrainState.WAIT,
            DRAIN_UNVERIFIED,
            f"cannot tell which partitions brokers {leaving} hold ({exc}): the StatefulSet keeps {current} "
            "broker(s) until ZooKeeper answers",
        )


def drain_before_scale_down(run: ClusterRun) -> None:
    """Reconcile step: keep the StatefulSet's current size (``run.brokers``) until the drain allows less."""
    current = run.ctx.kube.get(
        api_version="apps/v1",
        kind="StatefulSet",
        name=names.broker_statefulset_name(run.spec),
        namespace=run.spec.namespace,
    )
    if current is None:
        return
    replicas = int(current["spec"].get("replicas", 0))
    ready = (current.get("status") or {}).get("readyReplicas", 0)
    if replicas <= run.spec.brokers or not ready:
        return
    connect = names.zookeeper_connect(run.spec, cluster_domain=run.ctx.cluster_domain)
    decision = drain(run.ctx.zookeeper, connect, current=replicas, desired=run.spec.brokers)
    if decision.state is DrainState.PROCEED:
        return
    run.brokers = replicas
    run.report(
        Condition(RECONCILED, False, decision.reason, decision.message),
        warning=decision.state is DrainState.REFUSE or decision.reason == DRAIN_UNVERIFIED,
    )
