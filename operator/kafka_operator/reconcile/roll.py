"""Reconcile step: rolling restarts of broker pods, one at a time (the algorithm is ``roller.py``'s).

The step turns broker pods into ``roller.BrokerPod``\\ s, asks ``roller.plan_roll`` what to restart, deletes
that pod and says so (a ``RollingRestart`` Event, the ``Rolling`` condition). The controller restarts last:
when a broker is about to be restarted, the step reads the controller's id from ZooKeeper (``/controller``,
``{"version":1,"brokerid":N,...}``) and plans again with it. An unknown controller (ZooKeeper unreachable,
no controller elected) changes nothing else: highest ordinal first, as for every other broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import names
from ..model.conditions import ROLLING, Condition
from ..roller import BrokerPod, plan_roll
from .context import log
from .run import ClusterRun, pod_ready
from .zookeeper import ZooKeeperUnavailable

CONTROLLER_TIMEOUT_SECONDS = 3.0
"""How long a roll waits for ZooKeeper to name the controller before restarting in ordinal order."""


def as_broker_pod(pod: Mapping[str, Any]) -> BrokerPod:
    meta = pod["metadata"]
    annotations = meta.get("annotations") or {}
    return BrokerPod(
        name=meta["name"],
        ordinal=int(meta["name"].rsplit("-", 1)[1]),
        ready=pod_ready(pod),
        terminating=bool(meta.get("deletionTimestamp")),
        config_hash=annotations.get(names.CONFIG_HASH_ANNOTATION),
        revision=(meta.get("labels") or {}).get("controller-revision-hash"),
        manual=names.MANUAL_ROLL_ANNOTATION in annotations,
    )


def controller_id(run: ClusterRun) -> int | None:
    """The broker id of the cluster's controller, or None when it cannot be known now."""
    connect = names.zookeeper_connect(run.spec, cluster_domain=run.ctx.cluster_domain)
    try:
        with run.ctx.zookeeper.session(connect, timeout=CONTROLLER_TIMEOUT_SECONDS) as zk:
            return zk.controller_id()
    except ZooKeeperUnavailable as exc:
        log.info("%s/%s: controller unknown (%s); rolling in ordinal order", run.spec.namespace, run.spec.name, exc)
        return None


def roll_brokers(run: ClusterRun) -> None:
    if not run.statefulset or run.template_hash is None:
        return
    pods = [as_broker_pod(p) for p in run.broker_pods()]
    desired_hash = run.template_hash
    update_revision = (run.statefulset.get("status") or {}).get("updateRevision")
    decision = plan_roll(pods, replicas=run.brokers, desired_hash=desired_hash, update_revision=update_revision)
    if decision.restart is not None:
        # Only now is the controller worth a ZooKeeper session: most reconciles restart nothing.
        controller = controller_id(run)
        if controller is not None:
            decision = plan_roll(
                pods,
                replicas=run.brokers,
                desired_hash=desired_hash,
                update_revision=update_revision,
                controller_id=controller,
            )
    if decision.restart is not None:
        reasons = ", ".join(r.value for r in decision.reasons)
        run.ctx.kube.delete_pod(run.spec.namespace, decision.restart.name)
        run.ctx.event(run.body, reason="RollingRestart", message=f"restarting {decision.restart.name}: {reasons}")
    if decision.rolling:
        run.rolling = decision.waiting_for or f"restarting {decision.restart.name if decision.restart else ''}"
        run.conditions.append(Condition(ROLLING, True, "RollingRestart", run.rolling))
    else:
        run.conditions.append(Condition(ROLLING, False, "Idle", "no broker needs a restart"))
