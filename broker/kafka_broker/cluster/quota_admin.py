"""DescribeClientQuotas and AlterClientQuotas against ZooKeeper, with Kafka's semantics (``ZkAdminManager``).

**Entities** are ``user``, ``client-id`` or both; a name None is the default entity (``<default>`` in
ZooKeeper). Every znode is read and written in Kafka's layout (:mod:`kafka_broker.metadata`).

**Describe** takes filter components, at most one per entity type, each matching an exact name
(``EXACT``), the default entity (``DEFAULT``) or any name (``ANY``). An entity matches when each component
matches its part of the entity, and a part without a component is allowed unless the filter is ``strict``.
Only the znodes a filter can match are read (an exact user with no client part reads one znode). Entities
whose znode holds no quota key (only SCRAM credentials, say) are not listed.

**Alter** applies each entry's operations to what the entity's znode holds: a removal drops the key (any
key), a set must name a quota key — ``producer_byte_rate`` and ``consumer_byte_rate`` take whole numbers,
``request_percentage`` and ``controller_mutation_rate`` any number — or the entry fails with
INVALID_REQUEST and Kafka's message. Other keys of the znode (a user's SCRAM credentials) are kept. The
write is conditional on the znode's version (tried again if another writer came first) and followed by a
change notice under ``/config/changes`` (:mod:`kafka_broker.cluster.entity_config`). With ``validate_only``
nothing is written. IP entities (``connection_creation_rate``) are refused: kopfka has no connection-rate quotas.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kafka_broker import metadata as md
from kafka_broker.cluster.client_quotas import (
    CONSUMER_BYTE_RATE,
    CONTROLLER_MUTATION_RATE,
    PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE,
)
from kafka_broker.cluster.entity_config import entity_names, read_entity_config, update_entity_config
from kafka_broker.cluster.zk_store import ZkClient
from kafka_broker.protocol import ErrorCode, KafkaError

USER = "user"
CLIENT_ID = "client-id"
IP = "ip"

MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_ANY = 2

QUOTA_KEYS: dict[str, str] = {
    PRODUCER_BYTE_RATE: "LONG",
    CONSUMER_BYTE_RATE: "LONG",
    REQUEST_PERCENTAGE: "DOUBLE",
    CONTROLLER_MUTATION_RATE: "DOUBLE",
}
"""The quota keys of users and client ids, with their Kafka config type."""

_EPSILON = 1e-6

Name = str | None
"""An entity name as clients give it; None is the default entity."""
_ANY: Any = object()
"""A filter component matching any name (``MATCH_ANY``)."""


@dataclass(frozen=True, slots=True)
class FilterComponent:
    entity_type: str
    match: Any
    """The name to match, None for the default entity, :data:`_ANY` for any specified name."""


def filter_component(entity_type: str, match_type: int, match: str | None) -> FilterComponent:
    """A component of a DescribeClientQuotas filter, as Kafka reads it off the wire."""
    if match_type == MATCH_EXACT:
        if match is None:
            raise KafkaError("Unexpected null match for exact match type", code=ErrorCode.INVALID_REQUEST)
        return FilterComponent(entity_type, match)
    if match_type == MATCH_DEFAULT:
        return FilterComponent(entity_type, None)
    if match_type == MATCH_ANY:
        return FilterComponent(entity_type, _ANY)
    raise KafkaError(f"Unexpected match type: {match_type}", code=ErrorCode.INVALID_REQUEST)


def java_double(value: float) -> str:
    """``value`` as Java's ``Double.toString`` writes it (how Kafka stores a DOUBLE quota): plain decimals from
    10^-3 to 10^7, else ``d.dddE±n``; always the shortest digits that read back as the value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{len(text) - 1 + exponent}"


class QuotaAdmin:
    """Reads and writes quota entities in ZooKeeper (blocking calls run in a worker thread)."""

    def __init__(self, zk: ZkClient) -> None:
        self.zk = zk

    # --- describe --------------------------------------------------------------------------------

    async def describe(self, components: Sequence[FilterComponent], *, strict: bool) -> list[tuple[dict[str, Name],
                                                                                              dict[str, float]]]:
        """The entities matching the filter and their quota values; raises :class:`KafkaError` for a bad filter."""
        by_type: dict[str, FilterComponent] = {}
        for component in components:
            entity_type = component.entity_type
            if entity_type in (USER, CLIENT_ID, IP):
                if entity_type in by_type:
                    label = {USER: "user", CLIENT_ID: "client", IP: "ip"}[entity_type]
                    raise KafkaError(f"Duplicate {label} filter component entity type", code=ErrorCode.INVALID_REQUEST)
                by_type[entity_type] = component
            elif entity_type == "":
                raise KafkaError("Unexpected empty filter component entity type", code=ErrorCode.INVALID_REQUEST)
            else:
                raise KafkaError(f"Custom entity type '{entity_type}' not supported",
                                 code=ErrorCode.UNSUPPORTED_VERSION)
        user_c, client_c = by_type.get(USER), by_type.get(CLIENT_ID)
        if (user_c or client_c) and IP in by_type:
            raise KafkaError("Invalid entity filter component combination, IP filter component should not be used "
                             "with user or clientId filter component.", code=ErrorCode.INVALID_REQUEST)
        if IP in by_type:
            return []  # kopfka keeps no IP quotas
        return await asyncio.to_thread(self._describe_sync, user_c, client_c, strict)

    def _describe_sync(self, user_c: FilterComponent | None, client_c: FilterComponent | None,
                       strict: bool) -> list[tuple[dict[str, Name], dict[str, float]]]:
        exact_user = user_c is not None and user_c.match is not _ANY
        exact_client = client_c is not None and client_c.match is not _ANY
        exclude_user = strict and user_c is None
        exclude_client = strict and client_c is None
        found: dict[tuple[str | None, str | None], dict[str, str]] = {}  # sanitized (user, client) → config
        if exact_user and exclude_client:
            assert user_c is not None
            user = md.sanitize_entity_name(user_c.match)
            found[(user, None)] = self._read(md.quota_entity_path(user, None))
        elif not exclude_user and not exact_client:
            for user in self._children(md.CONFIG_USERS_PATH):
                found[(user, None)] = self._read(md.quota_entity_path(user, None))
        if exclude_user and exact_client:
            assert client_c is not None
            client = md.sanitize_entity_name(client_c.match)
            found[(None, client)] = self._read(md.quota_entity_path(None, client))
        elif not exact_user and not exclude_client:
            for client in self._children(md.CONFIG_CLIENTS_PATH):
                found[(None, client)] = self._read(md.quota_entity_path(None, client))
        if exact_user and exact_client:
            assert user_c is not None and client_c is not None
            user, client = md.sanitize_entity_name(user_c.match), md.sanitize_entity_name(client_c.match)
            found[(user, client)] = self._read(md.quota_entity_path(user, client))
        elif not exclude_user and not exclude_client:
            for user in self._children(md.CONFIG_USERS_PATH):
                for client in self._children(md.user_clients_path(user)):
                    found[(user, client)] = self._read(md.quota_entity_path(user, client))
        results = []
        for (user_path, client_path), config in found.items():
            quotas = {key: value for key, value in config.items() if key in QUOTA_KEYS}
            user_name = md.desanitize_entity_name(user_path) if user_path is not None else _ABSENT
            client_name = md.desanitize_entity_name(client_path) if client_path is not None else _ABSENT
            if not quotas or not _matches(user_c, user_name, strict) or not _matches(client_c, client_name, strict):
                continue
            entity: dict[str, Name] = {}
            if user_path is not None:
                entity[USER] = user_name
            if client_path is not None:
                entity[CLIENT_ID] = client_name
            try:
                values = {key: float(value) for key, value in quotas.items()}
            except ValueError as exc:
                raise KafkaError(f"Unexpected client quota configuration value: {exc}",
                                 code=ErrorCode.UNKNOWN_SERVER_ERROR) from None
            results.append((entity, values))
        return results

    def _children(self, path: str) -> list[str]:
        return entity_names(self.zk, path)

    def _read(self, entity_path: str) -> dict[str, str]:
        return read_entity_config(self.zk, entity_path)

    # --- alter -----------------------------------------------------------------------------------

    async def alter(self, entity: Mapping[str, Name], ops: Iterable[tuple[str, float | None]], *,
                    validate_only: bool) -> None:
        """Apply ``ops`` (key, value; None removes the key) to the entity; raises :class:`KafkaError`."""
        entity_path = entity_path_of(entity)
        ops = list(ops)
        await asyncio.to_thread(self._alter_sync, entity_path, ops, validate_only)

    def _alter_sync(self, entity_path: str, ops: list[tuple[str, float | None]], validate_only: bool) -> None:
        update_entity_config(self.zk, entity_path, lambda config: apply_ops(config, ops), write=not validate_only)


_ABSENT: Any = object()
"""An entity part that is not there (as opposed to None, the default entity)."""


def _matches(component: FilterComponent | None, name: Any, strict: bool) -> bool:
    if component is None:
        return name is _ABSENT or not strict
    if component.match is _ANY:
        return name is not _ABSENT
    return name is not _ABSENT and name == component.match


def entity_path_of(entity: Mapping[str, Name]) -> str:
    """The entity path (``users/<u>/clients/<c>``…) of an AlterClientQuotas entity; raises INVALID_REQUEST
    with Kafka's message for an entity it cannot have."""
    if not entity:
        raise KafkaError("Invalid empty client quota entity", code=ErrorCode.INVALID_REQUEST)
    for entity_type, name in entity.items():
        if entity_type not in (USER, CLIENT_ID, IP):
            raise KafkaError(f"Unhandled client quota entity type: {entity_type}", code=ErrorCode.INVALID_REQUEST)
        if name is not None and name == "":
            raise KafkaError(f"Empty {entity_type} not supported", code=ErrorCode.INVALID_REQUEST)
    if IP in entity:
        if len(entity) > 1:
            raise KafkaError("Invalid quota entity combination, IP entity should not be used with user/client ID "
                             "entity.", code=ErrorCode.INVALID_REQUEST)
        raise KafkaError("IP quotas (connection_creation_rate) are not supported by kopfka",
                         code=ErrorCode.INVALID_REQUEST)
    user = md.sanitize_entity_name(entity[USER]) if USER in entity else None
    client = md.sanitize_entity_name(entity[CLIENT_ID]) if CLIENT_ID in entity else None
    return md.quota_entity_path(user, client)


def apply_ops(config: dict[str, str], ops: Iterable[tuple[str, float | None]]) -> None:
    """Kafka's ``alterEntityQuotas`` on one znode's config: removals drop any key, sets are validated."""
    for key, value in ops:
        if value is None:
            config.pop(key, None)
            continue
        kind = QUOTA_KEYS.get(key)
        if kind is None:
            raise KafkaError(f"Invalid configuration key {key}", code=ErrorCode.INVALID_REQUEST)
        if kind == "DOUBLE":
            config[key] = java_double(value)
            continue
        whole = int(value + _EPSILON) if abs(value) < 2**63 else None
        if whole is None or abs(whole - value) > _EPSILON:
            raise KafkaError(f"Configuration {key} must be a {kind} value", code=ErrorCode.INVALID_REQUEST)
        config[key] = str(whole)
