"""Config entries as the config APIs report them: value, source, synonyms, type, documentation — as Kafka's
``ConfigHelper`` builds them.

Everything is read from the config tables (:data:`~kafka_broker.config.TOPIC_CONFIGS`,
:data:`~kafka_broker.config.BROKER_CONFIGS`) and the broker's config levels
(:class:`~kafka_broker.cluster.dynamic_config.DynamicBrokerConfig`: per-broker dynamic, cluster-default
dynamic, server.properties, table default).

A topic config's value is the topic's override (TOPIC_CONFIG), else the broker default its broker synonyms
make across the levels (a scaled synonym such as ``log.retention.hours`` converted). Its synonyms are the
override, then the chain of its main broker synonym (:func:`kafka_broker.config.synonym_chain`); the source
is the first synonym's, DEFAULT_CONFIG when there is none.

A broker key (describing this broker's id) has the effective value of that very key (null when unset and
without default: ``log.retention.ms`` next to ``log.retention.hours=168``), its synonym chain, and is
read-only unless dynamic; the replication throttles, outside Kafka's ``KafkaConfig``, only where set
(:data:`~kafka_broker.config.UNLISTED_UNLESS_SET`). Describing the empty name (the cluster default) lists only
the keys set in ``/config/brokers/<default>``. A key kopfka does not know (a custom config) is reported as Kafka reports
it: sensitive, without value, type UNKNOWN; a PASSWORD key is sensitive too (no value, in its synonyms neither).

Authorization (:func:`authorization_error`, Kafka's ``ConfigHelper`` and ``KafkaApis``): describing needs
DESCRIBE_CONFIGS, altering ALTER_CONFIGS — on the topic for a topic (else TOPIC_AUTHORIZATION_FAILED), on the
cluster for a broker or a broker's loggers (else CLUSTER_AUTHORIZATION_FAILED).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Any

from kafka_broker.cluster.dynamic_config import DynamicBrokerConfig, DynamicConfigError
from kafka_broker.config import (
    BROKER_CONFIGS,
    DYNAMIC_CONFIGS,
    TOPIC_CONFIGS,
    UNLISTED_UNLESS_SET,
    ConfigError,
    ConfigSource,
    ConfigType,
    effective_value,
    synonym_chain,
)
from kafka_broker.handlers.authorization import authorize, cluster_authorized
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ErrorCode, KafkaError
from kafka_broker.security.acl import AclOperation
from kafka_broker.security.acl import ResourceType as AclResourceType

__all__ = [
    "ConfigSource",
    "ResourceType",
    "alter_broker_configs",
    "authorization_error",
    "broker_config_entries",
    "broker_id_of",
    "topic_config_entries",
    "unsupported_resource",
]


class ResourceType(IntEnum):
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8


Chain = list[tuple[str, str | None, ConfigSource]]


def authorization_error(ctx: RequestContext, operation: AclOperation, rtype: int, name: str) -> ErrorCode | None:
    """The error of a config resource the principal may not do ``operation`` on (module docstring), or None."""
    if rtype == ResourceType.TOPIC:
        if not authorize(ctx, operation, AclResourceType.TOPIC, name):
            return ErrorCode.TOPIC_AUTHORIZATION_FAILED
    elif rtype in (ResourceType.BROKER, ResourceType.BROKER_LOGGER) and not cluster_authorized(ctx, operation):
        return ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    return None


def broker_id_of(name: str) -> int | None:
    """The broker a BROKER resource names: None for ``""`` (the cluster default); INVALID_REQUEST (Kafka's
    message) for a name that is not a number."""
    if not name:
        return None
    try:
        return int(name)
    except ValueError:
        raise KafkaError(f"Broker id must be an integer, but it is: {name}", code=ErrorCode.INVALID_REQUEST) \
            from None


def _entry(name: str, value: str | None, source: ConfigSource, chain: Chain, *, config_type: ConfigType,
           doc: str | None, synonyms: bool, documentation: bool, read_only: bool,
           sensitive: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "value": None if sensitive else value,
        "read_only": read_only,
        "is_default": source == ConfigSource.DEFAULT_CONFIG,  # v0's word for the source
        "config_source": source,
        "is_sensitive": sensitive,
        "synonyms": [{"name": n, "value": None if sensitive else v, "source": s} for n, v, s in chain]
        if synonyms else [],
        "config_type": config_type,
        "documentation": doc if documentation else None,
    }


def topic_config_entries(
    dynamic: DynamicBrokerConfig, overrides: dict[str, str], *, keys: list[str] | None, synonyms: bool,
    documentation: bool = False,
) -> list[dict[str, Any]]:
    """Every topic config (or those named in ``keys``) with its effective value and where it comes from."""
    props = dynamic.props()
    entries = []
    for name, row in sorted(TOPIC_CONFIGS.items()):
        if keys and name not in keys:
            continue
        chain: Chain = []
        value: str | None
        if name in overrides:
            value = overrides[name]
            chain.append((name, value, ConfigSource.TOPIC_CONFIG))
        else:
            value = effective_value(name, props)[0]
        if row.synonyms:
            chain.extend(synonym_chain(row.synonyms[0].name, dynamic.levels))
        source = chain[0][2] if chain else ConfigSource.DEFAULT_CONFIG
        definition = row.definition
        entries.append(_entry(name, value, source, chain, config_type=definition.type, doc=definition.doc,
                              synonyms=synonyms, documentation=documentation, read_only=False))
    return entries


def _typed(name: str, raw: str | None) -> str | None:
    """``raw`` as Kafka prints the parsed value (``a, b`` → ``a,b``); as given if it does not parse."""
    definition = BROKER_CONFIGS.get(name)
    if definition is None or raw is None:
        return raw
    try:
        return definition.format(definition.parse(raw))
    except ConfigError:
        return raw


def broker_config_entries(
    dynamic: DynamicBrokerConfig, *, cluster_default: bool = False, keys: list[str] | None,
    synonyms: bool = False, documentation: bool = False,
) -> list[dict[str, Any]]:
    """This broker's keys (every one kopfka knows), or with ``cluster_default`` the keys set as the cluster
    default; only those named in ``keys`` if given."""
    props = dynamic.props()
    names = sorted(dynamic.cluster_default if cluster_default else BROKER_CONFIGS)
    entries = []
    for name in names:
        if (keys and name not in keys) or (name in UNLISTED_UNLESS_SET and name not in props):
            continue
        chain = synonym_chain(name, dynamic.levels)
        definition = BROKER_CONFIGS.get(name)
        if cluster_default:
            chain = [link for link in chain if link[2] == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]
            value: str | None = dynamic.cluster_default[name]
        else:
            value = props.get(name, definition.default if definition is not None else None)
        source = chain[0][2] if chain else ConfigSource.DEFAULT_CONFIG
        entries.append(_entry(
            name, _typed(name, value), source, chain,
            config_type=definition.type if definition is not None else ConfigType.UNKNOWN,
            doc=definition.doc if definition is not None else None, synonyms=synonyms,
            documentation=documentation, read_only=name not in DYNAMIC_CONFIGS,
            sensitive=definition is None or definition.type == ConfigType.PASSWORD))
    return entries


async def alter_broker_configs(dynamic: DynamicBrokerConfig, name: str,
                               change: Callable[[dict[str, str]], dict[str, str]], *, validate_only: bool) -> None:
    """Change the dynamic configs of the broker ``name`` names (``""``: the cluster default) in ZooKeeper. Any
    broker may change any broker's: it writes ZooKeeper, the named broker applies the change when its watch
    fires. Refusals are INVALID_REQUEST with Kafka's message, as Kafka's ``ConfigAdminManager`` answers."""
    try:
        await dynamic.alter(broker_id_of(name), change, validate_only=validate_only)
    except DynamicConfigError as exc:
        code = ErrorCode.INVALID_CONFIG if exc.invalid_config else ErrorCode.INVALID_REQUEST
        raise KafkaError(str(exc), code=code) from None


Change = Callable[[dict[str, str]], dict[str, str]]
"""A resource's stored configs → its new ones (raises KafkaError to refuse)."""


async def alter_resources(request: dict[str, Any], ctx: RequestContext,
                          change_of: Callable[[dict[str, Any], int], Change]) -> dict[str, Any]:
    """The answer of AlterConfigs and IncrementalAlterConfigs: each resource of ``request`` changed by
    ``change_of(resource, resource type)``. A topic's overrides are changed in ``/config/topics/<t>``
    (:meth:`~kafka_broker.cluster.topic_admin.TopicAdmin.alter_topic_config`, validated as a whole, with a change
    notice) and this broker's cache updated at once; a broker's dynamic configs as :func:`alter_broker_configs`
    says. ``validate_only`` checks without writing. Errors are per resource; a resource the principal may not
    ALTER_CONFIGS answers its :func:`authorization_error` (without a message, as Kafka's)."""
    services = ctx.services
    validate_only = request["validate_only"]
    responses = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None,
                                  "resource_type": rtype, "resource_name": name}
        responses.append(result)
        refused = authorization_error(ctx, AclOperation.ALTER_CONFIGS, rtype, name)
        if refused is not None:
            result["error_code"] = refused
            continue
        try:
            if rtype == ResourceType.TOPIC:
                if not name:
                    raise KafkaError("Default topic resources are not allowed.", code=ErrorCode.INVALID_REQUEST)
                updated = await services.admin.alter_topic_config(
                    name, change_of(res, rtype), defaults=services.config.topic_defaults, validate_only=validate_only)
                info = services.cache.topics.get(name)
                if info is not None and not validate_only:
                    info.config = updated
            elif rtype == ResourceType.BROKER:
                await alter_broker_configs(services.dynamic, name, change_of(res, rtype), validate_only=validate_only)
            else:
                raise unsupported_resource(rtype)
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)
    return {"throttle_time_ms": 0, "responses": responses}


def unsupported_resource(rtype: int) -> KafkaError:
    """Kafka's answer to altering configs of a resource type other than TOPIC and BROKER."""
    try:
        kind = ResourceType(rtype).name
    except ValueError:
        kind = str(rtype)
    return KafkaError(f"AlterConfigs is only supported for topics and brokers, but resource type is {kind}",
                      code=ErrorCode.INVALID_REQUEST)
