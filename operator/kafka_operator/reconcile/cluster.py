"""KafkaCluster reconcile: a short list of named steps, then the status.

    check_config → check_spec → zookeeper → drain_before_scale_down → services → certificates → config_map
    → network_policies → statefulset → pdb → roll_brokers → rebalance (lost brokers) → status

Services come before the ConfigMap because a NodePort listener advertises the port Kubernetes allocated to
each broker's Service, and before the certificates because a LoadBalancer's address goes into the broker's
certificate. A step that finds the cluster cannot be applied (an invalid spec, certificates not ready) stops the
run: what is running keeps running, and the status says why.

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
from ..model import listeners, names, network_policy
from ..model.conditions import LISTENERS_READY, READY, RECONCILED, ROLLING, Condition, merge_conditions
from ..model.config import ignored_config_keys
from ..model.rebalance import parse_lost
from ..model.spec import ClusterSpec
from . import drain, roll
from .apply import apply, get
from .certificates import CertificatesNotReady, ensure_certificates, load_cluster_ca_cert
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


def check_spec(run: ClusterRun) -> None:
    refusal = listeners.validate(run.spec)
    if refusal:
        run.report(Condition(RECONCILED, False, *refusal), warning=True)
        run.stopped = True


def apply_zookeeper(run: ClusterRun) -> None:
    for manifest in cluster_model.zookeeper_objects(run.spec, cluster_domain=run.ctx.cluster_domain):
        run.record(apply(run.ctx, manifest))


def _sized(run: ClusterRun) -> ClusterSpec:
    """The spec with the broker count the StatefulSet runs now (larger than the spec's while a drain runs)."""
    return dataclasses.replace(run.spec, brokers=run.brokers)


def observe_external_services(run: ClusterRun, services: list[dict[str, Any]]) -> None:
    """Record the nodePorts and load balancer addresses Kubernetes gave the external listeners' Services."""
    by_name = {s["metadata"]["name"]: s for s in services if s}
    spec = _sized(run)
    for lst in spec.listeners:
        if not lst.external:
            continue
        bootstrap = by_name.get(listeners.external_bootstrap_service_name(spec, lst)) or {}
        if port := listeners.service_node_port(bootstrap):
            run.bootstrap_node_ports[lst.name] = port
        if address := listeners.service_ingress(bootstrap):
            run.bootstrap_ingresses[lst.name] = address
        for broker in range(spec.brokers):
            service = by_name.get(listeners.external_broker_service_name(spec, lst, broker)) or {}
            if port := listeners.service_node_port(service):
                run.node_ports[(lst.name, broker)] = port
            if address := listeners.service_ingress(service):
                run.ingresses[(lst.name, broker)] = address


def apply_services(run: ClusterRun) -> None:
    run.record(apply(run.ctx, broker_model.headless_service(run.spec)))
    run.record(apply(run.ctx, broker_model.bootstrap_service(run.spec)))
    external = []
    for manifest in listeners.external_services(_sized(run)):
        applied = apply(run.ctx, manifest)
        run.record(applied)
        external.append(applied.object)
    observe_external_services(run, external)
    remove_stale_services(run, keep={s["metadata"]["name"] for s in external})


def remove_stale_services(run: ClusterRun, *, keep: set[str]) -> None:
    """Delete the broker-side Services no listener or broker needs any more (a listener removed or made
    internal, brokers scaled away). Only Services this cluster owns are considered."""
    keep = keep | {names.headless_service_name(run.spec), names.bootstrap_service_name(run.spec)}
    labels = {**names.selector_labels(run.spec, names.BROKER), names.MANAGED_BY_LABEL: names.MANAGED_BY}
    for service in run.ctx.kube.list_services(run.spec.namespace, labels=labels):
        name = service["metadata"]["name"]
        owners = service["metadata"].get("ownerReferences") or []
        if name in keep or not any(o.get("kind") == "KafkaCluster" and o.get("name") == run.spec.name for o in owners):
            continue
        run.ctx.kube.delete_service(run.spec.namespace, name)
        run.ctx.event(run.body, reason="Deleted", message=f"deleted Service {name}: no listener uses it")


def _node_addresses(run: ClusterRun) -> list[str]:
    if not any(lst.type == "nodeport" for lst in run.spec.listeners):
        return []
    return sorted(
        {a["address"] for node in run.ctx.kube.list_nodes() for a in (node.get("status") or {}).get("addresses") or []}
    )


def apply_certificates(run: ClusterRun) -> None:
    """Issue (or renew) the CAs' and brokers' certificates; their digest goes into the pod template hash."""
    if not run.spec.secured:
        return
    spec, domain = _sized(run), run.ctx.cluster_domain
    nodes = _node_addresses(run)
    sans = {
        broker: listeners.broker_sans(spec, broker, cluster_domain=domain, node_addresses=nodes,
                                      ingresses=run.ingresses)
        for broker in range(spec.brokers)
    }
    try:
        certificates = ensure_certificates(run.ctx, spec, broker_sans=sans)
    except CertificatesNotReady as exc:
        run.report(Condition(RECONCILED, False, exc.reason, str(exc)), warning=True)
        run.stopped = True
        return
    run.ca_certificate = certificates.cluster_ca_cert
    run.certificates_digest = certificates.broker_digest
    if certificates.renewed:
        run.ctx.event(run.body, reason="CertificatesIssued", message=f"issued {', '.join(certificates.renewed)}")


def apply_config_map(run: ClusterRun) -> None:
    manifest = broker_model.config_map(
        _sized(run), cluster_domain=run.ctx.cluster_domain, node_ports=run.node_ports, ingresses=run.ingresses
    )
    run.record(apply(run.ctx, manifest))
    run.template_hash = broker_model.template_hash(manifest["data"], certificates_digest=run.certificates_digest)


def apply_network_policies(run: ClusterRun) -> None:
    namespace, labels = run.ctx.settings.identity.namespace, run.ctx.settings.identity.pod_labels
    policies = [
        network_policy.zookeeper_network_policy(run.spec, operator_namespace=namespace, operator_labels=labels),
        network_policy.broker_network_policy(run.spec, operator_namespace=namespace, operator_labels=labels),
    ]
    for manifest in policies:
        if manifest is not None:
            run.record(apply(run.ctx, manifest))


def apply_statefulset(run: ClusterRun) -> None:
    assert run.template_hash is not None, "apply_config_map runs first"
    manifest = broker_model.broker_statefulset(_sized(run), template_hash=run.template_hash)
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
    check_spec,
    apply_zookeeper,
    drain.drain_before_scale_down,
    apply_services,
    apply_certificates,
    apply_config_map,
    apply_network_policies,
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
    missing = listeners.missing_addresses(run.spec, run.spec.brokers, node_ports=run.node_ports,
                                          ingresses=run.ingresses)
    conditions.append(
        Condition(LISTENERS_READY, False, "AwaitingAddresses", "waiting for " + "; ".join(missing))
        if missing
        else Condition(LISTENERS_READY, True, "Addressed", "every listener has its addresses")
    )
    host_ips = [(p.get("status") or {}).get("hostIP") for p in pods.values()]
    listener_status = listeners.listener_status(
        run.spec,
        cluster_domain=domain,
        node_ports=run.node_ports,
        ingresses=run.ingresses,
        bootstrap_node_ports=run.bootstrap_node_ports,
        bootstrap_ingresses=run.bootstrap_ingresses,
        broker_node_addresses=[ip for ip in host_ips if ip],
        ca_certificate=run.ca_certificate,
    )
    old = run.status
    lost = run.lost_brokers if run.lost_brokers is not None else parse_lost(old.get("lostBrokers") or [])
    return {
        "listeners": listener_status,
        "listenerSummary": " ".join(f"{e['name']}={e['bootstrapServers'] or 'pending'}" for e in listener_status),
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
        if run.stopped:
            break
        step(run)
    status = cluster_status(run)
    write_status(ctx, body, status)
    return status


def refresh_status(ctx: ReconcileContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """Status only (pods turned ready or went away): cheap, no writes to owned objects."""
    spec = ClusterSpec.from_resource(body)
    run = ClusterRun(ctx=ctx, body=body, spec=spec, brokers=spec.brokers)
    recomputed = (READY, LISTENERS_READY)
    previous = [c for c in (body.get("status") or {}).get("conditions") or [] if c.get("type") not in recomputed]
    run.conditions = [
        Condition(c["type"], c["status"] == "True", c.get("reason", ""), c.get("message", "")) for c in previous
    ]
    rolling = next((c for c in run.conditions if c.type == ROLLING and c.status), None)
    run.rolling = rolling.message if rolling else None
    observe_external_services(run, [get(ctx, m) or {} for m in listeners.external_services(spec)])
    if spec.secured:
        try:
            run.ca_certificate = load_cluster_ca_cert(ctx, spec)
        except CertificatesNotReady:
            run.ca_certificate = None
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
