"""What Kafka holds for a user, read back without the operator's code: its ACLs through confluent-kafka's own
DescribeAcls, its quotas from ZooKeeper (``/config/users/<sanitized user>``, beside its SCRAM credentials)."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from kazoo.client import KazooClient

from kafka_broker import metadata
from kafka_operator.model.user import QUOTA_KEYS as SPEC_QUOTA_KEYS

Acl = tuple[str, str, str, str, str, str]
"""(resource type, name, pattern type, host, operation, permission), in confluent-kafka's enum names."""
QUOTA_KEYS = frozenset(SPEC_QUOTA_KEYS.values())
"""Kafka's names of the quotas a KafkaUser sets (the znode also holds the user's SCRAM credentials)."""


def described_scram(client: AdminClient, user: str, *, timeout: float) -> dict[str, int]:
    """DescribeUserScramCredentials: mechanism → iterations; {} for a user without any. ``client`` must stay alive
    until its futures are done."""
    futures = client.describe_user_scram_credentials([user], request_timeout=timeout)
    assert isinstance(futures, dict)  # one future per user named
    try:
        description = futures[user].result(timeout)
    except KafkaException as exc:
        if exc.args[0].name() == "RESOURCE_NOT_FOUND":
            return {}
        raise
    return {info.mechanism.name: info.iterations for info in description.scram_credential_infos}


def described_acls(client: AdminClient, principal: str, *, timeout: float) -> set[Acl]:
    anything: Any = None  # a filter's "any name", "any host"
    by_principal = AclBindingFilter(ResourceType.ANY, anything, ResourcePatternType.ANY, principal, anything,
                                    AclOperation.ANY, AclPermissionType.ANY)
    found = client.describe_acls(by_principal, request_timeout=timeout).result(timeout)
    return {(b.restype.name, b.name, b.resource_pattern_type.name, b.host, b.operation.name, b.permission_type.name)
            for b in found}


def stored_quotas(zookeeper_connect: str, user: str) -> dict[str, str]:
    """Byte rates as longs, the request percentage as a double, as Kafka stores them."""
    client = KazooClient(hosts=zookeeper_connect)
    client.start(timeout=60)
    try:
        path = metadata.config_entity_znode(metadata.quota_entity_path(metadata.sanitize_entity_name(user), None))
        if not client.exists(path):
            return {}
        data, _ = client.get(path)
        return {k: v for k, v in json.loads(data)["config"].items() if k in QUOTA_KEYS}
    finally:
        client.stop()
        client.close()
