"""Reconcile step: move the replicas of brokers lost for longer than the grace period (``model.rebalance``).

Runs only when brokers can be reached at all (some broker pod is ready, or ``spec.bootstrapOverride`` says
where they are); ZooKeeper being unreachable keeps the previous lost-broker list and changes nothing.
"""

from __future__ import annotations

from ..model import names
from ..model.rebalance import lost_brokers, lost_since, overdue, parse_lost
from .drain import drain_plan
from .run import ClusterRun
from .zookeeper import ZooKeeperUnavailable


def rebalance_lost_brokers(run: ClusterRun, *, any_ready: bool) -> None:
    rebalance = run.spec.rebalance
    if not rebalance.on_node_loss or not (any_ready or run.spec.bootstrap_override):
        return
    previous = parse_lost(run.status.get("lostBrokers") or [])
    now = run.ctx.now()
    connect = names.zookeeper_connect(run.spec, cluster_domain=run.ctx.cluster_domain)
    try:
        with run.ctx.zookeeper.session(connect, timeout=3) as zk:
            assignments = zk.topic_assignments()
            registered = zk.registered_brokers()
            if not registered:
                return  # the whole cluster is down: nowhere to move replicas to
            run.lost_brokers = lost_since(previous, lost_brokers(assignments, registered), now=now)
            gone = overdue(run.lost_brokers, grace_seconds=rebalance.grace_period_seconds, now=now)
            if not gone or zk.reassignment_in_progress():
                return
            plan = drain_plan(assignments, keep=registered, leaving=gone)
            stuck = sorted(
                f"{topic}-{partition}"
                for topic, parts in assignments.items()
                for partition, replicas in parts.items()
                if any(b in gone for b in plan.get((topic, partition), replicas))
            )
            if stuck:
                run.ctx.event(
                    run.body,
                    reason="BrokerLostNoReplacement",
                    message=f"broker(s) {gone} gone for more than {rebalance.grace_period_seconds}s, but no "
                    f"registered broker can take their place in {len(stuck)} partition(s) (first: {stuck[0]}): "
                    "they stay under-replicated until the broker returns or the cluster grows",
                    warning=True,
                )
            if plan and zk.request_reassignment(plan):
                run.ctx.event(
                    run.body,
                    reason="BrokerLost",
                    message=f"broker(s) {gone} gone for more than {rebalance.grace_period_seconds}s: "
                    f"moving {len(plan)} partition(s) to brokers {registered}",
                    warning=True,
                )
    except ZooKeeperUnavailable:
        return
