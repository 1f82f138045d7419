"""IncrementalAlterConfigs: set, delete, append to or subtract from topic config overrides and dynamic broker
configs.

Topic: the operations apply to the overrides stored in ``/config/topics/<t>`` (read there, not from this
broker's cache, which may lag a change made through another broker); the result is validated as a whole and
written back conditionally on the znode's version, with a change notice, so concurrent changes never
overwrite each other. Every broker hosting the topic applies them when its watch fires.

Broker (name ``""``: the cluster default, else a broker id): the same on ``/config/brokers/<default>`` or
``/config/brokers/<id>``, validated with Kafka's dynamic-config rules
(:meth:`kafka_broker.cluster.dynamic_config.DynamicBrokerConfig.alter`).

APPEND and SUBTRACT are for LIST configs only, and for known names, as in Kafka's
``prepareIncrementalConfigs`` (INVALID_CONFIG otherwise).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from kafka_broker.config import BROKER_CONFIGS, TOPIC_CONFIGS, ConfigDef, ConfigType
from kafka_broker.handlers.configs import Change, ResourceType, alter_resources
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.INCREMENTAL_ALTER_CONFIGS
VERSIONS = (0, 1)

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3

_TOPIC_DEFS = {name: row.definition for name, row in TOPIC_CONFIGS.items()}


def apply_operations(current: dict[str, str], operations: list[dict[str, Any]], *,
                     table: Mapping[str, ConfigDef] = _TOPIC_DEFS) -> dict[str, str]:
    """``current`` changed by ``operations`` (their names looked up in ``table`` for APPEND/SUBTRACT)."""
    names = [op["name"] for op in operations]
    if len(set(names)) != len(names):
        raise KafkaError("Error due to duplicate config keys", code=ErrorCode.INVALID_REQUEST)
    nulls = [op["name"] for op in operations if op["config_operation"] != DELETE and op.get("value") is None]
    if nulls:
        raise KafkaError(f"Null value not supported for : {', '.join(nulls)}", code=ErrorCode.INVALID_REQUEST)
    updated = dict(current)
    for op in operations:
        name, kind, value = op["name"], op["config_operation"], op.get("value")
        if kind == SET:
            updated[name] = str(value)
        elif kind == DELETE:
            updated.pop(name, None)
        elif kind in (APPEND, SUBTRACT):
            definition = table.get(name)
            if definition is None:
                raise KafkaError(f"Unknown config name: {name}", code=ErrorCode.INVALID_CONFIG)
            if definition.type != ConfigType.LIST:
                verb = "append" if kind == APPEND else "subtract"
                raise KafkaError(f"Config value {verb} is not allowed for config key: {name}",
                                 code=ErrorCode.INVALID_CONFIG)
            items = [v for v in updated.get(name, "").split(",") if v]
            values = [v for v in (value or "").split(",") if v]
            if kind == APPEND:
                items += [v for v in values if v not in items]
            else:
                items = [v for v in items if v not in values]
            updated[name] = ",".join(items)
        else:
            raise KafkaError(f"Unknown operations type {kind}", code=ErrorCode.INVALID_REQUEST)
    return updated


def _operations(resource: dict[str, Any], rtype: int) -> Change:
    """The change that applies a resource's operations (broker keys looked up in the broker table)."""
    table = BROKER_CONFIGS if rtype == ResourceType.BROKER else _TOPIC_DEFS
    return functools.partial(apply_operations, operations=resource["configs"], table=table)


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    return await alter_resources(request, ctx, _operations)
