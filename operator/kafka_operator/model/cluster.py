"""Every object a KafkaCluster owns, in the order they are applied (config before the pods that read it)."""

from __future__ import annotations

from typing import Any

from .broker import bootstrap_service, broker_pdb, broker_statefulset, config_map, headless_service, template_hash
from .listeners import external_services
from .spec import ClusterSpec
from .zookeeper import (
    zookeeper_client_service,
    zookeeper_headless_service,
    zookeeper_pdb,
    zookeeper_statefulset,
)


def zookeeper_objects(spec: ClusterSpec, *, cluster_domain: str) -> list[dict[str, Any]]:
    if not spec.zookeeper.managed:
        return []
    return [
        zookeeper_headless_service(spec),
        zookeeper_client_service(spec),
        zookeeper_statefulset(spec, cluster_domain=cluster_domain),
        zookeeper_pdb(spec),
    ]


def broker_objects(spec: ClusterSpec, *, cluster_domain: str) -> list[dict[str, Any]]:
    """The broker side as first created: before Kubernetes allocated nodePorts, before any certificate."""
    configuration = config_map(spec, cluster_domain=cluster_domain)
    return [
        configuration,
        headless_service(spec),
        bootstrap_service(spec),
        *external_services(spec),
        broker_statefulset(spec, template_hash=template_hash(configuration["data"])),
        broker_pdb(spec),
    ]


def owned_objects(spec: ClusterSpec, *, cluster_domain: str) -> list[dict[str, Any]]:
    return zookeeper_objects(spec, cluster_domain=cluster_domain) + broker_objects(spec, cluster_domain=cluster_domain)
