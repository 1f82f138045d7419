"""KafkaTopic reconcile: make the topic in the brokers match the spec, and say so in the status.

Steps: find the cluster → validate (replication factor ≤ brokers; refused → nothing is touched) → observe
the topic → plan (``model.topic.plan_topic``) → create / grow partitions / alter configs / reassign replicas
→ observe again → status. Deletion (behind kopf's finalizer) deletes the topic in the brokers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaException

from .. import CLUSTER_PLURAL, TOPIC_PLURAL
from ..model import names
from ..model.conditions import READY, Condition, merge_conditions
from ..model.spec import ClusterSpec, TopicSpec
from ..model.topic import ObservedTopic, plan_topic, validate
from .access import AccessNotReady, admin_connection
from .context import ReconcileContext
from .zookeeper import ZooKeeperUnavailable


class TopicNotReady(Exception):
    """The topic cannot be reconciled yet (cluster missing, brokers unreachable, reassignment running)."""


def _cluster(ctx: ReconcileContext, spec: TopicSpec) -> dict[str, Any] | None:
    return ctx.kube.get_custom(CLUSTER_PLURAL, spec.namespace, spec.cluster)


def _write_status(
    ctx: ReconcileContext,
    body: Mapping[str, Any],
    *,
    phase: str,
    condition: Condition,
    observed: ObservedTopic | None = None,
    spec: TopicSpec | None = None,
) -> dict[str, Any]:
    meta = body["metadata"]
    old = body.get("status") or {}
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": merge_conditions(old.get("conditions"), [condition]),
        "observedGeneration": meta.get("generation"),
    }
    if spec is not None:
        status["topicName"] = spec.topic_name
    if observed is not None:
        status["partitions"] = observed.partition_count
        status["replicationFactor"] = observed.replication_factor
    ctx.kube.patch_custom_status(TOPIC_PLURAL, meta["namespace"], meta["name"], status)
    return status


def _newly_refused(body: Mapping[str, Any], reason: str) -> bool:
    """True when a refusal is news (a new spec, or a different reason): warn once, not at every retry."""
    status = body.get("status") or {}
    ready: Mapping[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == READY), {})
    new_generation = status.get("observedGeneration") != body["metadata"].get("generation")
    return new_generation or ready.get("reason") != reason


def reconcile_topic(ctx: ReconcileContext, body: Mapping[str, Any]) -> dict[str, Any]:
    spec = TopicSpec.from_resource(body)
    cluster_body = _cluster(ctx, spec)
    if cluster_body is None:
        message = f"KafkaCluster {spec.cluster} not found in namespace {spec.namespace}"
        _write_status(ctx, body, phase="Pending", condition=Condition(READY, False, "ClusterNotFound", message))
        raise TopicNotReady(message)
    cluster = ClusterSpec.from_resource(cluster_body)

    refusal = validate(spec, brokers=cluster.brokers)
    if refusal:
        reason, message = refusal
        if _newly_refused(body, reason):
            ctx.event(body, reason=reason, message=message, warning=True)
        return _write_status(ctx, body, phase="Refused", condition=Condition(READY, False, reason, message), spec=spec)

    try:
        admin = ctx.kafka_admin(admin_connection(ctx, cluster))
    except AccessNotReady as exc:
        raise TopicNotReady(str(exc)) from exc
    try:
        observed = admin.describe(spec.topic_name)
        plan = plan_topic(spec, observed, brokers=cluster.brokers, broker_ids=admin.broker_ids())
        if plan.create:
            admin.create(
                spec.topic_name,
                partitions=spec.partitions,
                replication_factor=spec.replication_factor,
                config=spec.config,
            )
            ctx.event(
                body,
                reason="TopicCreated",
                message=f"created topic {spec.topic_name} ({spec.partitions}x{spec.replication_factor})",
            )
        if plan.grow_partitions_to:
            admin.grow_partitions(spec.topic_name, count=plan.grow_partitions_to)
            ctx.event(body, reason="PartitionsAdded", message=f"partitions grown to {plan.grow_partitions_to}")
        if not plan.create and (plan.set_config or plan.delete_config):
            admin.alter_config(spec.topic_name, set_config=plan.set_config, delete=plan.delete_config)
            changed = sorted([*plan.set_config, *plan.delete_config])
            ctx.event(body, reason="ConfigChanged", message=f"topic config changed: {', '.join(changed)}")
        if plan.reassignment:
            _reassign(ctx, body, cluster, spec, plan.reassignment)
        observed = admin.describe(spec.topic_name)
    except KafkaException as exc:
        message = f"Kafka admin request failed: {exc.args[0]}"
        _write_status(ctx, body, phase="Error", condition=Condition(READY, False, "KafkaError", message), spec=spec)
        raise TopicNotReady(message) from exc
    except ZooKeeperUnavailable as exc:
        message = f"cannot write the replica reassignment: {exc}"
        condition = Condition(READY, False, "ZooKeeperUnavailable", message)
        _write_status(ctx, body, phase="Pending", condition=condition, spec=spec)
        raise TopicNotReady(message) from exc

    if plan.refusal:
        reason, message = plan.refusal
        if _newly_refused(body, reason):
            ctx.event(body, reason=reason, message=message, warning=True)
        return _write_status(
            ctx,
            body,
            phase="Refused",
            condition=Condition(READY, False, reason, message),
            observed=observed,
            spec=spec,
        )
    if (
        observed is None
        or observed.replication_factor != spec.replication_factor
        or observed.partition_count != spec.partitions
    ):
        message = "waiting for the brokers to apply the change"
        _write_status(
            ctx,
            body,
            phase="Pending",
            condition=Condition(READY, False, "InProgress", message),
            observed=observed,
            spec=spec,
        )
        raise TopicNotReady(message)
    return _write_status(
        ctx,
        body,
        phase="Ready",
        condition=Condition(READY, True, "Synced", "topic matches spec"),
        observed=observed,
        spec=spec,
    )


def _reassign(
    ctx: ReconcileContext,
    body: Mapping[str, Any],
    cluster: ClusterSpec,
    spec: TopicSpec,
    reassignment: Mapping[int, list[int]],
) -> None:
    connect = names.zookeeper_connect(cluster, cluster_domain=ctx.cluster_domain)
    with ctx.zookeeper.session(connect) as zk:
        written = zk.request_reassignment({(spec.topic_name, p): r for p, r in reassignment.items()})
    if written:
        ctx.event(
            body,
            reason="ReassignmentStarted",
            message=f"replication factor → {spec.replication_factor}: moving {len(reassignment)} partition(s)",
        )


def delete_topic(ctx: ReconcileContext, body: Mapping[str, Any]) -> None:
    spec = TopicSpec.from_resource(body)
    cluster_body = _cluster(ctx, spec)
    if cluster_body is None:
        return  # the cluster, and its topics with it, is gone
    cluster = ClusterSpec.from_resource(cluster_body)
    try:
        connection = admin_connection(ctx, cluster)
    except AccessNotReady as exc:
        raise TopicNotReady(str(exc)) from exc
    ctx.kafka_admin(connection).delete(spec.topic_name)
    ctx.event(body, reason="TopicDeleted", message=f"deleted topic {spec.topic_name}")
