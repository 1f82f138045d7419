"""IncrementalAlterConfigs: set, delete, append to or subtract from topic config overrides.

The operations apply to the overrides stored in ``/config/topics/<t>`` (read there, not from this
broker's cache, which may lag a change made through another broker); the result is validated as a
whole and written back conditionally on the znode's version, with a change notice, so concurrent
changes never overwrite each other. Every broker hosting the topic applies them when its watch fires.
"""

from __future__ import annotations

import functools
from typing import Any

from kafka_broker.config import TOPIC_CONFIGS, ConfigType
from kafka_broker.handlers.configs import ResourceType
from kafka_broker.handlers.context import RequestContext
from kafka_broker.protocol import ApiKey, ErrorCode, KafkaError

API = ApiKey.INCREMENTAL_ALTER_CONFIGS
VERSIONS = (0, 1)

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def apply_operations(current: dict[str, str], operations: list[dict[str, Any]]) -> dict[str, str]:
    updated = dict(current)
    for op in operations:
        name, kind, value = op["name"], op["config_operation"], op.get("value")
        if kind == SET:
            if value is None:
                raise KafkaError(f"{name}: SET needs a value", code=ErrorCode.INVALID_CONFIG)
            updated[name] = value
        elif kind == DELETE:
            updated.pop(name, None)
        elif kind in (APPEND, SUBTRACT):
            row = TOPIC_CONFIGS.get(name)
            if row is not None and row.definition.type != ConfigType.LIST:
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
            raise KafkaError(f"{name}: unknown operation {kind}", code=ErrorCode.INVALID_REQUEST)
    return updated


async def handle(request: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
    services = ctx.services
    responses = []
    for res in request["resources"]:
        rtype, name = res["resource_type"], res["resource_name"]
        result: dict[str, Any] = {"error_code": ErrorCode.NONE, "error_message": None,
                                  "resource_type": rtype, "resource_name": name}
        responses.append(result)
        try:
            if rtype != ResourceType.TOPIC:
                raise KafkaError("only topic configs can be altered; broker configs are static",
                                 code=ErrorCode.INVALID_REQUEST)
            updated = await services.admin.alter_topic_config(
                name, functools.partial(apply_operations, operations=res["configs"]),
                defaults=services.config.topic_defaults, validate_only=request["validate_only"])
            info = services.cache.topics.get(name)
            if info is not None and not request["validate_only"]:
                info.config = updated
        except KafkaError as exc:
            result.update(error_code=exc.code, error_message=exc.message or None)
    return {"throttle_time_ms": 0, "responses": responses}
