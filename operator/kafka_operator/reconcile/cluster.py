"""KafkaCluster reconcile: a short list of named steps, then the status.

    check_config → zookeeper → config_map → services → drain_before_scale_down → statefulset → pdb
    → roll_brokers → rebalance (lost brokers) → status

Every step is idempotent (server-side apply), so the same list serves creation, updates, drift repair
(a deleted Service comes back on the next run) and the periodic resync.

Handlers go through ``exclusively``: one reconcile (or status refresh) of a cluster at a time, each on the
KafkaCluster as stored when it starts, never on the possibly older body its handler was handed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kubernetes.dynamic.exceptions import UnprocessibleEntityError

from .. import CLUSTER_PLURAL
from ..model import broker as broker_model
from ..model import cluster as cluster_model
from ..model import names
from ..model.conditions import READY, RECONCILED, ROLLING, Condition, merge_conditions
from ..model.config import ignored_config_keys
from ..model.rebalance import parse_lost
from ..model.spec import ClusterSpec
from . import drain, roll
from .apply import apply, get
from .context import ReconcileContext
from .rebalance import rebalance_lost_brokers
from .run import ClusterRun, pod_ready

__all__ = ["STEPS", "ClusterRun", "cluster_status", "exclusively", "reconcile_cluster", "refresh_status"]

R = TypeVar("R")


def check_config(run: ClusterRun) -> None:
    ignored = ignored_config_keys(run.spec)
    if ignored and run.new_generation:
        run.ctx.event(
            run.body,
            reason="ConfigIgnored",
            message=f"spec.config keys set by the operator are ignored: {', '.join(ignored)}",
            warning=True,
        )


def apply_zookeeper(run: ClusterRun) -> None:
    for manifest in cluster_model.zookeeper_objects(run.spec, cluster_domain=run.ctx.cluster_domain):
        run.record(apply(run.ctx, manifest))


def apply_config_map(run: ClusterRun) -> None:
    run.record(apply(run.ctx, broker_model.config_map(run.spec, cluster_domain=run.ctx.cluster_domain)))


def apply_services(run: ClusterRun) -> None:
    run.record(apply(run.ctx, broker_model.headless_service(run.spec)))
    run.record(apply(run.ctx, broker_model.bootstrap_service(run.spec)))


def apply_statefulset(run: ClusterRun) -> None:
    spec = dataclasses.replace(run.spec, brokers=run.brokers)
    manifest = broker_model.broker_statefulset(spec, cluster_domain=run.ctx.cluster_domain)
    try:
        applied = apply(run.ctx, manifest)
    except UnprocessibleEntityError as exc:  # the client's spelling (HTTP 422)
        # Typically storage changes: volumeClaimTemplates of a StatefulSet are immutable.
        message = f"StatefulSet {manifest['metadata']['name']} rejected the update: {exc.summary()}"
        run.ctx.event(run.body, reason="StatefulSetRejected", message=message, warning=True)
        run.conditions.append(Condition(RECONCILED, False, "StatefulSetRejected", message))
        run.statefulset = get(run.ctx, manifest)
        return
    run.record(applied)
    run.statefulset = applied.object


def apply_pdb(run: ClusterRun) -> None:
    run.record(apply(run.ctx, broker_model.broker_pdb(run.spec)))


def rebalance(run: ClusterRun) -> None:
    rebalance_lost_brokers(run, any_ready=any(pod_ready(p) for p in run.broker_pods()))


STEPS: tuple[Callable[[ClusterRun], None], ...] = (
    check_config,
    apply_zookeeper,
    apply_config_map,
    apply_services,
    drain.drain_before_scale_down,
    apply_statefulset,
    apply_pdb,
    roll.roll_brokers,
    rebalance,
)


def cluster_status(run: ClusterRun) -> dict[str, Any]:
    pods = {p["metadata"]["name"]: p for p in run.broker_pods()}
    domain = run.ctx.cluster_domain
    brokers: list[dict[str, str | int | bool]] = []
    ready = 0
    for ordinal in range(run.spec.brokers):
        pod_name = names.broker_pod_name(run.spec, ordinal)
        pod = pods.get(pod_name)
        broker_ready = pod is not None and pod_ready(pod)
        ready += broker_ready
        brokers.append(
            {
                "id": ordinal,
                "pod": pod_name,
                "host": names.broker_host(run.spec, ordinal, cluster_domain=domain),
                "ready": broker_ready,
            }
        )
    phase = "Running" if ready == run.spec.brokers else ("Degraded" if ready else "Pending")
    if run.rolling:
        phase = "Rolling"
    conditions = list(run.conditions)
    if not any(c.type == RECONCILED for c in conditions):
        conditions.append(Condition(RECONCILED, True, "Applied", "all owned objects are applied"))
    conditions.append(
        Condition(
            READY,
            ready == run.spec.brokers,
            "BrokersReady" if ready == run.spec.brokers else "BrokersNotReady",
            f"{ready}/{run.spec.brokers} brokers ready",
        )
    )
    old = run.status
    lost = run.lost_brokers if run.lost_brokers is not None else parse_lost(old.get("lostBrokers") or [])
    return {
        "lostBrokers": lost,
        "phase": phase,
        "readyBrokers": ready,
        "brokers": brokers,
        "bootstrapServers": names.bootstrap_servers(run.spec, cluster_domain=domain),
        "zookeeperConnect": names.zookeeper_connect(run.spec, cluster_domain=domain),
        "conditions": merge_conditions(old.get("conditions"), conditions),
        "observedGeneration": run.body["metadata"].get("generation"),
    }


def write_status(ctx: ReconcileContext, body: Mapping[str, Any], status: Mapping[str, Any]) -> None:
    meta = body["metadata"]
    ctx.kube.patch_custom_status(CLUSTER_PLURAL, meta["namespace"], meta["name"], status)


def reconcile_cluster(ctx: ReconcileContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Run every step for one KafkaCluster and write its status; returns the status written."""
    spec = ClusterSpec.from_resource(body)
    run = ClusterRun(ctx=ctx, body=body, spec=spec, brokers=spec.brokers)
    for step in STEPS:
        step(run)
    status = cluster_status(run)
    write_status(ctx, body, status)
    return status


def refresh_status(ctx: ReconcileContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Status only (pods turned ready or went away): cheap, no writes to owned objects."""
    spec = ClusterSpec.from_resource(body)
    run = ClusterRun(ctx=ctx, body=body, spec=spec, brokers=spec.brokers)
    previous = [c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") != READY]
    run.conditions = [
        Condition(c["type"], c["status"] == "True", c.get("reason", ""), c.get("message", "")) for c in previous
    ]
    rolling = next((c for c in run.conditions if c.type == ROLLING and c.status), None)
    run.rolling = rolling.message if rolling else None
    status = cluster_status(run)
    write_status(ctx, body, status)
    return status


def _on_latest(
    ctx: ReconcileContext, namespace: str, name: str, step: Callable[[ReconcileContext, Mapping[str, Any]], R]
) -> R | None:
    body = ctx.kube.get_custom(CLUSTER_PLURAL, namespace, name)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return None  # gone, or going: its owned objects are garbage-collected with it
    return step(ctx, body)


async def exclusively(
    ctx: ReconcileContext, namespace: str, name: str, step: Callable[[ReconcileContext, Mapping[str, Any]], R]
) -> R | None:
    """Run ``step`` (``reconcile_cluster`` or ``refresh_status``) on the KafkaCluster as stored now, holding
    the cluster's lock, in a worker thread (the steps block on the API server and ZooKeeper). None when the
    cluster is gone or being deleted."""
    async with ctx.locks.lock(namespace, name):
        return await asyncio.to_thread(_on_latest, ctx, namespace, name, step)
