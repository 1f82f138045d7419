"""The NetworkPolicies of a KafkaCluster: who may open a connection to its ZooKeeper and broker pods.

Each policy selects one component's pods and lists its ingress rules, one per group of ports; a port no rule
names is closed (``policyTypes: [Ingress]``). Egress is not restricted.

- ZooKeeper (managed ensembles only): the client port from the cluster's brokers and the operator; the peer and
  election ports from the ensemble's own pods.
- Brokers: the ``REPLICATION`` listener (secured clusters) from the brokers and the operator; the HTTP port
  (probes, metrics scraping) from anywhere; each listener's port from its ``networkPolicyPeers`` when given
  (verbatim: an empty list admits everyone, as an empty ``from`` does), else from anywhere. A plain cluster
  replicates and is administered over its first listener, so that listener also admits the brokers and the
  operator.

The operator is admitted as the pods carrying its labels in its namespace (``namespaceSelector`` on
``kubernetes.io/metadata.name`` and ``podSelector`` in one peer: both must match). An operator that runs
outside Kubernetes (no namespace) is no pod a policy can name, so no peer is added for it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from . import names
from .names import BROKER, ZOOKEEPER
from .spec import ClusterSpec

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""The label Kubernetes puts on every namespace, holding its name."""


def _ports(*numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": number} for number in numbers]


def _pods(spec: ClusterSpec, component: str) -> dict[str, Any]:
    """A peer: the cluster's pods of ``component`` (in the policy's own namespace)."""
    return {"podSelector": {"matchLabels": names.selector_labels(spec, component)}}


def operator_peers(*, operator_namespace: str, operator_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """The operator's pods as NetworkPolicy peers: none when the operator runs outside the cluster."""
    if not operator_namespace:
        return []
    return [
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: operator_namespace}},
            "podSelector": {"matchLabels": dict(operator_labels)},
        }
    ]


def _rule(ports: list[dict[str, Any]], peers: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """An ingress rule; ``peers`` None admits every source. Peers are copied: a manifest shares nothing with
    the spec it came from."""
    rule: dict[str, Any] = {"ports": ports}
    if peers is not None:
        rule["from"] = [copy.deepcopy(dict(peer)) for peer in peers]
    return rule


def _policy(spec: ClusterSpec, name: str, component: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": names.metadata(spec, name, component),
        "spec": {
            "podSelector": {"matchLabels": names.selector_labels(spec, component)},
            "policyTypes": ["Ingress"],
            "ingress": rules,
        },
    }


def zookeeper_network_policy(
    spec: ClusterSpec, *, operator_namespace: str, operator_labels: Mapping[str, str]
) -> dict[str, Any] | None:
    """The managed ensemble's policy; None when the cluster uses an external ZooKeeper."""
    if not spec.zookeeper.managed:
        return None
    operator = operator_peers(operator_namespace=operator_namespace, operator_labels=operator_labels)
    rules = [
        _rule(_ports(names.ZK_CLIENT_PORT), [_pods(spec, BROKER), *operator]),
        _rule(_ports(names.ZK_PEER_PORT, names.ZK_ELECTION_PORT), [_pods(spec, ZOOKEEPER)]),
    ]
    return _policy(spec, names.zookeeper_network_policy_name(spec), ZOOKEEPER, rules)


def broker_network_policy(
    spec: ClusterSpec, *, operator_namespace: str, operator_labels: Mapping[str, str]
) -> dict[str, Any]:
    own = [_pods(spec, BROKER), *operator_peers(operator_namespace=operator_namespace, operator_labels=operator_labels)]
    rules = []
    if spec.secured:
        rules.append(_rule(_ports(names.REPLICATION_PORT), own))
    rules.append(_rule(_ports(names.HTTP_PORT), None))
    for index, listener in enumerate(spec.listeners):
        peers = listener.network_policy_peers
        if peers and index == 0 and not spec.secured:  # empty peers admit everyone, as in Kubernetes
            peers = (*peers, *own)
        rules.append(_rule(_ports(listener.port), peers))
    return _policy(spec, names.broker_network_policy_name(spec), BROKER, rules)
